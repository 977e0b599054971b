package selector

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse parses arbitrary text and checks that Parse never panics, that
// errors are SyntaxErrors, that String returns the source, that Matches
// never panics, and that the canonical form parses back to the same tree
// with the same verdict.
func FuzzParse(f *testing.F) {
	for _, c := range matchTable() {
		f.Add(c.sel)
	}
	for _, s := range []string{
		"a IN ('x'", "'abc", "0x", "09", "1e+", "/*", "--", "a LIKE 'x' ESCAPE ''", "((((a))))",
		"-9223372036854775808 = x", "9223372036854775808", "a = NULL", "a LIKE '%_%_%' ESCAPE '_'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "selector: ") {
				t.Fatalf("Parse(%q): bad error %T %v", src, err, err)
			}
			return
		}
		if s.String() != src {
			t.Fatalf("String() = %q, want %q", s.String(), src)
		}
		got := s.Matches(base)
		if sc, err := ParseWith(src, Options{ConvertStrings: true}); err != nil {
			t.Fatalf("ParseWith(%q) failed where Parse did not: %v", src, err)
		} else {
			sc.Matches(base)
		}
		canon := s.canonical()
		if len(canon) > MaxLength {
			return
		}
		s2, err := ParseWith(canon, Options{ConvertStrings: s.conv})
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, src, err)
		}
		if c2 := s2.canonical(); c2 != canon {
			t.Fatalf("canonical form not stable:\n%q\n%q", canon, c2)
		}
		if s2.Matches(base) != got {
			t.Fatalf("canonical %q of %q matches %v, source %v", canon, src, !got, got)
		}
	})
}
