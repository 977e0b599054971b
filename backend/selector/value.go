package selector

import (
	"math"
	"strconv"
	"strings"
)

// kind is the type of a value during evaluation.
type kind uint8

const (
	kNull   kind = iota // NULL, a missing field, or SQL UNKNOWN
	kBool               // b
	kInt                // i: every exact numeric, widened to int64
	kFloat              // f: every approximate numeric, widened to float64
	kString             // s
	kOther              // a field of a type selectors do not know
)

// value is an evaluated operand. It is passed by value so that evaluation
// allocates nothing.
type value struct {
	k kind
	b bool
	i int64
	f float64
	s string
}

var (
	vNull  = value{}
	vTrue  = value{k: kBool, b: true}
	vFalse = value{k: kBool}
)

func boolValue(b bool) value {
	if b {
		return vTrue
	}
	return vFalse
}

func (v value) numeric() bool { return v.k == kInt || v.k == kFloat }

func (v value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// fromField converts what Fields.Field returned into a value. Every signed
// integer becomes int64, float32 becomes float64, unsigned integers become
// int64 when they fit and float64 otherwise; a type selectors do not know
// compares false with everything, as ActiveMQ does.
func fromField(x any, ok bool) value {
	if !ok {
		return vNull
	}
	switch t := x.(type) {
	case nil:
		return vNull
	case string:
		return value{k: kString, s: t}
	case bool:
		return boolValue(t)
	case int64:
		return value{k: kInt, i: t}
	case int:
		return value{k: kInt, i: int64(t)}
	case int32:
		return value{k: kInt, i: int64(t)}
	case int16:
		return value{k: kInt, i: int64(t)}
	case int8:
		return value{k: kInt, i: int64(t)}
	case uint8:
		return value{k: kInt, i: int64(t)}
	case uint16:
		return value{k: kInt, i: int64(t)}
	case uint32:
		return value{k: kInt, i: int64(t)}
	case uint64:
		if t <= math.MaxInt64 {
			return value{k: kInt, i: int64(t)}
		}
		return value{k: kFloat, f: float64(t)}
	case uint:
		if uint64(t) <= math.MaxInt64 {
			return value{k: kInt, i: int64(t)}
		}
		return value{k: kFloat, f: float64(t)}
	case float64:
		return value{k: kFloat, f: t}
	case float32:
		return value{k: kFloat, f: float64(t)}
	}
	return value{k: kOther}
}

// javaString renders v as Java's String.valueOf would, for ActiveMQ's
// string concatenation with +. ok is false for a value of unknown type.
func javaString(v value) (string, bool) {
	switch v.k {
	case kString:
		return v.s, true
	case kInt:
		return strconv.FormatInt(v.i, 10), true
	case kFloat:
		return javaDouble(v.f), true
	case kBool:
		if v.b {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// javaDouble formats f as Java's Double.toString (shortest digits): plain
// notation with at least one fraction digit for 1e-3 <= |f| < 1e7, else
// "d.dddEn".
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// parseJavaLong parses s as Java's Long.valueOf: an optional sign and
// decimal digits, nothing else (base 10 takes no underscores or prefixes).
func parseJavaLong(s string) (int64, bool) {
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// parseJavaDouble parses the decimal forms Java's Double.valueOf accepts:
// surrounding white space, an optional F or D suffix, NaN and Infinity.
func parseJavaDouble(s string) (float64, bool) {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	switch s {
	case "NaN", "+NaN", "-NaN":
		return math.NaN(), true
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	if n := len(s); n > 1 {
		switch s[n-1] {
		case 'f', 'F', 'd', 'D':
			s = s[:n-1]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	return f, true
}

// parseJavaBool is Java's Boolean.valueOf: true for "true" in any case,
// false for anything else.
func parseJavaBool(s string) bool { return strings.EqualFold(s, "true") && len(s) == 4 }
