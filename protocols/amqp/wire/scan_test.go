package wire

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestNextSectionAndScanMap: stepping through a message's sections finds
// each with its value offset, and ScanMap hands out a map's encoded keys
// and values in order, both without decoding.
func TestNextSectionAndScanMap(t *testing.T) {
	m := &Message{
		Header:                &Header{Durable: true, Priority: 4},
		MessageAnnotations:    Map{{Symbol("x-opt-a"), int8(1)}},
		Properties:            &Properties{MessageID: "id", To: "queue://q"},
		ApplicationProperties: Map{{"k1", "v1"}, {"k2", int64(1 << 40)}, {"k3", true}},
		Data:                  [][]byte{[]byte("body")},
	}
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	var codes []uint64
	var app SectionSpan
	for off := 0; off < len(b); {
		sp, err := NextSection(b, off)
		if err != nil {
			t.Fatalf("NextSection at %d: %v", off, err)
		}
		if sp.Start != off || sp.Value <= sp.Start || sp.End <= sp.Value {
			t.Fatalf("span %+v at %d", sp, off)
		}
		codes = append(codes, sp.Descriptor)
		if sp.Descriptor == DescApplicationProperties {
			app = sp
		}
		off = sp.End
	}
	want := []uint64{DescHeader, DescMessageAnnotations, DescProperties, DescApplicationProperties, DescData}
	if !reflect.DeepEqual(codes, want) {
		t.Fatalf("sections %x, want %x", codes, want)
	}
	var keys []string
	var vals []any
	if err := ScanMap(b[app.Value:app.End], func(k, v []byte) bool {
		kv, err := UnmarshalValue(k)
		if err != nil {
			t.Fatalf("key %x: %v", k, err)
		}
		vv, err := UnmarshalValue(v)
		if err != nil {
			t.Fatalf("value %x: %v", v, err)
		}
		keys, vals = append(keys, kv.(string)), append(vals, vv)
		return len(keys) < 2 // stop after two
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{"k1", "k2"}) || !reflect.DeepEqual(vals, []any{"v1", int64(1 << 40)}) {
		t.Fatalf("scanned %v %v", keys, vals)
	}

	for _, bad := range []struct {
		name string
		in   []byte
	}{
		{"not a map", []byte{0x45}},
		{"odd count", []byte{0xc1, 0x02, 0x01, 0x40}},
		{"size past the end", []byte{0xc1, 0x09, 0x02, 0x40}},
		{"empty", nil},
	} {
		if err := ScanMap(bad.in, func(_, _ []byte) bool { return true }); err == nil {
			t.Errorf("ScanMap(%s) accepted %x", bad.name, bad.in)
		}
	}
	if _, err := NextSection([]byte{0x00, 0x53, 0x24, 0x45}, 0); err == nil {
		t.Error("NextSection accepted an outcome as a section")
	}
	if _, err := NextSection([]byte{0x00, 0x53, 0x75, 0xa0, 0x09, 'x'}, 0); err == nil {
		t.Error("NextSection accepted a data section cut short")
	}
}

// TestAppendMapSection: a section written entry by entry decodes as the
// same map as one written from a Map, map8 or map32 as it needs.
func TestAppendMapSection(t *testing.T) {
	for _, n := range []int{0, 2, 40} {
		var m Map
		for i := range n {
			m = append(m, MapEntry{Key: strings.Repeat("k", i+1), Value: int64(i)})
		}
		b, err := AppendMapSection([]byte{0xee}, DescApplicationProperties, func(b []byte) ([]byte, int, error) {
			for _, e := range m {
				var err error
				if b, err = AppendString(b, e.Key.(string)); err != nil {
					return b, 0, err
				}
				if b, err = AppendValue(b, e.Value); err != nil {
					return b, 0, err
				}
			}
			return b, len(m), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := (&Message{ApplicationProperties: m}).Marshal([]byte{0xee})
		if m == nil { // a nil Map writes no section; an empty one is still a map
			want = append([]byte{0xee}, 0x00, 0x53, byte(DescApplicationProperties), 0xc1, 0x01, 0x00)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%d entries:\n got %x\nwant %x", n, b, want)
		}
	}
	b, err := AppendMapSection([]byte{1, 2}, DescApplicationProperties, func(b []byte) ([]byte, int, error) {
		b, err := AppendValue(append(b, 0x40), struct{}{}) // a type AMQP does not encode
		return b, 1, err
	})
	if err == nil || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatalf("failed section: %x, %v", b, err)
	}
}

// FuzzScanMap: ScanMap and NextSection never panic, hand out slices inside
// their input, and agree with the decoder: a map that decodes scans to the
// same number of entries.
func FuzzScanMap(f *testing.F) {
	f.Add([]byte{0xc1, 0x05, 0x02, 0xa1, 0x01, 'k', 0x41})
	b, _ := (&Message{ApplicationProperties: Map{{"a", int64(1)}, {"b", "c"}}, Data: [][]byte{{1}}}).Marshal(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		n := 0
		err := ScanMap(in, func(k, v []byte) bool {
			n++
			if len(k) == 0 || len(v) == 0 || len(k)+len(v) > len(in) {
				t.Fatalf("entry %x %x of %x", k, v, in)
			}
			return true
		})
		if v, _, derr := DecodeValue(in); derr == nil {
			if m, ok := v.(Map); ok && err == nil && n != len(m) {
				t.Fatalf("ScanMap saw %d entries of a %d-entry map", n, len(m))
			}
		}
		for off := 0; off < len(in); {
			sp, err := NextSection(in, off)
			if err != nil {
				break
			}
			if sp.Start != off || sp.Value < sp.Start || sp.End < sp.Value || sp.End > len(in) || sp.End == off {
				t.Fatalf("span %+v at %d of %d bytes", sp, off, len(in))
			}
			off = sp.End
		}
	})
}
