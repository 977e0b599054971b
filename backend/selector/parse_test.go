package selector

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	deepParens := strings.Repeat("(", maxNesting+1) + "a" + strings.Repeat(")", maxNesting+1)
	deepChain := "a" + strings.Repeat(" + a", MaxDepth) + " = 1"
	deepNot := strings.Repeat("NOT ", maxNesting+1) + "a"
	for _, c := range []struct{ sel, want string }{
		// ActiveMQ SelectorTest.testInvalidSelector
		{"3+5", "selector: expected a condition, not an arithmetic expression at position 1"},
		{"True AND 3+5", "selector: expected a condition, not an arithmetic expression at position 10"},
		{"=TEST 'test'", `selector: unexpected "=" at position 1`},

		{"a = 1 AND AND b", `selector: unexpected "AND" at position 11`},
		{"a = 1 and and b", `selector: unexpected "and" at position 11`},
		{"ü = 1 AND AND b", `selector: unexpected "AND" at position 11`},
		{"name = 'James", "selector: unterminated string literal at position 8"},
		{"a = ", "selector: unexpected end of selector at position 5"},
		{"(a = 1", "selector: unexpected end of selector at position 7"},
		{"a = 1)", `selector: unexpected ")" at position 6`},
		{"a == 1", `selector: unexpected "=" at position 4`},
		{"a != 1", `selector: invalid character "!" at position 3`},
		{"a = 1 && b = 2", `selector: invalid character "&" at position 7`},
		{"a = \"x\"", `selector: invalid character "\"" at position 5`},
		{"a = NULL", `selector: "=" cannot compare NULL; use IS NULL at position 5`},
		{"NULL <> a", `selector: "<>" cannot compare NULL; use IS NULL at position 1`},
		{"TRUE = 1", `selector: "=" cannot compare a boolean with a number at position 8`},
		{"FALSE <> 'x'", `selector: "<>" cannot compare a boolean with a string at position 10`},
		{"a < 'x'", `selector: "<" cannot compare a string at position 5`},
		{"a > TRUE", `selector: ">" cannot compare a boolean at position 5`},
		{"a >= NULL", `selector: ">=" cannot compare NULL at position 6`},
		{"(a = 1) < 2", `selector: "<" cannot compare a condition at position 2`},
		{"a < b < c", `selector: "<" cannot compare a condition at position 1`},
		{"a BETWEEN 'a' AND 'z'", "selector: BETWEEN cannot compare a string at position 11"},
		{"a = 1 BETWEEN 1 AND 2", ""}, // a = (1 BETWEEN 1 AND 2), as in ActiveMQ
		{"'a' IN ('a')", "selector: IN needs a property name on its left, not a string at position 1"},
		{"a + 1 IN ('a')", "selector: IN needs a property name on its left, not an arithmetic expression at position 1"},
		{"a IN ()", `selector: unexpected ")" at position 7`},
		{"a IN (1, 2)", `selector: unexpected "1" at position 7`},
		{"a IN ('x',)", `selector: unexpected ")" at position 11`},
		{"a IN ('x'", "selector: unexpected end of selector at position 10"},
		{"a IN 'x'", `selector: unexpected "'x'" at position 6`},
		{"a LIKE b", `selector: unexpected "b" at position 8`},
		{"a LIKE 'x' ESCAPE 'ab'", "selector: ESCAPE must be a single character at position 19"},
		{"a LIKE 'x' ESCAPE ''", "selector: ESCAPE must be a single character at position 19"},
		{"a NOT b", `selector: unexpected "b" at position 7`},
		{"a IS 5", `selector: unexpected "5" at position 6`},
		{"a IS NOT 5", `selector: unexpected "5" at position 10`},
		{"a BETWEEN 1 OR 2", `selector: unexpected "OR" at position 13`},
		{"9223372036854775808 > 0", `selector: integer literal "9223372036854775808" out of range at position 1`},
		{"a = 99999999999999999999", `selector: integer literal "99999999999999999999" out of range at position 5`},
		{"a = 0x10000000000000000", `selector: integer literal "0x10000000000000000" out of range at position 5`},
		{"a = 01777777777777777777777", `selector: integer literal "01777777777777777777777" out of range at position 5`},
		{"a = 09", `selector: malformed octal literal "09" at position 5`},
		{"a = 1e", "selector: malformed number at position 5"},
		{"a = 1e+", "selector: malformed number at position 5"},
		{"a = 0x", "selector: malformed number at position 5"},
		{"a = 1.2.3", `selector: unexpected ".3" at position 8`},
		{"a = 12abc", `selector: unexpected "abc" at position 7`},
		{"a = 0x1G", `selector: unexpected "G" at position 8`},
		{"a=5AND b=1", ""}, // as ActiveMQ's lexer splits it
		{"a = 1.5L", `selector: unexpected "L" at position 8`},
		{"XPATH '//a'", "selector: XPATH selectors are not supported at position 1"},
		{"xquery '//a'", "selector: XQUERY selectors are not supported at position 1"},
		{"NOT = 1", `selector: unexpected "=" at position 5`},
		{"NOT 5", "selector: expected a condition, not a number at position 5"},
		{"a AND 'x'", "selector: expected a condition, not a string at position 7"},
		{"5 OR a", "selector: expected a condition, not a number at position 1"},
		{"not", "selector: unexpected end of selector at position 4"},
		{"and = 1", `selector: unexpected "and" at position 1`},
		{"'abc'", "selector: expected a condition, not a string at position 1"},
		{"-rank", "selector: expected a condition, not an arithmetic expression at position 1"},
		{"a = 1 /* unterminated", "selector: unterminated comment at position 7"},
		{"a = '\xff'", "selector: invalid UTF-8 at position 6"},
		{"a\u00a0= 1", `selector: invalid character "\u00a0" at position 2`},
		{strings.Repeat("a", MaxLength+1), "selector: longer than 65536 bytes"},
		{deepParens, "selector: selector nested too deeply at position 257"},
		{deepNot, "selector: selector nested too deeply at position 1025"},
		{deepChain, "selector: selector nested too deeply at position 1"},
		{"convert_string_expressions:", ""},
		{"a LIKE '%x" + strings.Repeat("_", 255) + "y%'", "selector: " + errLikeWild + " at position 8"},
		{"a LIKE '%x" + strings.Repeat("_", 254) + "y%'", ""},
		{"a LIKE '%" + strings.Repeat("_", 1000) + "%'", ""},
		{"a LIKE '" + strings.Repeat("_", 10000) + "%" + strings.Repeat("_", 10000) + "'", ""},
		{"convert_string_expressions:a =", "selector: unexpected end of selector at position 31"},
	} {
		_, err := Parse(c.sel)
		if c.want == "" {
			if err != nil {
				t.Errorf("Parse(%.40q): %v", c.sel, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%.40q) succeeded, want %s", c.sel, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("Parse(%.40q)\n got %s\nwant %s", c.sel, err, c.want)
		}
		var se *SyntaxError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &se) {
			t.Errorf("Parse(%.40q): %T does not wrap ErrInvalid", c.sel, err)
		}
	}
}

func TestDepthLimits(t *testing.T) {
	ok := []string{
		strings.Repeat("(", maxNesting) + "a" + strings.Repeat(")", maxNesting),
		"a" + strings.Repeat(" + a", MaxDepth-3) + " = 1",
		strings.Repeat("NOT ", MaxDepth-1) + "a",
	}
	for _, s := range ok {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%.40q...): %v", s, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range [][2]string{
		{"NOT a = b", "(NOT (a = b))"},
		{"a OR b AND c", "(a OR (b AND c))"},
		{"a AND b OR c AND d", "((a AND b) OR (c AND d))"},
		{"a OR b OR c", "(a OR b OR c)"},
		{"(a OR b) OR c", "((a OR b) OR c)"},
		{"a + b * c - d = 1", "(((a + (b * c)) - d) = 1)"},
		{"a / b % c > 1", "(((a / b) % c) > 1)"},
		{"-5 + +x = 1", "((-5 + x) = 1)"},
		{"- x = 1", "((- x) = 1)"},
		{"- - 5 = x", "(5 = x)"},
		{"-(1.5) = x", "(-1.5 = x)"},
		{"a BETWEEN 1 AND 2 AND b", "((a BETWEEN 1 AND 2) AND b)"},
		{"a not between -1 and 2 + 3", "(a NOT BETWEEN -1 AND (2 + 3))"},
		{"a NOT IN ('x', 'y''z')", "(a NOT IN ('x', 'y''z'))"},
		{"(a) in ('x')", "(a IN ('x'))"},
		{"a like 'x!%' escape '!'", "(a LIKE 'x!%' ESCAPE '!')"},
		{"a not like '_'", "(a NOT LIKE '_')"},
		{"a is not null", "(a IS NOT NULL)"},
		{"a = 1 IS NULL", "((a = 1) IS NULL)"},
		{"1.5 = 1e3", "(1.5 = 1000.0)"},
		{"1e21 = 1E-7", "(1e+21 = 1e-07)"},
		{"1e999 = x", "(1e999 = x)"},
		{"0x10 = 020", "(16 = 16)"},
		{"7L = 7D", "(7 = 7.0)"},
		{"-9223372036854775808 = x", "(-9223372036854775808 = x)"},
		{"a = 1 = TRUE", "((a = 1) = TRUE)"},
		{"TRUE = -5", "(TRUE = -5)"},
		{"true", "TRUE"},
		{"null", "NULL"},
		{"a", "a"},
		{"a = 'it''s'", "(a = 'it''s')"},
		{"convert_string_expressions:a = 1", "(a = 1)"},
		{"", ""},
	} {
		s, err := Parse(c[0])
		if err != nil {
			t.Errorf("Parse(%q): %v", c[0], err)
			continue
		}
		if got := s.canonical(); got != c[1] {
			t.Errorf("Parse(%q).canonical() = %q, want %q", c[0], got, c[1])
		}
	}
}

func TestLikeMatcher(t *testing.T) {
	for _, c := range []struct {
		pat, esc, v string
		want        bool
	}{
		{"", "", "", true},
		{"", "", "a", false},
		{"%", "", "", true},
		{"%%", "", "abc", true},
		{"a%", "", "abc", true},
		{"a%", "", "ba", false},
		{"%c", "", "abc", true},
		{"%b%", "", "abc", true},
		{"%b%", "", "ac", false},
		{"a%b%c", "", "abc", true},
		{"a%b%c", "", "ac", false},
		{"ab%ba", "", "aba", false},
		{"ab%ba", "", "abba", true},
		{"_", "", "é", true},
		{"_", "", "", false},
		{"__", "", "é", false},
		{"a_c", "", "a\nc", true},
		{"%_%", "", "x", true},
		{"%_%", "", "", false},
		{"a.c", "", "abc", false},
		{"a.c_", "", "a.cd", true},
		{"(x)_[y]*", "", "(x)![y]*", true},
		{"(x)_[y]*", "", "(x)![y]zz", false},
		{"^$_", "", "^$a", true},
		{`\d_`, "", `\da`, true},
		{`\d_`, "", "1a", false},
		{"x#%", "#", "x%", true},
		{"x#%", "#", "xy", false},
		{"x##", "#", "x#", true},
		{"x#y", "#", "x#y", true},
		{"x#", "#", "x#", true},
		{"_#_", "#", "a_", true},
		{"_#_", "#", "ab", false},
	} {
		var esc rune
		if c.esc != "" {
			esc = []rune(c.esc)[0]
		}
		m, ok := compileLike(c.pat, esc, c.esc != "")
		if !ok {
			t.Errorf("compileLike(%q) failed", c.pat)
			continue
		}
		if got := m.match(c.v); got != c.want {
			t.Errorf("%q LIKE %q ESCAPE %q = %v, want %v", c.v, c.pat, c.esc, got, c.want)
		}
	}
}

func TestJavaDouble(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {-1.5, "-1.5"}, {100, "100.0"}, {0.001, "0.001"}, {0.0001, "1.0E-4"},
		{1e7, "1.0E7"}, {1234567.5, "1234567.5"}, {12345678, "1.2345678E7"}, {0, "0.0"},
		{1e300, "1.0E300"}, {0.1, "0.1"},
	} {
		if got := javaDouble(c.f); got != c.want {
			t.Errorf("javaDouble(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}
