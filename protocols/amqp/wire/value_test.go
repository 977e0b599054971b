package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// h decodes hex written with spaces, e.g. "c0 03 02 41 42".
func h(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic("bad hex in test: " + s)
	}
	return b
}

// rep returns n bytes of value c as hex.
func rep(c byte, n int) string {
	return hex.EncodeToString(bytes.Repeat([]byte{c}, n))
}

// valueCase is one row of the primitive table: a Go value and its AMQP
// bytes. Canonical rows are what AppendValue writes; the others are other
// valid encodings of the value, which DecodeValue must accept.
type valueCase struct {
	name      string
	hex       string
	v         any
	canonical bool
}

func valueCases() []valueCase {
	long300 := strings.Repeat("x", 300)
	bin256 := bytes.Repeat([]byte{0xab}, 256)
	list300 := make([]any, 300)
	for i := range list300 {
		list300[i] = true
	}
	return []valueCase{
		// AMQP 1.0 §1.6.1 null.
		{"null", "40", nil, true},
		// §1.6.2 boolean: true, false, and the one-octet form.
		{"true", "41", true, true},
		{"false", "42", false, true},
		{"boolean 0x56 true", "56 01", true, false},
		{"boolean 0x56 false", "56 00", false, false},
		// §1.6.3–§1.6.4.
		{"ubyte", "50 ff", uint8(255), true},
		{"ubyte 0", "50 00", uint8(0), true},
		{"ushort", "60 12 34", uint16(0x1234), true},
		// §1.6.5 uint: uint0, smalluint, uint.
		{"uint0", "43", uint32(0), true},
		{"smalluint", "52 07", uint32(7), true},
		{"smalluint 255", "52 ff", uint32(255), true},
		{"uint 256", "70 00 00 01 00", uint32(256), true},
		{"uint max", "70 ff ff ff ff", uint32(math.MaxUint32), true},
		{"uint wide 7", "70 00 00 00 07", uint32(7), false},
		{"smalluint 0", "52 00", uint32(0), false},
		// §1.6.6 ulong: ulong0, smallulong, ulong.
		{"ulong0", "44", uint64(0), true},
		{"smallulong", "53 ff", uint64(255), true},
		{"ulong", "80 00 00 00 01 00 00 00 00", uint64(1 << 32), true},
		{"ulong wide 7", "80 00 00 00 00 00 00 00 07", uint64(7), false},
		{"smallulong 0", "53 00", uint64(0), false},
		// §1.6.7–§1.6.8.
		{"byte", "51 ff", int8(-1), true},
		{"short", "61 ff fe", int16(-2), true},
		// §1.6.9 int: smallint, int.
		{"smallint -1", "54 ff", int32(-1), true},
		{"smallint 127", "54 7f", int32(127), true},
		{"smallint -128", "54 80", int32(-128), true},
		{"int 128", "71 00 00 00 80", int32(128), true},
		{"int -129", "71 ff ff ff 7f", int32(-129), true},
		{"int wide -1", "71 ff ff ff ff", int32(-1), false},
		// §1.6.10 long: smalllong, long.
		{"smalllong -128", "55 80", int64(-128), true},
		{"long 128", "81 00 00 00 00 00 00 00 80", int64(128), true},
		{"long min", "81 80 00 00 00 00 00 00 00", int64(math.MinInt64), true},
		{"long wide -1", "81 ff ff ff ff ff ff ff ff", int64(-1), false},
		// §1.6.11–§1.6.12 IEEE 754 binary32/64.
		{"float", "72 3f c0 00 00", float32(1.5), true},
		{"double", "82 3f f8 00 00 00 00 00 00", float64(1.5), true},
		// §1.6.13–§1.6.15 decimals, raw.
		{"decimal32", "74 01 02 03 04", Decimal32{1, 2, 3, 4}, true},
		{"decimal64", "84 01 02 03 04 05 06 07 08", Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, true},
		{"decimal128", "94 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
			Decimal128{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, true},
		// §1.6.16 char: UTF-32BE.
		{"char", "73 00 01 f6 00", Char(0x1F600), true},
		// §1.6.17 timestamp: ms since the epoch, signed.
		{"timestamp", "83 00 00 01 8b cf e5 68 00", Timestamp(1700000000000), true},
		{"timestamp negative", "83 ff ff ff ff ff ff ff ff", Timestamp(-1), true},
		// §1.6.18 uuid.
		{"uuid", "98 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
			UUID{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, true},
		// §1.6.19 binary: vbin8, vbin32.
		{"vbin8 empty", "a0 00", []byte{}, true},
		{"vbin8", "a0 03 01 02 03", []byte{1, 2, 3}, true},
		{"vbin32 256", "b0 00 00 01 00 " + rep(0xab, 256), bin256, true},
		{"vbin32 short", "b0 00 00 00 02 aa bb", []byte{0xaa, 0xbb}, false},
		// §1.6.20 string: str8-utf8, str32-utf8.
		{"str8", "a1 05 68 65 6c 6c 6f", "hello", true},
		{"str8 empty", "a1 00", "", true},
		{"str8 utf8", "a1 03 e2 82 ac", "€", true},
		{"str32 300", "b1 00 00 01 2c " + rep('x', 300), long300, true},
		{"str32 short", "b1 00 00 00 02 68 69", "hi", false},
		// §1.6.21 symbol: sym8, sym32.
		{"sym8", "a3 04 61 6d 71 70", Symbol("amqp"), true},
		{"sym32 short", "b3 00 00 00 01 61", Symbol("a"), false},
		// §1.6.22 list: list0, list8, list32.
		{"list0", "45", []any{}, true},
		{"list8", "c0 03 02 41 42", []any{true, false}, true},
		{"list8 nested", "c0 05 03 45 52 09 40", []any{[]any{}, uint32(9), nil}, true},
		{"list32 short", "d0 00 00 00 06 00 00 00 02 41 42", []any{true, false}, false},
		{"list8 empty", "c0 01 00", []any{}, false},
		{"list32 300", "d0 00 00 01 30 00 00 01 2c " + rep(0x41, 300), list300, true},
		// §1.6.23 map: map8, map32; order kept.
		{"map8 empty", "c1 01 00", Map{}, true},
		{"map8", "c1 0c 04 a3 01 62 52 01 a3 01 61 a1 01 7a",
			Map{{Symbol("b"), uint32(1)}, {Symbol("a"), "z"}}, true},
		{"map32", "d1 00 00 00 09 00 00 00 02 a3 01 61 52 01",
			Map{{Symbol("a"), uint32(1)}}, false},
		{"map binary key", "c1 05 02 a0 01 00 40", Map{{[]byte{0}, nil}}, false},
		// §1.6.24 array: array8, array32; one constructor for all elements.
		{"array8 sym8", "e0 07 02 a3 01 61 02 62 63",
			Array{Type: TypeSymbol, Elems: []any{Symbol("a"), Symbol("bc")}}, true},
		{"array8 smalluint", "e0 04 02 52 01 02",
			Array{Type: TypeUint, Elems: []any{uint32(1), uint32(2)}}, true},
		{"array8 uint", "e0 0a 02 70 00 00 00 01 00 00 01 2c",
			Array{Type: TypeUint, Elems: []any{uint32(1), uint32(300)}}, true},
		{"array8 boolean", "e0 04 02 56 01 00",
			Array{Type: TypeBool, Elems: []any{true, false}}, true},
		{"array8 long", "e0 12 02 81 ff ff ff ff ff ff ff ff 00 00 00 00 00 00 03 e8",
			Array{Type: TypeLong, Elems: []any{int64(-1), int64(1000)}}, true},
		{"array8 smalllong", "e0 04 02 55 ff 05",
			Array{Type: TypeLong, Elems: []any{int64(-1), int64(5)}}, true},
		{"array8 smallint", "e0 03 01 54 fe", Array{Type: TypeInt, Elems: []any{int32(-2)}}, true},
		{"array8 smallulong", "e0 03 01 53 10", Array{Type: TypeUlong, Elems: []any{uint64(16)}}, true},
		{"array8 empty", "e0 02 00 54", Array{Type: TypeInt}, true},
		{"array8 empty null", "e0 02 00 40", Array{Type: TypeNull}, true},
		{"array8 uuid", "e0 12 01 98 " + rep(0x11, 16), Array{Type: TypeUUID, Elems: []any{UUID(bytes.Repeat([]byte{0x11}, 16))}}, true},
		{"array8 described", "e0 08 01 00 a3 01 78 a1 01 61",
			Array{Descriptor: Symbol("x"), Type: TypeString, Elems: []any{"a"}}, true},
		{"array8 of list32", "e0 0b 01 d0 00 00 00 05 00 00 00 01 41",
			Array{Type: TypeList, Elems: []any{[]any{true}}}, true},
		{"array8 of list8", "e0 05 01 c0 02 01 41",
			Array{Type: TypeList, Elems: []any{[]any{true}}}, false},
		{"array8 of array32", "e0 0d 01 f0 00 00 00 07 00 00 00 02 52 01 02",
			Array{Type: TypeArray, Elems: []any{Array{Type: TypeUint, Elems: []any{uint32(1), uint32(2)}}}}, true},
		{"array32 sym32", "f0 00 00 00 0a 00 00 00 01 b3 00 00 00 01 61",
			Array{Type: TypeSymbol, Elems: []any{Symbol("a")}}, false},
		// §1.5 described types: numeric and symbolic descriptors.
		{"described ulong", "00 53 24 45", Described{uint64(0x24), []any{}}, true},
		{"described symbol", "00 a3 03 66 6f 6f 41", Described{Symbol("foo"), true}, true},
		{"described big ulong", "00 80 00 00 46 8c 00 00 00 04 a1 01 78",
			Described{DescSelectorFilter, "x"}, true},
		{"described described", "00 53 01 00 53 02 40",
			Described{uint64(1), Described{uint64(2), nil}}, true},
	}
}

func TestValueTable(t *testing.T) {
	for _, tc := range valueCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := h(tc.hex)
			v, n, err := DecodeValue(in)
			if err != nil {
				t.Fatalf("decode %s: %v", tc.hex, err)
			}
			if n != len(in) {
				t.Fatalf("decode used %d of %d bytes", n, len(in))
			}
			if !reflect.DeepEqual(v, tc.v) {
				t.Fatalf("decode = %#v, want %#v", v, tc.v)
			}
			out, err := AppendValue(nil, tc.v)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if tc.canonical && !bytes.Equal(out, in) {
				t.Fatalf("encode = % x, want % x", out, in)
			}
			back, err := UnmarshalValue(out)
			if err != nil || !reflect.DeepEqual(back, tc.v) {
				t.Fatalf("re-decode = %#v, %v", back, err)
			}
		})
	}
}

func TestAppendValueAppends(t *testing.T) {
	prefix := []byte{0xde, 0xad}
	out, err := AppendValue(prefix, []any{uint32(1), "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := h("de ad c0 06 02 52 01 a1 01 78"); !bytes.Equal(out, want) {
		t.Fatalf("got % x, want % x", out, want)
	}
}

func TestAppendValueErrors(t *testing.T) {
	for name, v := range map[string]any{
		"int":             42,
		"array of null":   Array{Type: TypeNull, Elems: []any{nil}},
		"array mixed":     Array{Type: TypeUint, Elems: []any{uint32(1), "x"}},
		"array bad type":  Array{Type: Type(0x99)},
		"map bad value":   Map{{Symbol("a"), struct{}{}}},
		"list bad value":  []any{uint(1)},
		"described value": Described{uint64(1), make(chan int)},
	} {
		if _, err := AppendValue(nil, v); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	deep := any(nil)
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	if _, err := AppendValue(nil, deep); err == nil {
		t.Error("too deep: no error")
	}
}

func TestUnmarshalValueTrailing(t *testing.T) {
	_, err := UnmarshalValue(h("41 42"))
	var de *DecodeError
	if !errors.As(err, &de) || de.Offset != 1 {
		t.Fatalf("got %v, want DecodeError at 1", err)
	}
}

func TestMapGet(t *testing.T) {
	m := Map{
		{[]any{1}, "list"},
		{[]byte("k"), "bin"},
		{Symbol("k"), "sym"},
		{"k", "str"},
		{Map{}, "map"},
	}
	for key, want := range map[any]string{Symbol("k"): "sym", "k": "str"} {
		if v, ok := m.Get(key); !ok || v != want {
			t.Errorf("Get(%#v) = %v, %v", key, v, ok)
		}
	}
	if v, ok := m.Get([]byte("k")); !ok || v != "bin" {
		t.Errorf("Get([]byte) = %v, %v", v, ok)
	}
	if _, ok := m.Get([]any{1}); ok {
		t.Error("list key matched")
	}
	if _, ok := m.Get(uint32(1)); ok {
		t.Error("absent key matched")
	}
}

func TestTypesHelpers(t *testing.T) {
	u := UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got, want := u.String(), "12345678-9abc-def0-0123-456789abcdef"; got != want {
		t.Errorf("UUID.String = %s", got)
	}
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	ts := TimestampOf(now)
	if !ts.Time().Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("timestamp round trip = %v", ts.Time())
	}
	if TypeSymbol.String() != "symbol" || Type(0x99).String() != "type(0x99)" {
		t.Error("Type.String")
	}
	for _, v := range []any{nil, true, uint8(1), uint16(1), uint32(1), uint64(1), int8(1),
		int16(1), int32(1), int64(1), float32(1), float64(1), Decimal32{}, Decimal64{},
		Decimal128{}, Char('a'), Timestamp(1), UUID{}, []byte{}, "", Symbol(""), []any{},
		Map{}, Array{}} {
		if _, ok := TypeOf(v); !ok {
			t.Errorf("TypeOf(%T) unknown", v)
		}
	}
	if code, ok := DescriptorCode(SymSelectorFilter); !ok || code != DescSelectorFilter {
		t.Error("DescriptorCode symbol")
	}
}
