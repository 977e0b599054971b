package selector

import (
	"maps"
	"math"
	"strings"
	"testing"
)

// msg is a Fields backed by a map; a key mapped to nil exists with no value.
type msg map[string]any

func (m msg) Field(name string) (any, bool) {
	v, ok := m[name]
	return v, ok
}

// with returns a copy of m with more fields.
func (m msg) with(kv ...any) msg {
	c := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// base mirrors ActiveMQ SelectorTest's createMessage, plus header fields
// and values for the type rules.
var base = msg{
	"JMSType":         "selector-test",
	"JMSMessageID":    "connection:1:1:1:1",
	"JMSPriority":     4,
	"JMSDeliveryMode": "PERSISTENT",
	"JMSTimestamp":    int64(1700000000000),
	"name":            "James",
	"location":        "London",
	"byteProp":        int8(123),
	"byteProp2":       int8(33),
	"shortProp":       int16(123),
	"intProp":         int32(123),
	"longProp":        int64(123),
	"floatProp":       float32(123),
	"doubleProp":      float64(123),
	"rank":            int32(123),
	"version":         int32(2),
	"quote":           "'In God We Trust'",
	"foo":             "_foo",
	"punctuation":     "!#$&()*+,-./:;<=>?@[\\]^`{|}~",
	"trueProp":        true,
	"falseProp":       false,
	"zero":            int64(0),
	"fzero":           0.0,
	"nan":             math.NaN(),
	"longMax":         int64(math.MaxInt64),
	"big":             uint64(math.MaxUint64),
	"str5":            "5",
	"strNum":          "15",
	"strFloat":        "1.5",
	"strTrue":         "TRUE",
	"other":           []byte("x"),
	"nilProp":         nil,
	"empty":           "",
	"unicode":         "héllo wörld",
	"nl":              "a\nb",
	"ünïcode":         1,
	"$x":              "dollar",
	"_a1":             "under",
}

type matchCase struct {
	sel  string
	m    msg
	want bool
}

func cases(m msg, want bool, sels ...string) []matchCase {
	out := make([]matchCase, len(sels))
	for i, s := range sels {
		out[i] = matchCase{s, m, want}
	}
	return out
}

func matchTable() []matchCase {
	var t []matchCase
	add := func(m msg, want bool, sels ...string) { t = append(t, cases(m, want, sels...)...) }

	// Empty selectors select everything.
	add(base, true, "", "   ", "\t\r\n\f", "-- only a comment", "/* only */ ")

	// JMS 1.1 §3.8.1.1 examples.
	car := msg{"JMSType": "car", "color": "blue", "weight": 2600}
	add(car, true, "JMSType = 'car' AND color = 'blue' AND weight > 2500")
	add(car.with("weight", 2500), false, "JMSType = 'car' AND color = 'blue' AND weight > 2500")
	add(msg{"age": 15}, true, "age BETWEEN 15 AND 19", "age >= 15 AND age <= 19")
	add(msg{"age": 19}, true, "age BETWEEN 15 AND 19")
	add(msg{"age": 20}, false, "age BETWEEN 15 AND 19")
	add(msg{"age": 14}, true, "age NOT BETWEEN 15 AND 19", "age < 15 OR age > 19")
	add(msg{"age": 15}, false, "age NOT BETWEEN 15 AND 19")
	add(msg{"Country": " UK"}, true, "Country IN (' UK', 'US', 'France')")
	add(msg{"Country": "UK"}, false, "Country IN (' UK', 'US', 'France')")
	add(msg{"Country": "UK"}, true, "Country NOT IN (' UK', 'US', 'France')")
	add(msg{"Country": "Peru"}, true, "Country NOT IN (' UK', 'US', 'France')")
	add(msg{"phone": "123"}, true, "phone LIKE '12%3'")
	add(msg{"phone": "12993"}, true, "phone LIKE '12%3'")
	add(msg{"phone": "1234"}, false, "phone LIKE '12%3'")
	add(msg{"phone": "1234"}, true, "phone NOT LIKE '12%3'")
	add(msg{"phone": "123"}, false, "phone NOT LIKE '12%3'")
	add(msg{"word": "lose"}, true, "word LIKE 'l_se'")
	add(msg{"word": "loose"}, false, "word LIKE 'l_se'")
	add(msg{"underscored": "_foo"}, true, `underscored LIKE '\_%' ESCAPE '\'`)
	add(msg{"underscored": "bar"}, false, `underscored LIKE '\_%' ESCAPE '\'`)
	add(msg{}, true, "prop_name IS NULL")
	add(msg{"prop_name": "x"}, true, "prop_name IS NOT NULL")

	// ActiveMQ SelectorTest.
	add(base, true,
		"(trueProp OR falseProp) AND trueProp", "trueProp",
		"JMSType = 'selector-test'", "JMSMessageID = 'connection:1:1:1:1'",
		"name = 'James'", "rank > 100", "rank >= 123",
		"byteProp = 123", "byteProp2 = 33", "shortProp = 123", "intProp = 123",
		"longProp = 123", "floatProp = 123", "doubleProp = 123",
		"name = 'James' and rank < 200", "name = 'James' or rank < 200",
		"name = 'James' or rank > 200", "name = 'Foo' or rank < 200",
		"rank + 2 = 125", "(rank + 2) = 125", "125 = (rank + 2)", "rank + version = 125",
		"name + '!' = 'James!'", "rank - 2 = 121", "rank - version = 121",
		"rank * 2 = 246", "rank * version = 246", "rank / version = 61.5", "version / 2 = 1",
		"rank between 100 and 150",
		"name in ('James', 'Bob', 'Gromit')", "name in ('Bob', 'James', 'Gromit')",
		"name in ('Gromit', 'Bob', 'James')", "name not in ('Gromit', 'Bob', 'Cheddar')",
		"dummy is null", "name is not null",
		"1.0 < 1.1", "-1.1 < 1.0", "1.0E1 < 1.1E1", "-1.1E1 < 1.0E1",
		"1. < 1.1", "-1.1 < 1.", "1.E1 < 1.1E1", "-1.1E1 < 1.E1",
		".1 < .5", "-.5 < .1", ".1E1 < .5E1", "-.5E1 < .1E1",
		"4E10 < 5E10", "5E8 < 5E10", "-4E10 < 2E10", "-5E8 < 2E2", "4E+10 < 5E+10", "4E-10 < 5E-10",
		"quote = '''In God We Trust'''",
		"quote LIKE '''In G_d We Trust'''", "quote NOT LIKE '''In Gd_ We Trust'''",
		"foo LIKE '%oo'", "foo NOT LIKE '%ar'",
		"foo LIKE '!_%' ESCAPE '!'", "quote NOT LIKE '!_%' ESCAPE '!'",
		`punctuation LIKE '!#$&()*+,-./:;<=>?@[\]^`+"`"+`{|}~'`,
	)
	add(base, false,
		"(trueProp OR falseProp) AND falseProp", "JMSType = 'crap'", "rank >= 124",
		"byteProp = 10", "byteProp2 = 10", "shortProp = 10", "intProp = 10", "longProp = 10",
		"floatProp = 10", "doubleProp = 10",
		"name = 'James' and rank > 200", "name = 'Foo' and rank < 200",
		"unknown = 'Foo' and anotherUnknown < 200", "name = 'Foo' or rank > 200",
		"unknown = 'Foo' or anotherUnknown < 200",
		"rank + 2 < 124", "rank - 2 > 122", "rank * 2 < 130", "rank / 3 > 100.0", "rank / 3 > 100",
		"rank between 10 and 120", "name in ('Gromit', 'Bob', 'Cheddar')",
		"dummy is not null", "name is null",
		"quote LIKE '''In Gd_ We Trust'''", "quote NOT LIKE '''In G_d We Trust'''",
		"foo LIKE '%ar'", "foo NOT LIKE '%oo'",
		"quote LIKE '!_%' ESCAPE '!'", "foo NOT LIKE '!_%' ESCAPE '!'",
	)
	mats := msg{}
	add(mats, false, "SessionserverId=1870414179", "Command NOT IN ('MirrorLobbyRequest', 'MirrorLobbyReply')")
	add(mats.with("SessionserverId", int64(1870414179)), true, "SessionserverId=1870414179")
	add(mats.with("SessionserverId", int64(1234)), false, "SessionserverId=1870414179")
	add(mats.with("Command", "Cheese"), true, "Command NOT IN ('MirrorLobbyRequest', 'MirrorLobbyReply')")
	add(mats.with("Command", "MirrorLobbyReply"), false, "Command NOT IN ('MirrorLobbyRequest', 'MirrorLobbyReply')")
	like := msg{"modelClassId": "com.whatever.something.foo.bar", "modelInstanceId": "170", "modelRequestError": "abc", "modelCorrelatedClientId": "whatever"}
	const likeSel = "modelClassId LIKE 'com.whatever.something.%' AND modelInstanceId = '170' AND (modelRequestError IS NULL OR modelCorrelatedClientId = 'whatever')"
	add(like, true, likeSel)
	add(like.with("modelCorrelatedClientId", "shouldFailNow"), false, likeSel)
	delete(like, "modelRequestError")
	add(like.with("modelCorrelatedClientId", "shouldNotMatch"), true, likeSel)

	// Three-valued logic: a missing property is NULL, comparisons with NULL
	// are unknown, and unknown never selects, negated or not.
	add(base, false,
		"missing = 'a'", "NOT (missing = 'a')", "missing <> 'a'", "NOT (missing <> 'a')",
		"'a' = missing", "NOT ('a' = missing)", "missing > 5", "NOT missing > 5",
		"missing BETWEEN 1 AND 10", "missing NOT BETWEEN 1 AND 10", "NOT (missing BETWEEN 1 AND 10)",
		"rank BETWEEN missing AND 200", "NOT (rank BETWEEN missing AND 200)", "rank BETWEEN missing AND 100",
		"rank NOT BETWEEN missing AND 200",
		"missing IN ('a')", "missing NOT IN ('a')", "NOT (missing IN ('a'))",
		"missing LIKE 'a%'", "missing NOT LIKE 'a%'", "NOT (missing LIKE 'a%')",
		"missing IS NOT NULL", "NOT (missing IS NULL)", "missing", "NOT missing",
		"missing + 1 = 2", "NOT (missing + 1 = 2)", "-missing = 1", "NOT (-missing = 1)",
		"missing = 'a' AND TRUE", "missing = 'a' AND FALSE", "NOT (missing = 'a' AND TRUE)",
		"missing = 'a' OR FALSE", "NOT (missing = 'a' OR FALSE)", "NOT (missing = 'a' OR missing = 'b')",
		"NULL", "NOT NULL", "NULL AND TRUE", "NULL OR FALSE", "nilProp = 'x'", "nilProp IS NOT NULL",
		"missing = missing", "missing <> missing",
	)
	add(base, true,
		"missing IS NULL", "nilProp IS NULL", "NULL IS NULL", "(missing = 1) IS NULL",
		"missing = 'a' OR TRUE", "TRUE OR missing = 'a'", "NOT (missing = 'a' AND FALSE)",
		"NOT (rank BETWEEN missing AND 100)", "rank NOT BETWEEN missing AND 100",
		"NULL OR TRUE", "NOT (NULL AND FALSE)", "missing = 'a' OR name = 'James'",
	)

	// NOT binds more loosely than comparisons; a bare property is a
	// condition only if it is a boolean.
	add(base, true, "NOT name = 'Bob'", "NOT NOT name = 'James'", "NOT falseProp", "NOT name",
		"NOT rank > 200", "NOT trueProp = FALSE", "NOT (trueProp AND falseProp)")
	add(base, false, "NOT name = 'James'", "NOT trueProp", "name", "rank", "NOT NOT name")

	// Keywords are case-insensitive, identifiers and strings are not.
	add(base, true, "name = 'James' aNd rank < 200", "TrUe", "name iS nOt NuLl",
		"rank bEtWeEn 100 AnD 150", "name lIkE 'J%'", "name In ('James')", "nOt falSe",
		"$x = 'dollar'", "_a1 = 'under'", "ünïcode = 1")
	add(base, false, "NaMe = 'James'", "name = 'james'", "name IN ('james')", "name LIKE 'j%'", "FaLsE")

	// Strings and LIKE.
	add(base, true, "'it''s' = 'it''s'", "empty = ''", "unicode = 'héllo wörld'",
		"unicode LIKE 'h_llo%'", "unicode LIKE '%w_rld'", "nl LIKE 'a_b'", "nl LIKE 'a%'",
		"name LIKE 'J%s'", "name LIKE 'J%%s'", "name LIKE '%'", "empty LIKE '%'",
		"name LIKE '_____'", "name LIKE 'Ja%es'", "name LIKE '%a%e%'", "name LIKE 'James'",
		"name LIKE '%James%'", "name NOT LIKE 'Jam%mes'",
		`punctuation LIKE '!#$&()*+,-./:;<=>?@[\]^`+"`"+`{|}_'`,
		"name < location", "location > name", "trueProp > falseProp", "name <= name")
	add(base, false, "empty LIKE '_'", "name LIKE '____'", "name LIKE 'Jam%mes'",
		"name LIKE '%e%a%'", "name LIKE 'James_'", "name LIKE 'ames'", "name LIKE '.ames'",
		"name > location")
	add(msg{"p": "100%"}, true, "p LIKE '100!%' ESCAPE '!'", "p LIKE '100%%' ESCAPE '%'", "p LIKE '1_0!%' ESCAPE '!'")
	add(msg{"p": "1000"}, false, "p LIKE '100!%' ESCAPE '!'", "p LIKE '100%%' ESCAPE '%'", "p LIKE '1_0!%' ESCAPE '!'")
	add(msg{"p": "a!b"}, true, "p LIKE 'a!b' ESCAPE '!'", "p LIKE 'a!!b' ESCAPE '!'", "p LIKE 'a!!_' ESCAPE '!'")
	add(msg{"p": "a!"}, true, "p LIKE 'a!' ESCAPE '!'", "p LIKE '_!' ESCAPE '!'")
	add(msg{"p": "a_b"}, true, "p LIKE 'a\\_b' ESCAPE '\\'", "p LIKE 'a€_b' ESCAPE '€'")
	add(msg{"p": "axb"}, false, "p LIKE 'a\\_b' ESCAPE '\\'", "p LIKE 'a€_b' ESCAPE '€'")

	// Numbers: literal forms, promotion, arithmetic.
	add(base, true,
		"0x7B = 123", "0X7b = rank", "0173 = 123", "0 = zero", "00 = 0", "123L = rank", "123l = rank",
		"0x7bL = 123", "1.5F = 1.5", "2D = 2", "2d = 2.0", "1e3 = 1000", "1E3 = 1000.0",
		"-rank = -123", "-(-rank) = 123", "- - rank = 123", "+rank = 123", "-(rank) < 0",
		"9223372036854775807 > 0", "-9223372036854775808 < 0", "longMax + 1 < 0",
		"9223372036854775807 + 1 = -9223372036854775808", "0x7FFFFFFFFFFFFFFF = 9223372036854775807",
		"-9223372036854775808 - 1 = 9223372036854775807",
		"rank = 123.0", "rank < 123.5", "123.0 = rank", "intProp = floatProp", "doubleProp = longProp",
		"big > 0", "big > longMax", "1e400 > 1e300", "-1e400 < 0",
		"rank + 2 * 3 = 129", "(rank + 2) * 3 = 375", "rank - 100 - 20 = 3", "rank / version / 2 = 30.75",
		"7 / 2 = 3.5", "rank % 10 = 3", "-7 % 3 = -1", "rank % 2.5 = 0.5", "2 * 0.5 = 1",
		"(rank = 123) = trueProp", "rank = 123 = TRUE", "rank = 124 = FALSE", "1 - -1 = 2",
		"JMSPriority > 3", "JMSPriority BETWEEN 0 AND 9", "JMSDeliveryMode = 'PERSISTENT'", "JMSTimestamp > 0",
		"JMSCorrelationID IS NULL",
	)
	add(base, false,
		"rank / 0 > 0", "rank / 0 < 0", "rank / 0 = 0", "NOT (rank / 0 > 0)", "rank / zero = 1",
		"rank / 0.0 > 1", "rank / fzero > 1", "rank % 0 = 0", "NOT (rank % 0 = 0)", "0 / 0 = 0",
		"nan = nan", "nan > 0", "nan < 0", "nan >= nan", "nan BETWEEN 0 AND 1",
	)
	add(base, true, "nan <> nan", "nan <> 0")

	// Unlike types: = is FALSE, so <> is TRUE; ordering is FALSE; arithmetic
	// on non-numbers is unknown; IN on a non-string is unknown; LIKE on a
	// non-string is FALSE.
	add(base, false,
		"name = 5", "trueProp = 1", "trueProp = 'true'", "str5 = 5", "str5 > 4", "rank = '123'",
		"name > 5", "name < 5", "other = 'x'", "other IS NULL", "other LIKE 'x'", "other IN ('x')",
		"NOT (other IN ('x'))", "other = other", "rank LIKE '12%'", "rank IN ('123')", "rank NOT IN ('123')",
		"name * 2 = 2", "NOT (name * 2 = 2)", "-name = 1", "NOT (-name = 1)", "trueProp + 1 = 2",
		"rank + '1' = 124", "NOT (rank + '1' = 124)", "name + other = 'James'", "str5 BETWEEN 1 AND 9",
		"str5 NOT BETWEEN 1 AND 9", "strNum > 10",
	)
	add(base, true,
		"name <> 5", "NOT (name = 5)", "NOT (name > 5)", "trueProp <> 1", "str5 <> 5", "other <> 'x'",
		"rank NOT LIKE '12%'", "other NOT LIKE 'x'", "trueProp = TRUE", "trueProp <> FALSE", "falseProp = FALSE",
		"name + 1 = 'James1'", "name + 1.5 = 'James1.5'", "name + trueProp = 'Jamestrue'",
		"name + 1e10 = 'James1.0E10'", "name + 0.0001 = 'James1.0E-4'", "name + 1e6 = 'James1000000.0'",
		"name + -1 = 'James-1'", "name + name = 'JamesJames'",
	)

	// String conversion, as ActiveMQ applies to STOMP selectors.
	add(base, true,
		"convert_string_expressions:str5 = 5", "convert_string_expressions:strNum > 10",
		"convert_string_expressions:strNum BETWEEN 10 AND 20", "convert_string_expressions:strFloat = 1.5",
		"convert_string_expressions:5 = str5", "convert_string_expressions:strTrue = TRUE",
		"convert_string_expressions:strNum + 1 = 151", "convert_string_expressions:name <> 5",
		"convert_string_expressions:strNum > rank / 10",
	)
	add(base, false,
		"convert_string_expressions:strFloat = 1", "convert_string_expressions:strFloat > 1",
		"convert_string_expressions:name = 5", "convert_string_expressions:str5 = 6",
		"convert_string_expressions:strNum IN ('15') AND strNum LIKE '2%'",
		"convert_string_expressions:missing = 5",
	)

	// Comments.
	add(base, true, "name = 'James' -- trailing", "/* c */ name = /* x */ 'James'", "name = 'James' --\n AND rank = 123")

	// Long IN lists use a map.
	long := "name IN ('a','b','c','d','e','f','g','h','i','James')"
	add(base, true, long)
	add(base, false, strings.Replace(long, "IN", "NOT IN", 1), strings.Replace(long, "'James'", "'j'", 1))
	return t
}

func TestMatches(t *testing.T) {
	for _, c := range matchTable() {
		s, err := Parse(c.sel)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.sel, err)
			continue
		}
		if got := s.Matches(c.m); got != c.want {
			t.Errorf("Parse(%q).Matches = %v, want %v (canonical %s)", c.sel, got, c.want, s.canonical())
		}
		if s.String() != c.sel {
			t.Errorf("Parse(%q).String() = %q", c.sel, s.String())
		}
		// The canonical form means the same thing.
		o := Options{ConvertStrings: s.conv}
		s2, err := ParseWith(s.canonical(), o)
		if err != nil {
			t.Errorf("canonical %q of %q: %v", s.canonical(), c.sel, err)
			continue
		}
		if got := s2.Matches(c.m); got != c.want {
			t.Errorf("canonical %q of %q matches %v, want %v", s.canonical(), c.sel, got, c.want)
		}
	}
}

func TestConvertOption(t *testing.T) {
	m := msg{"price": "15"}
	plain, _ := Parse("price > 10")
	conv, _ := ParseWith("price > 10", Options{ConvertStrings: true})
	if plain.Matches(m) || !conv.Matches(m) {
		t.Fatalf("plain %v conv %v, want false true", plain.Matches(m), conv.Matches(m))
	}
}

func TestNilAndEmpty(t *testing.T) {
	var s *Selector
	if !s.Matches(base) || s.String() != "" {
		t.Fatal("nil selector must match everything")
	}
	e, err := Parse("  ")
	if err != nil || !e.Matches(nil) || e.String() != "  " {
		t.Fatalf("blank selector: %v", err)
	}
}

func TestConcatBudget(t *testing.T) {
	m := msg{"s": strings.Repeat("x", maxConcat/2+1)}
	for _, sel := range []string{"s + s = s", "NOT (s + s = s)", "s + s IS NOT NULL"} {
		s, err := Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		if s.Matches(m) {
			t.Errorf("%q matched past the concatenation budget", sel)
		}
	}
	s, _ := Parse("s + 'y' LIKE '%y'")
	if !s.Matches(m) {
		t.Error("a concatenation within budget must work")
	}
}

func TestLongOrChain(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("id = ")
		b.WriteString(strings.Repeat("1", 1+i%9))
	}
	s, err := Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Matches(msg{"id": 111111111}) || s.Matches(msg{"id": 2}) {
		t.Fatal("long OR chain evaluated wrongly")
	}
}

func TestConcurrentMatches(t *testing.T) {
	s, err := Parse("name LIKE 'J_m%' AND rank BETWEEN 100 AND 200")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && s.Matches(base)
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("concurrent Matches disagreed")
		}
	}
}
