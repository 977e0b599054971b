package selector

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// anyRune marks a _ element of a LIKE segment; badRune stands for a byte of
// invalid UTF-8 in a value, which _ matches and no literal does.
const (
	anyRune rune = -1
	badRune rune = -2
)

// maxLikeWild is the longest core (from the first literal character to the
// last) of a segment between two %s that has a _ inside, in characters. It
// bounds the Shift-And state to four words, so that a hostile pattern
// cannot make each character of a value cost more than a few operations.
// Anchored segments (before the first % or after the last) have no limit.
const maxLikeWild = 256

// errLikeWild is compileLike's one error.
const errLikeWild = "LIKE pattern has a part between two % signs longer than 256 characters with a _ inside"

// likeMatcher is a LIKE pattern compiled at Parse (JMS 1.1 §3.8.1.1: _ is
// any one character, % any sequence, the ESCAPE character makes the next _,
// % or itself literal).
//
// The pattern is split at each % into segments. Without a %, the one
// segment must match the whole value. Otherwise the first segment must
// match at the start, the last at the end, and each one in between is found
// leftmost after the previous one, which is correct because % matches
// anything. An anchored segment is compared in place. A floating one skips
// its leading _s, finds its core (with strings.Index if it has no _, else
// with a bit-parallel Shift-And scan of at most four words per character)
// and skips its trailing _s. Nothing backtracks: each floating segment's
// search starts where the previous one ended, so a whole match reads the
// value about once, O(len(value)), at most four state words per character.
type likeMatcher struct {
	pattern string // as written, for printing
	esc     rune
	hasEsc  bool

	exact      bool // no %: head is the whole pattern
	head, tail likeSeg
	mids       []likeSeg // floating segments
}

// likeSeg is one %-free run of a pattern.
type likeSeg struct {
	lit   string // anchored: the text if there is no _; floating: the core without _
	wild  bool   // anchored: the segment has a _
	elems []rune // anchored with wild: one per character, anyRune for _

	skip1, skip2 int       // floating: leading and trailing _s
	sa           *shiftAnd // floating: the core, when it has a _ inside
}

// compileLike compiles pattern with an optional escape character. ActiveMQ
// escapes only _, % and the escape character itself; an escape character
// before anything else is itself literal. It fails only for a floating core
// with _ longer than maxLikeWild.
func compileLike(pattern string, esc rune, hasEsc bool) (*likeMatcher, bool) {
	// Decode once into shared buffers; each segment is a span of them.
	type span struct {
		ls, le, es, ee int
		wild           bool
	}
	var litb strings.Builder
	litb.Grow(len(pattern))
	elems := make([]rune, 0, utf8.RuneCountInString(pattern))
	spans := make([]span, 0, strings.Count(pattern, "%")+1)
	var cur span
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		if hasEsc && r == esc && i+size < len(pattern) {
			next, nsize := utf8.DecodeRuneInString(pattern[i+size:])
			if next == '_' || next == '%' || next == esc {
				litb.WriteString(pattern[i+size : i+size+nsize])
				elems = append(elems, next)
				i += size + nsize
				continue
			}
		}
		switch r {
		case '%':
			cur.le, cur.ee = litb.Len(), len(elems)
			spans = append(spans, cur)
			cur = span{ls: cur.le, es: cur.ee}
		case '_':
			cur.wild = true
			elems = append(elems, anyRune)
		default:
			litb.WriteString(pattern[i : i+size])
			elems = append(elems, r)
		}
		i += size
	}
	cur.le, cur.ee = litb.Len(), len(elems)
	spans = append(spans, cur)
	lit := litb.String()
	anchored := func(sp span) likeSeg {
		s := likeSeg{lit: lit[sp.ls:sp.le], wild: sp.wild}
		if sp.wild {
			s.elems = elems[sp.es:sp.ee:sp.ee]
		}
		return s
	}

	m := &likeMatcher{pattern: pattern, esc: esc, hasEsc: hasEsc, head: anchored(spans[0])}
	if len(spans) == 1 {
		m.exact = true
		return m, true
	}
	m.tail = anchored(spans[len(spans)-1])
	m.mids = make([]likeSeg, 0, len(spans)-2)
	for _, sp := range spans[1 : len(spans)-1] {
		if sp.es == sp.ee {
			continue // %%
		}
		if !sp.wild {
			m.mids = append(m.mids, likeSeg{lit: lit[sp.ls:sp.le]})
			continue
		}
		e := elems[sp.es:sp.ee]
		s := likeSeg{}
		for len(e) > 0 && e[0] == anyRune {
			s.skip1++
			e = e[1:]
		}
		for len(e) > 0 && e[len(e)-1] == anyRune {
			s.skip2++
			e = e[:len(e)-1]
		}
		if slices.Contains(e, anyRune) {
			if len(e) > maxLikeWild {
				return nil, false
			}
			s.sa = newShiftAnd(e)
		} else if len(e) > 0 {
			s.lit = string(e)
		}
		m.mids = append(m.mids, s)
	}
	return m, true
}

// match reports whether v matches the pattern. It allocates nothing.
func (m *likeMatcher) match(v string) bool {
	n, ok := m.head.matchPrefix(v)
	if !ok {
		return false
	}
	if m.exact {
		return n == len(v)
	}
	v = v[n:]
	if n, ok = m.tail.matchSuffix(v); !ok {
		return false
	}
	v = v[:n]
	for i := range m.mids {
		if v, ok = m.mids[i].find(v); !ok {
			return false
		}
	}
	return true
}

// find finds the floating segment s leftmost in v and returns what follows.
func (s *likeSeg) find(v string) (string, bool) {
	v, ok := skipRunes(v, s.skip1)
	if !ok {
		return "", false
	}
	if s.sa != nil {
		n, ok := s.sa.search(v)
		if !ok {
			return "", false
		}
		v = v[n:]
	} else if s.lit != "" {
		j := strings.Index(v, s.lit)
		if j < 0 {
			return "", false
		}
		v = v[j+len(s.lit):]
	}
	return skipRunes(v, s.skip2)
}

// skipRunes drops the first n characters of v, if it has that many.
func skipRunes(v string, n int) (string, bool) {
	for ; n > 0; n-- {
		if v == "" {
			return "", false
		}
		_, size := utf8.DecodeRuneInString(v)
		v = v[size:]
	}
	return v, true
}

// decodeRune decodes the first character of v, reading a byte of invalid
// UTF-8 as badRune.
func decodeRune(v string) (rune, int) {
	r, size := utf8.DecodeRuneInString(v)
	if r == utf8.RuneError && size == 1 {
		return badRune, 1
	}
	return r, size
}

// matchPrefix matches the anchored s at the start of v and returns the
// bytes it covers.
func (s *likeSeg) matchPrefix(v string) (int, bool) {
	if !s.wild {
		return len(s.lit), strings.HasPrefix(v, s.lit)
	}
	i := 0
	for _, e := range s.elems {
		if i >= len(v) {
			return 0, false
		}
		r, size := decodeRune(v[i:])
		if e != anyRune && e != r {
			return 0, false
		}
		i += size
	}
	return i, true
}

// matchSuffix matches the anchored s at the end of v and returns where it
// starts.
func (s *likeSeg) matchSuffix(v string) (int, bool) {
	if !s.wild {
		return len(v) - len(s.lit), strings.HasSuffix(v, s.lit)
	}
	i := len(v)
	for k := len(s.elems) - 1; k >= 0; k-- {
		if i <= 0 {
			return 0, false
		}
		r, size := utf8.DecodeLastRuneInString(v[:i])
		if r == utf8.RuneError && size == 1 {
			r = badRune
		}
		if e := s.elems[k]; e != anyRune && e != r {
			return 0, false
		}
		i -= size
	}
	return i, true
}

// shiftAnd finds a pattern of at most maxLikeWild literal characters and _s
// in a string with the Shift-And (bitap) algorithm: bit i of the state is
// set when the last i+1 characters read match the pattern's first i+1.
type shiftAnd struct {
	n     int                      // pattern length in characters
	words int                      // state words in use
	wild  [maxLikeWild / 64]uint64 // the _ positions
	keys  []rune                   // the literal characters, sorted
	masks [][maxLikeWild / 64]uint64
}

func newShiftAnd(elems []rune) *shiftAnd {
	sa := &shiftAnd{n: len(elems), words: (len(elems) + 63) / 64}
	for i, e := range elems {
		w, b := i/64, uint64(1)<<(i%64)
		if e == anyRune {
			sa.wild[w] |= b
			continue
		}
		k, ok := slices.BinarySearch(sa.keys, e)
		if !ok {
			sa.keys = slices.Insert(sa.keys, k, e)
			sa.masks = slices.Insert(sa.masks, k, [maxLikeWild / 64]uint64{})
		}
		sa.masks[k][w] |= b
	}
	return sa
}

// find returns the index of r in keys, or -1.
func (sa *shiftAnd) find(r rune) int {
	keys := sa.keys
	if len(keys) <= 8 {
		for i, k := range keys {
			if k == r {
				return i
			}
		}
		return -1
	}
	lo, hi := 0, len(keys)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if keys[mid] < r {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(keys) && keys[lo] == r {
		return lo
	}
	return -1
}

// search finds the leftmost occurrence of the pattern in v and returns the
// byte offset just past it.
func (sa *shiftAnd) search(v string) (int, bool) {
	lastW, lastB := (sa.n-1)/64, uint64(1)<<((sa.n-1)%64)
	if sa.words == 1 {
		var d uint64
		for i := 0; i < len(v); {
			r, size := rune(v[i]), 1
			if r >= utf8.RuneSelf {
				r, size = decodeRune(v[i:])
			}
			m := sa.wild[0]
			if k := sa.find(r); k >= 0 {
				m |= sa.masks[k][0]
			}
			d = (d<<1 | 1) & m
			i += size
			if d&lastB != 0 {
				return i, true
			}
		}
		return 0, false
	}
	var d [maxLikeWild / 64]uint64
	for i := 0; i < len(v); {
		r, size := decodeRune(v[i:])
		k := sa.find(r)
		for j := sa.words - 1; j >= 0; j-- {
			carry := uint64(1)
			if j > 0 {
				carry = d[j-1] >> 63
			}
			m := sa.wild[j]
			if k >= 0 {
				m |= sa.masks[k][j]
			}
			d[j] = (d[j]<<1 | carry) & m
		}
		i += size
		if d[lastW]&lastB != 0 {
			return i, true
		}
	}
	return 0, false
}
