package selector

import (
	"math"
	"strings"
)

// maxConcat bounds the bytes that string concatenation (+) may build during
// one evaluation, so that "s + s + s + ..." over a large property cannot
// exhaust memory. Past it, the concatenation is unknown.
const maxConcat = 1 << 20

// evalState is the per-evaluation scratch state; it lives on the stack of
// Matches.
type evalState struct {
	f      Fields
	conv   bool // ActiveMQ convert_string_expressions
	budget int  // bytes of concatenation left
}

// tri is a condition's value in SQL's three-valued logic.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// not is SQL NOT: unknown stays unknown.
func (t tri) not() tri {
	if t == triUnknown {
		return t
	}
	return t ^ 1
}

// value turns a condition into an operand value: unknown is NULL.
func (t tri) value() value {
	switch t {
	case triTrue:
		return vTrue
	case triFalse:
		return vFalse
	}
	return vNull
}

// truth reads v as a condition. A non-boolean value reads as FALSE, as
// ActiveMQ's boolean cast of a bare property does.
func truth(v value) tri {
	switch v.k {
	case kNull:
		return triUnknown
	case kBool:
		return triOf(v.b)
	}
	return triFalse
}

// cond evaluates n as a condition.
func (st *evalState) cond(n *node) tri {
	switch n.op {
	case opAnd:
		unknown := false
		for _, k := range n.kids {
			switch st.cond(k) {
			case triFalse:
				return triFalse
			case triUnknown:
				unknown = true
			}
		}
		if unknown {
			return triUnknown
		}
		return triTrue
	case opOr:
		unknown := false
		for _, k := range n.kids {
			switch st.cond(k) {
			case triTrue:
				return triTrue
			case triUnknown:
				unknown = true
			}
		}
		if unknown {
			return triUnknown
		}
		return triFalse
	case opNot:
		return st.cond(n.kids[0]).not()
	case opEq, opNe, opLt, opLe, opGt, opGe:
		l := st.eval(n.kids[0])
		if l.k == kNull {
			return triUnknown
		}
		r := st.eval(n.kids[1])
		if r.k == kNull {
			return triUnknown
		}
		return triOf(compareOp(n.op, &l, &r, st.conv))
	case opIsNull:
		return triOf((st.eval(n.kids[0]).k == kNull) != n.not)
	case opLike:
		v := st.eval(n.kids[0])
		switch v.k {
		case kNull:
			return triUnknown
		case kString:
			return triOf(n.like.match(v.s) != n.not)
		}
		return triOf(n.not) // LIKE on a non-string is FALSE, NOT LIKE TRUE
	case opBetween:
		return st.between(n)
	case opIn:
		v := st.eval(n.kids[0])
		if v.k != kString {
			return triUnknown // NULL or not a string: unknown, for IN and NOT IN
		}
		return triOf(n.in.has(v.s) != n.not)
	}
	return truth(st.eval(n))
}

// eval evaluates n as an operand. NULL and SQL UNKNOWN are both vNull.
func (st *evalState) eval(n *node) value {
	switch n.op {
	case opLit:
		return n.val
	case opIdent:
		return fromField(st.f.Field(n.name))
	case opNeg:
		switch v := st.eval(n.kids[0]); v.k {
		case kInt:
			return value{k: kInt, i: -v.i}
		case kFloat:
			return value{k: kFloat, f: -v.f}
		}
		return vNull
	case opAdd, opSub, opMul, opDiv, opMod:
		l := st.eval(n.kids[0])
		if l.k == kNull {
			return vNull
		}
		r := st.eval(n.kids[1])
		if r.k == kNull {
			return vNull
		}
		return st.arith(n.op, &l, &r)
	}
	return st.cond(n).value()
}

// between evaluates x [NOT] BETWEEN lo AND hi as ActiveMQ does: x >= lo AND
// x <= hi, or x < lo OR x > hi for NOT, in three-valued logic.
func (st *evalState) between(n *node) tri {
	x := st.eval(n.kids[0])
	if x.k == kNull {
		return triUnknown
	}
	lo := st.eval(n.kids[1])
	hi := st.eval(n.kids[2])
	a, b := triUnknown, triUnknown
	if n.not {
		if lo.k != kNull {
			a = triOf(compareOp(opLt, &x, &lo, st.conv))
		}
		if hi.k != kNull {
			b = triOf(compareOp(opGt, &x, &hi, st.conv))
		}
		if a == triTrue || b == triTrue {
			return triTrue
		}
		if a == triUnknown || b == triUnknown {
			return triUnknown
		}
		return triFalse
	}
	if lo.k != kNull {
		a = triOf(compareOp(opGe, &x, &lo, st.conv))
	}
	if hi.k != kNull {
		b = triOf(compareOp(opLe, &x, &hi, st.conv))
	}
	if a == triFalse || b == triFalse {
		return triFalse
	}
	if a == triUnknown || b == triUnknown {
		return triUnknown
	}
	return triTrue
}

// compareOp applies a comparison to two non-null values. Values of unlike
// types compare FALSE (so <> is TRUE, being NOT =), as in ActiveMQ; see
// compare for what is alike.
func compareOp(o op, l, r *value, conv bool) bool {
	c, ok := compare(l, r, conv)
	if !ok {
		return o == opNe
	}
	switch o {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	}
	return false
}

// compare orders two non-null values. ok is false when they cannot be
// compared: unlike types, or a NaN. Exact and approximate numbers compare
// after promotion to float64 (int64 with int64 exactly); strings compare by
// code point, booleans FALSE before TRUE. With conv (ActiveMQ's
// convert_string_expressions, set for STOMP) a string compared with a
// number or boolean is first parsed as that type; a string that does not
// parse compares FALSE.
func compare(l, r *value, conv bool) (int, bool) {
	if l.k != r.k {
		switch {
		case l.numeric() && r.numeric():
			return compareFloat(l.float(), r.float())
		case !conv:
			return 0, false
		case l.k == kString:
			lc, ok := convertString(l.s, r.k)
			if !ok {
				return 0, false
			}
			return compare(&lc, r, false)
		case r.k == kString:
			rc, ok := convertString(r.s, l.k)
			if !ok {
				return 0, false
			}
			return compare(l, &rc, false)
		}
		return 0, false
	}
	switch l.k {
	case kInt:
		switch {
		case l.i < r.i:
			return -1, true
		case l.i > r.i:
			return 1, true
		}
		return 0, true
	case kFloat:
		return compareFloat(l.f, r.f)
	case kString:
		return strings.Compare(l.s, r.s), true
	case kBool:
		switch {
		case l.b == r.b:
			return 0, true
		case r.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func compareFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	case a == b:
		return 0, true
	}
	return 0, false // NaN
}

// convertString parses s as a value of kind k for convert_string_expressions.
func convertString(s string, k kind) (value, bool) {
	switch k {
	case kInt:
		i, ok := parseJavaLong(s)
		return value{k: kInt, i: i}, ok
	case kFloat:
		f, ok := parseJavaDouble(s)
		return value{k: kFloat, f: f}, ok
	case kBool:
		return boolValue(parseJavaBool(s)), true
	}
	return vNull, false
}

// arith applies + - * / % to two non-null values. Two exact numbers give an
// exact result (+, -, * wrap as Java's long does); otherwise the result is
// a float64. Division and remainder always give a float64, as in ActiveMQ,
// and are unknown for a zero divisor. A string on the left of + is
// concatenated with the right operand's text. Anything else is unknown.
func (st *evalState) arith(o op, l, r *value) value {
	if o == opAdd && l.k == kString {
		rs, ok := javaString(*r)
		if !ok {
			return vNull
		}
		size := len(l.s) + len(rs)
		if size > st.budget {
			return vNull
		}
		st.budget -= size
		return value{k: kString, s: l.s + rs}
	}
	if !l.numeric() || !r.numeric() {
		return vNull
	}
	if l.k == kInt && r.k == kInt {
		switch o {
		case opAdd:
			return value{k: kInt, i: l.i + r.i}
		case opSub:
			return value{k: kInt, i: l.i - r.i}
		case opMul:
			return value{k: kInt, i: l.i * r.i}
		}
	}
	a, b := l.float(), r.float()
	switch o {
	case opAdd:
		return value{k: kFloat, f: a + b}
	case opSub:
		return value{k: kFloat, f: a - b}
	case opMul:
		return value{k: kFloat, f: a * b}
	case opDiv:
		if b == 0 {
			return vNull
		}
		return value{k: kFloat, f: a / b}
	case opMod:
		if b == 0 {
			return vNull
		}
		return value{k: kFloat, f: math.Mod(a, b)}
	}
	return vNull
}
