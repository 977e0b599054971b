package selector

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// likeRef is a reference LIKE built on Go's regexp, for tests only.
func likeRef(t testing.TB, pattern string, esc rune, hasEsc bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		if hasEsc && r == esc && i+size < len(pattern) {
			next, nsize := utf8.DecodeRuneInString(pattern[i+size:])
			if next == '_' || next == '%' || next == esc {
				b.WriteString(regexp.QuoteMeta(string(next)))
				i += size + nsize
				continue
			}
		}
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += size
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		t.Fatalf("reference for %q: %v", pattern, err)
	}
	return re
}

func randString(r *rand.Rand, alphabet []string, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestLikeRandom compares the matcher with the reference on random short
// patterns and values, and on long floating cores that need several
// Shift-And words.
func TestLikeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pat := []string{"a", "b", "é", "_", "%", "!", "ab"}
	val := []string{"a", "b", "é", "!", "\xff", "_", "%"}
	for i := range 40000 {
		p := randString(r, pat, r.IntN(9))
		v := randString(r, val, r.IntN(12))
		hasEsc := i%3 == 0
		m, ok := compileLike(p, '!', hasEsc)
		if !ok {
			t.Fatalf("compileLike(%q) failed", p)
		}
		if got, want := m.match(v), likeRef(t, p, '!', hasEsc).MatchString(v); got != want {
			t.Fatalf("%q LIKE %q (escape %v) = %v, want %v", v, p, hasEsc, got, want)
		}
	}
	for range 1000 {
		core := []byte(randString(r, []string{"a", "b", "_"}, 1+r.IntN(maxLikeWild-2)))
		core[0], core[len(core)-1] = 'a', 'b'
		p := "%" + string(core) + "%"
		// A value holding the core with its _s filled in, plus noise.
		fill := strings.Map(func(c rune) rune {
			if c == '_' {
				return 'é'
			}
			return c
		}, string(core))
		v := randString(r, []string{"a", "b", "é"}, r.IntN(300)) + fill + randString(r, []string{"a", "b"}, r.IntN(50))
		if r.IntN(4) == 0 {
			v = strings.Replace(v, "b", "a", 1)
		}
		m, ok := compileLike(p, 0, false)
		if !ok {
			t.Fatalf("compileLike(%q) failed", p)
		}
		if got, want := m.match(v), likeRef(t, p, 0, false).MatchString(v); got != want {
			t.Fatalf("%q LIKE %q = %v, want %v", v, p, got, want)
		}
	}
}

// FuzzLike compares the matcher with the reference.
func FuzzLike(f *testing.F) {
	f.Add("a%b_c", "axxbyc", "")
	f.Add("%!_%", "a_b", "!")
	f.Add("_%_", "é", "")
	f.Add("%a_b%c__%", "xxa!bcxyz", "")
	f.Fuzz(func(t *testing.T, pattern, v, esc string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(esc) || strings.ContainsRune(pattern, utf8.RuneError) ||
			utf8.RuneCountInString(esc) > 1 || len(pattern) > 512 || len(v) > 4096 {
			return
		}
		e, _ := utf8.DecodeRuneInString(esc)
		m, ok := compileLike(pattern, e, esc != "")
		if !ok {
			return
		}
		if got, want := m.match(v), likeRef(t, pattern, e, esc != "").MatchString(v); got != want {
			t.Fatalf("%q LIKE %q ESCAPE %q = %v, want %v", v, pattern, esc, got, want)
		}
	})
}

// TestLikeHostile checks that long patterns against long values stay cheap:
// each would take minutes with a backtracking or NFA matcher.
func TestLikeHostile(t *testing.T) {
	v := msg{"v": strings.Repeat("ab", 1<<19)}
	for _, sel := range []string{
		"v LIKE '" + strings.Repeat("_", 60000) + "'",
		"v LIKE '" + strings.Repeat("%_", 30000) + "'",
		"v LIKE '" + strings.Repeat("%a", 30000) + "'",
		"v LIKE '" + strings.Repeat("%ab", 20000) + "c'",
		"v LIKE '%" + strings.Repeat("a_", 127) + "c%'",
		"v LIKE '%a" + strings.Repeat("_", 250) + "c%'",
	} {
		s, err := Parse(sel)
		if err != nil {
			t.Fatalf("Parse(%.30q): %v", sel, err)
		}
		s.Matches(v)
	}
}
