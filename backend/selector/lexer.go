package selector

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tFloat
	// keywords (case-insensitive)
	tNot
	tAnd
	tOr
	tBetween
	tLike
	tEscape
	tIn
	tIs
	tTrue
	tFalse
	tNull
	tXPath
	tXQuery
	// punctuation and operators
	tEq     // =
	tNe     // <>
	tLt     // <
	tLe     // <=
	tGt     // >
	tGe     // >=
	tPlus   // +
	tMinus  // -
	tStar   // *
	tSlash  // /
	tPct    // %
	tLParen // (
	tRParen // )
	tComma  // ,
)

// keywords maps the upper-case spelling of each reserved word to its kind.
// JMS 1.1 §3.8.1.1 reserves NULL TRUE FALSE NOT AND OR BETWEEN LIKE IN IS
// ESCAPE; ActiveMQ also reserves XPATH and XQUERY.
var keywords = map[string]tokKind{
	"NOT": tNot, "AND": tAnd, "OR": tOr, "BETWEEN": tBetween, "LIKE": tLike,
	"ESCAPE": tEscape, "IN": tIn, "IS": tIs, "TRUE": tTrue, "FALSE": tFalse,
	"NULL": tNull, "XPATH": tXPath, "XQUERY": tXQuery,
}

// token is one lexical token. text is its source slice.
type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // source text
	str  string // decoded value of a string literal
	i    int64  // value of an integer literal
	f    float64
	// big marks the integer literal 9223372036854775808, legal only right
	// after a unary minus (it is then math.MinInt64).
	big bool
}

// lexer splits a selector into tokens. It never allocates per token except
// for string literals containing doubled quotes.
type lexer struct {
	src string
	off int
}

// next returns the next token, or an error for malformed input.
func (l *lexer) next() (token, *SyntaxError) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	s, start := l.src, l.off
	if start >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[start]
	switch {
	case c == '\'':
		return l.lexString()
	case c >= '0' && c <= '9', c == '.' && start+1 < len(s) && isDigit(s[start+1]):
		return l.lexNumber()
	}
	if k, n := punct(s[start:]); n > 0 {
		l.off += n
		return token{kind: k, pos: start, text: s[start:l.off]}, nil
	}
	r, size := utf8.DecodeRuneInString(s[start:])
	if !isIdentStart(r) {
		return token{}, errAt(s, start, "invalid character %q", string(r))
	}
	end := start + size
	for end < len(s) {
		r, size = utf8.DecodeRuneInString(s[end:])
		if !isIdentPart(r) {
			break
		}
		end += size
	}
	l.off = end
	text := s[start:end]
	if len(text) <= 7 {
		if k, ok := keywords[asciiUpper(text)]; ok {
			return token{kind: k, pos: start, text: text}, nil
		}
	}
	return token{kind: tIdent, pos: start, text: text}, nil
}

// skipSpace skips white space and SQL comments (-- to end of line, /* */),
// which ActiveMQ's grammar also skips.
func (l *lexer) skipSpace() *SyntaxError {
	s := l.src
	for l.off < len(s) {
		switch c := s[l.off]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			l.off++
		case c == '-' && strings.HasPrefix(s[l.off:], "--"):
			i := strings.IndexAny(s[l.off:], "\r\n")
			if i < 0 {
				l.off = len(s)
			} else {
				l.off += i
			}
		case c == '/' && strings.HasPrefix(s[l.off:], "/*"):
			i := strings.Index(s[l.off+2:], "*/")
			if i < 0 {
				return errAt(s, l.off, "unterminated comment")
			}
			l.off += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

// punct recognises an operator or punctuation at the start of s.
func punct(s string) (tokKind, int) {
	switch s[0] {
	case '=':
		return tEq, 1
	case '<':
		if len(s) > 1 {
			switch s[1] {
			case '>':
				return tNe, 2
			case '=':
				return tLe, 2
			}
		}
		return tLt, 1
	case '>':
		if len(s) > 1 && s[1] == '=' {
			return tGe, 2
		}
		return tGt, 1
	case '+':
		return tPlus, 1
	case '-':
		return tMinus, 1
	case '*':
		return tStar, 1
	case '/':
		return tSlash, 1
	case '%':
		return tPct, 1
	case '(':
		return tLParen, 1
	case ')':
		return tRParen, 1
	case ',':
		return tComma, 1
	}
	return 0, 0
}

// lexString reads a single-quoted literal, in which a doubled quote stands
// for one quote.
func (l *lexer) lexString() (token, *SyntaxError) {
	s, start := l.src, l.off
	var b strings.Builder
	escaped := false
	i := start + 1
	for {
		j := strings.IndexByte(s[i:], '\'')
		if j < 0 {
			return token{}, errAt(s, start, "unterminated string literal")
		}
		j += i
		if j+1 < len(s) && s[j+1] == '\'' {
			if !escaped {
				escaped = true
				b.Grow(j - start)
			}
			b.WriteString(s[i : j+1])
			i = j + 2
			continue
		}
		l.off = j + 1
		t := token{kind: tString, pos: start, text: s[start:l.off]}
		if escaped {
			b.WriteString(s[i:j])
			t.str = b.String()
		} else {
			t.str = s[start+1 : j]
		}
		return t, nil
	}
}

// lexNumber reads an exact numeric literal (decimal, 0x hex or 0-led octal,
// with an optional L) or an approximate one (digits with a point or an
// exponent, optional F or D), following Java's literal syntax as ActiveMQ
// and JMS 1.1 §3.8.1.1 do.
func (l *lexer) lexNumber() (token, *SyntaxError) {
	s, start := l.src, l.off
	i := start
	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
		d := i
		for i < len(s) && isHex(s[i]) {
			i++
		}
		digits := s[d:i]
		if i < len(s) && (s[i] == 'l' || s[i] == 'L') {
			i++
		}
		if digits == "" {
			return token{}, errAt(s, start, "malformed number")
		}
		l.off = i
		v, err := strconv.ParseInt(digits, 16, 64)
		if err != nil {
			return token{}, errAt(s, start, "integer literal %s out of range", quoteTok(s[start:i]))
		}
		return token{kind: tInt, pos: start, text: s[start:i], i: v}, nil
	}
	float := false
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == '.' {
		float = true
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j >= len(s) || !isDigit(s[j]) {
			return token{}, errAt(s, start, "malformed number")
		}
		float = true
		for i = j; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	body := s[start:i]
	if i < len(s) {
		switch s[i] {
		case 'f', 'F', 'd', 'D':
			float = true
			i++
		case 'l', 'L':
			if !float {
				i++
			}
		}
	}
	l.off = i
	t := token{pos: start, text: s[start:i]}
	if float {
		f, err := strconv.ParseFloat(body, 64)
		if err != nil && !isRangeErr(err) {
			return token{}, errAt(s, start, "malformed number")
		}
		t.kind, t.f = tFloat, f // out of range: ±Inf or 0, as Java's Double.valueOf
		return t, nil
	}
	t.kind = tInt
	base := 10
	if len(body) > 1 && body[0] == '0' {
		base = 8
		for k := 1; k < len(body); k++ {
			if body[k] > '7' {
				return token{}, errAt(s, start, "malformed octal literal %s", quoteTok(t.text))
			}
		}
	}
	u, err := strconv.ParseUint(body, base, 64)
	switch {
	case err == nil && u <= math.MaxInt64:
		t.i = int64(u)
	case err == nil && u == 1<<63 && base == 10:
		t.big, t.i = true, math.MinInt64
	default:
		return token{}, errAt(s, start, "integer literal %s out of range", quoteTok(t.text))
	}
	return t, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isIdentStart follows Java's Character.isJavaIdentifierStart: letters,
// letter numbers, currency symbols and connector punctuation (_ and $).
func isIdentStart(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || r == '$' || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) ||
		unicode.Is(unicode.Sc, r) || unicode.Is(unicode.Pc, r))
}

// isIdentPart follows Java's Character.isJavaIdentifierPart, less the
// ignorable control characters.
func isIdentPart(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || r == '$' || (r >= '0' && r <= '9') || (r|0x20 >= 'a' && r|0x20 <= 'z')
	}
	return isIdentStart(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}

// asciiUpper upper-cases ASCII letters only, so that no Unicode case folding
// (the Kelvin sign, the long s) can turn an identifier into a keyword.
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' || c >= 0x80 {
			return asciiUpperSlow(s)
		}
	}
	return s
}

func asciiUpperSlow(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
