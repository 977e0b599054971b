package selector

import "testing"

// benchFields is a fixed-field message the way a broker adapter might look
// one up: a switch on the name, values pre-boxed so no conversion allocates.
type benchFields struct {
	priority, region, price any
}

func (m *benchFields) Field(name string) (any, bool) {
	switch name {
	case "JMSPriority":
		return m.priority, true
	case "region":
		return m.region, true
	case "price":
		return m.price, true
	}
	return nil, false
}

func benchMatch(b *testing.B, sel string, f Fields, want bool) {
	s, err := Parse(sel)
	if err != nil {
		b.Fatal(err)
	}
	if s.Matches(f) != want {
		b.Fatalf("Matches = %v, want %v", !want, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if s.Matches(f) != want {
			b.Fatal("verdict changed")
		}
	}
}

// BenchmarkMatch measures the brief's typical selector against a message
// that passes every test.
func BenchmarkMatch(b *testing.B) {
	f := &benchFields{priority: int64(7), region: "us", price: 15.5}
	benchMatch(b, "JMSPriority > 4 AND region IN ('eu','us') AND price BETWEEN 10 AND 20", f, true)
}

// BenchmarkMatchMap is BenchmarkMatch over a map-backed message.
func BenchmarkMatchMap(b *testing.B) {
	m := msg{"JMSPriority": int64(7), "region": "us", "price": 15.5}
	benchMatch(b, "JMSPriority > 4 AND region IN ('eu','us') AND price BETWEEN 10 AND 20", m, true)
}

// BenchmarkMatchLike covers the strings.Index and Shift-And LIKE paths.
func BenchmarkMatchLike(b *testing.B) {
	m := msg{"name": "com.example.orders.created", "id": "ab-1234-xyz"}
	b.Run("segments", func(b *testing.B) {
		benchMatch(b, "name LIKE 'com.%.orders.%'", m, true)
	})
	b.Run("shiftand", func(b *testing.B) {
		benchMatch(b, "id LIKE '%b-____-x%'", m, true)
	})
}

// BenchmarkParse measures compiling the brief's selector.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("JMSPriority > 4 AND region IN ('eu','us') AND price BETWEEN 10 AND 20"); err != nil {
			b.Fatal(err)
		}
	}
}
