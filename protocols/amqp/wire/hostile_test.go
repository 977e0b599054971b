package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// mustDecodeError fails unless err is a *DecodeError.
func mustDecodeError(t *testing.T, what string, err error) *DecodeError {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%s: got %v (%T), want *DecodeError", what, err, err)
	}
	if de.Condition() != CondDecodeError || !strings.HasPrefix(de.Error(), "amqp decode error at byte ") {
		t.Fatalf("%s: bad error %q", what, de.Error())
	}
	return de
}

// TestTruncated decodes every proper prefix of every table encoding: each is
// an error, never a panic.
func TestTruncated(t *testing.T) {
	for _, tc := range valueCases() {
		in := h(tc.hex)
		for i := range len(in) {
			_, err := UnmarshalValue(in[:i])
			mustDecodeError(t, tc.name+" prefix", err)
		}
	}
}

// bytesAllocated returns the bytes allocated by n runs of fn.
func bytesAllocated(n int, fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		fn()
	}
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHugeDeclaredSizes: sizes and counts beyond the input are rejected
// before anything is allocated for them.
func TestHugeDeclaredSizes(t *testing.T) {
	cases := map[string]string{
		"list8 255 elements in 3 bytes": "c0 ff ff 40 40",
		"list8 count over size":         "c0 02 ff 40",
		"list32 4G size":                "d0 ff ff ff ff ff ff ff ff",
		"list32 4G count":               "d0 00 00 00 05 ff ff ff ff 40",
		"map32 4G count":                "d1 00 00 00 06 ff ff ff fe 40 40",
		"map odd count":                 "c1 03 01 40 40",
		"array32 4G count":              "f0 00 00 00 06 ff ff ff ff 52 01",
		"array32 count over width":      "f0 00 00 00 09 00 00 00 02 70 00 00 00 01",
		"array of null":                 "f0 00 00 00 05 7f ff ff ff 40",
		"array of true":                 "e0 02 ff 41",
		"array of list0":                "e0 02 ff 45",
		"vbin32 4G":                     "b0 ff ff ff ff 00",
		"str32 4G":                      "b1 ff ff ff ff",
		"sym8 over":                     "a3 05 61",
		"list8 size zero":               "c0 00",
		"list32 size below count":       "d0 00 00 00 03 00 00 00",
		"list elements short of size":   "c0 03 01 41 41",
		"map elements short of size":    "c1 04 02 41 41 41",
		"array elements short of size":  "e0 05 01 52 01 01 01",
		"boolean octet 2":               "56 02",
		"unknown code 0x01":             "01",
		"unknown code 0x57":             "57 00",
		"unknown code 0xff":             "ff",
		"unknown array element code":    "e0 03 01 57 00",
		"nested described array ctor":   "e0 05 01 00 53 00 00 53 01 40",
		"described missing value":       "00 53 24",
		"described missing descriptor":  "00",
		"array described missing ctor":  "e0 03 01 00 40",
	}
	for name, hx := range cases {
		in := h(hx)
		_, err := UnmarshalValue(in)
		de := mustDecodeError(t, name, err)
		t.Logf("%s: %v", name, de)
		// Whatever the declared size, decoding costs a few small objects
		// (the error and its message), never the declared size.
		if n := bytesAllocated(100, func() { _, _ = UnmarshalValue(in) }); n > 100*1024 {
			t.Errorf("%s: %d bytes allocated in 100 runs", name, n)
		}
	}
}

// TestHugeListAllocs: the brief's example, a list claiming far more
// elements than its bytes hold, costs only the error.
func TestHugeListAllocs(t *testing.T) {
	for _, hx := range []string{"c0 03 ff 40 40", "d0 00 00 00 08 ff ff ff ff 40 40 40 40"} {
		in := h(hx)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := UnmarshalValue(in); err == nil {
				t.Fatal("no error")
			}
		})
		if allocs > 4 {
			t.Errorf("%s: %v allocations", hx, allocs)
		}
	}
}

// TestDepthLimit: nesting up to MaxDepth decodes; one more is an error, for
// lists, maps, arrays and described values alike.
func TestDepthLimit(t *testing.T) {
	nest := func(depth int, open, close string) []byte {
		return h(strings.Repeat(open, depth) + "40" + strings.Repeat(close, depth))
	}
	// list32 of one element: size and count patched below.
	listOf := func(depth int) []byte {
		v := any(nil)
		for range depth {
			v = []any{v}
		}
		b, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("encode depth %d: %v", depth, err)
		}
		return b
	}
	if _, err := UnmarshalValue(listOf(MaxDepth)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	deep := append(h("c0 ff 01"), listOf(MaxDepth)...)
	deep[1] = byte(len(deep) - 2)
	mustDecodeError(t, "list depth", func() error { _, err := UnmarshalValue(deep); return err }())

	described := nest(MaxDepth, "00 53 01 ", "")
	if _, err := UnmarshalValue(described); err != nil {
		t.Fatalf("described depth %d: %v", MaxDepth, err)
	}
	mustDecodeError(t, "described depth", func() error {
		_, err := UnmarshalValue(nest(MaxDepth+1, "00 53 01 ", ""))
		return err
	}())
	// A descriptor chain (00 00 00 ...) recurses through descriptors.
	mustDecodeError(t, "descriptor chain", func() error {
		_, err := UnmarshalValue(bytes.Repeat([]byte{0}, 10000))
		return err
	}())
	// Arrays of arrays.
	v := any(Array{Type: TypeUint, Elems: []any{uint32(1)}})
	for range MaxDepth - 1 {
		v = Array{Type: TypeArray, Elems: []any{v}}
	}
	b, err := AppendValue(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalValue(b); err != nil {
		t.Fatalf("array depth %d: %v", MaxDepth, err)
	}
	if _, err := AppendValue(nil, Array{Type: TypeArray, Elems: []any{v}}); err == nil {
		t.Fatal("encoding an array nested past MaxDepth succeeded")
	}
	// The same nesting through a skipped extra composite field.
	skipDeep := append(h("00 53 17 c0 00 02 40"), nest(MaxDepth+1, "00 53 01 ", "")...)
	skipDeep[4] = byte(len(skipDeep) - 5)
	var e End
	mustDecodeError(t, "skipped field depth", e.Unmarshal(skipDeep))
}

func TestDecodeErrorOffset(t *testing.T) {
	// The bad boolean octet is at byte 4 of the list.
	_, err := UnmarshalValue(h("c0 04 02 41 56 07"))
	de := mustDecodeError(t, "offset", err)
	if de.Offset != 5 {
		t.Fatalf("offset = %d, want 5 (%v)", de.Offset, de)
	}
}

// TestFrameReaderHostile: header checks happen before the body is read or
// allocated.
func TestFrameReaderHostile(t *testing.T) {
	cases := map[string]string{
		"size below header": "00 00 00 07 02 00 00 00",
		"size over max":     "00 01 00 01 02 00 00 00",
		"size 4G":           "ff ff ff ff 02 00 00 00",
		"doff below 2":      "00 00 00 08 01 00 00 00",
		"doff past end":     "00 00 00 0c 04 00 00 00 00 00 00 00",
	}
	for name, hx := range cases {
		fr := NewFrameReader(bytes.NewReader(h(hx)), 65536)
		_, err := fr.ReadFrame()
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Condition() != CondFramingError {
			t.Errorf("%s: got %v, want *FrameError", name, err)
		}
	}
	// A frame that declares 1 MiB and sends 10 bytes: an unexpected EOF,
	// having allocated no more than the first chunk.
	short := h("00 10 00 00 02 00 00 00 " + rep(0, 10))
	fr := NewFrameReader(bytes.NewReader(short), 1<<20)
	if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: %v", err)
	}
	n := bytesAllocated(10, func() {
		_, _ = NewFrameReader(bytes.NewReader(short), 1<<20).ReadFrame()
	})
	if n > 10*(readChunk+4096) {
		t.Fatalf("short 1 MiB frame allocated %d bytes in 10 runs", n)
	}
	// A truncated header.
	fr = NewFrameReader(bytes.NewReader(h("00 00 00")), 512)
	if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: %v", err)
	}
}

// TestPerformativeHostile: wrong constructors, wrong types and missing
// mandatory fields in performatives are DecodeErrors.
func TestPerformativeHostile(t *testing.T) {
	cases := map[string]string{
		"not described":           "c0 01 00",
		"descriptor not ulong":    "00 a1 01 61 45",
		"unknown symbol":          "00 a3 03 66 6f 6f 45",
		"open as map":             "00 53 10 c1 01 00",
		"open without fields":     "00 53 10 45",
		"open container-id null":  "00 53 10 c0 02 01 40",
		"open container-id uint":  "00 53 10 c0 02 01 43",
		"begin missing windows":   "00 53 11 c0 03 02 40 43",
		"attach role missing":     "00 53 12 c0 05 02 a1 01 61 43",
		"attach bad snd mode":     "00 53 12 c0 08 04 a1 01 61 43 41 50 07",
		"transfer handle string":  "00 53 14 c0 03 01 a1 00",
		"transfer bad state":      "00 53 14 c0 09 08 43 40 40 40 40 40 40 41",
		"transfer unknown state":  "00 53 14 c0 0c 08 43 40 40 40 40 40 40 00 53 99 45",
		"flow windows missing":    "00 53 13 c0 03 02 40 43",
		"disposition no first":    "00 53 15 c0 02 01 41",
		"detach bad error":        "00 53 16 c0 04 03 43 42 41",
		"error missing condition": "00 53 16 c0 07 03 43 42 00 53 1d 45",
		"close bad list size":     "00 53 18 c0 05 01 40",
		"end trailing fields bad": "00 53 17 c0 03 02 40 ff",
		"sasl-init no mechanism":  "00 53 41 45",
		"sasl-mechanisms empty":   "00 53 40 c0 05 01 e0 02 00 a3",
		"sasl-outcome bad code":   "00 53 44 c0 02 01 43",
		"source bad durable":      "00 53 12 c0 11 07 a1 01 61 43 42 40 40 00 53 28 c0 04 02 40 52 07",
	}
	for name, hx := range cases {
		typ := FrameAMQP
		if strings.HasPrefix(name, "sasl") {
			typ = FrameSASL
		}
		_, err := DecodeFrameBody(Frame{Type: typ, Body: h(hx)})
		t.Logf("%s: %v", name, mustDecodeError(t, name, err))
	}
	// A SASL body in an AMQP frame, an AMQP body in a SASL frame.
	_, err := DecodeFrameBody(Frame{Type: FrameAMQP, Body: h("00 53 44 c0 03 01 50 00")})
	mustDecodeError(t, "sasl in amqp frame", err)
	_, err = DecodeFrameBody(Frame{Type: FrameSASL, Body: h("00 53 18 45")})
	mustDecodeError(t, "amqp in sasl frame", err)
	_, err = DecodeFrameBody(Frame{Type: FrameAMQP, Body: h("00 53 18 45 00")})
	mustDecodeError(t, "bytes after close", err)
	_, err = DecodeFrameBody(Frame{Type: 7, Body: h("00 53 18 45")})
	var fe *FrameError
	if !errors.As(err, &fe) {
		t.Fatalf("unknown frame type: %v", err)
	}
}

// TestMessageHostile: sections that repeat, mix or are unknown.
func TestMessageHostile(t *testing.T) {
	cases := map[string]string{
		"not described":           "a1 01 61",
		"unknown section":         "00 53 79 45",
		"unknown symbolic":        "00 a3 01 78 45",
		"repeated header":         "00 53 70 45 00 53 70 45",
		"data then value":         "00 53 75 a0 00 00 53 77 40",
		"value then sequence":     "00 53 77 40 00 53 76 45",
		"two values":              "00 53 77 40 00 53 77 40",
		"data null":               "00 53 75 40",
		"data not binary":         "00 53 75 a1 00",
		"sequence not list":       "00 53 76 41",
		"annotations not map":     "00 53 72 45",
		"properties bad to":       "00 53 73 c0 04 03 40 40 43",
		"header priority uint":    "00 53 70 c0 03 02 40 43",
		"truncated value section": "00 53 77",
	}
	for name, hx := range cases {
		_, err := UnmarshalMessage(h(hx))
		t.Logf("%s: %v", name, mustDecodeError(t, name, err))
	}
	if _, err := ScanSections(h("00 53 24 45")); err == nil {
		t.Error("ScanSections accepted a non-section")
	}
}
