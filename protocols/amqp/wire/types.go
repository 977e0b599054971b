package wire

import (
	"bytes"
	"encoding/hex"
	"time"
)

// Symbol is an AMQP symbol: a value from a constrained domain, ASCII by
// convention. AMQP 1.0 §1.6.21.
type Symbol string

// UUID is an AMQP uuid, RFC-4122 bytes in network order. AMQP 1.0 §1.6.18.
type UUID [16]byte

// String formats u as 8-4-4-4-12 lowercase hex.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Timestamp is an AMQP timestamp: milliseconds since the Unix epoch, signed.
// AMQP 1.0 §1.6.17. It is an integer rather than a time.Time so that every
// value round-trips exactly.
type Timestamp int64

// TimestampOf returns t truncated to milliseconds.
func TimestampOf(t time.Time) Timestamp { return Timestamp(t.UnixMilli()) }

// Time returns ts as a UTC time.Time.
func (ts Timestamp) Time() time.Time { return time.UnixMilli(int64(ts)).UTC() }

// Char is an AMQP char: one UTF-32BE code point. AMQP 1.0 §1.6.16. The
// decoder does not check that the value is a valid code point.
type Char rune

// Decimal32 is an IEEE 754-2008 decimal32 in its raw big-endian bytes.
// AMQP 1.0 §1.6.13.
type Decimal32 [4]byte

// Decimal64 is an IEEE 754-2008 decimal64 in its raw big-endian bytes.
// AMQP 1.0 §1.6.14.
type Decimal64 [8]byte

// Decimal128 is an IEEE 754-2008 decimal128 in its raw big-endian bytes.
// AMQP 1.0 §1.6.15.
type Decimal128 [16]byte

// Described is a described value: a descriptor (a Symbol or a uint64 in
// practice, any value on the wire) and the value it describes. AMQP 1.0 §1.5.
//
// The generic decoder returns unrecognised and recognised descriptors alike
// as Described; the typed structs (performatives, sections, outcomes) decode
// their own descriptors.
type Described struct {
	Descriptor any
	Value      any
}

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	Key   any
	Value any
}

// Map is an AMQP map as an ordered list of entries: AMQP keys may be of any
// type (including ones Go cannot use as map keys, like binary) and encoding
// order is kept so that a decoded map re-encodes to the same bytes.
// AMQP 1.0 §1.6.23.
//
// A nil Map is absent (encoded as null where a field allows it); an empty
// non-nil Map is an empty map. The decoder does not reject duplicate keys;
// Get returns the first.
type Map []MapEntry

// Get returns the value of the first entry whose key equals key and whether
// there was one. Keys compare by AMQP type and value: Symbol("a") and "a" are
// different keys; []byte keys compare by content; list, map and array keys
// never match.
func (m Map) Get(key any) (any, bool) {
	for i := range m {
		if keyEqual(m[i].Key, key) {
			return m[i].Value, true
		}
	}
	return nil, false
}

// keyEqual compares two decoded keys without ever panicking on uncomparable
// dynamic types.
func keyEqual(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any, Map, Array, Described:
		return false
	}
	switch b.(type) {
	case []byte, []any, Map, Array, Described:
		return false
	}
	return a == b
}

// Array is an AMQP array: a sequence of values of one type sharing one
// constructor. AMQP 1.0 §1.6.24.
//
// Elems hold the decoded Go values of Type (for example Symbol for
// TypeSymbol, uint32 for TypeUint). When Descriptor is non-nil the array is
// an array of described values: every element is described by Descriptor and
// Elems hold the undescribed values.
type Array struct {
	Descriptor any
	Type       Type
	Elems      []any
}

// Type names an AMQP primitive type. Its value is the widest format code of
// the type, so Type(0xb3) is symbol (sym32). AMQP 1.0 §1.6.
type Type uint8

// The AMQP primitive types. AMQP 1.0 §1.6.1–§1.6.24.
const (
	TypeNull       Type = 0x40
	TypeBool       Type = 0x56
	TypeUbyte      Type = 0x50
	TypeUshort     Type = 0x60
	TypeUint       Type = 0x70
	TypeUlong      Type = 0x80
	TypeByte       Type = 0x51
	TypeShort      Type = 0x61
	TypeInt        Type = 0x71
	TypeLong       Type = 0x81
	TypeFloat      Type = 0x72
	TypeDouble     Type = 0x82
	TypeDecimal32  Type = 0x74
	TypeDecimal64  Type = 0x84
	TypeDecimal128 Type = 0x94
	TypeChar       Type = 0x73
	TypeTimestamp  Type = 0x83
	TypeUUID       Type = 0x98
	TypeBinary     Type = 0xb0
	TypeString     Type = 0xb1
	TypeSymbol     Type = 0xb3
	TypeList       Type = 0xd0
	TypeMap        Type = 0xd1
	TypeArray      Type = 0xf0
)

// String returns the type's name as the spec spells it.
func (t Type) String() string {
	if n := typeNameTable[t]; n != "" {
		return n
	}
	return "type(0x" + hex.EncodeToString([]byte{byte(t)}) + ")"
}

var typeNames = map[Type]string{
	TypeNull: "null", TypeBool: "boolean", TypeUbyte: "ubyte", TypeUshort: "ushort",
	TypeUint: "uint", TypeUlong: "ulong", TypeByte: "byte", TypeShort: "short",
	TypeInt: "int", TypeLong: "long", TypeFloat: "float", TypeDouble: "double",
	TypeDecimal32: "decimal32", TypeDecimal64: "decimal64", TypeDecimal128: "decimal128",
	TypeChar: "char", TypeTimestamp: "timestamp", TypeUUID: "uuid", TypeBinary: "binary",
	TypeString: "string", TypeSymbol: "symbol", TypeList: "list", TypeMap: "map",
	TypeArray: "array",
}

// typeNameTable is typeNames indexed by type, for String.
var typeNameTable = func() (t [256]string) {
	for k, v := range typeNames {
		t[k] = v
	}
	return t
}()

// TypeOf returns the AMQP type that AppendValue encodes v as, and false for
// Go types it does not encode (including Described and Marshalers, whose
// type is that of their value).
func TypeOf(v any) (Type, bool) {
	switch v.(type) {
	case nil:
		return TypeNull, true
	case bool:
		return TypeBool, true
	case uint8:
		return TypeUbyte, true
	case uint16:
		return TypeUshort, true
	case uint32:
		return TypeUint, true
	case uint64:
		return TypeUlong, true
	case int8:
		return TypeByte, true
	case int16:
		return TypeShort, true
	case int32:
		return TypeInt, true
	case int64:
		return TypeLong, true
	case float32:
		return TypeFloat, true
	case float64:
		return TypeDouble, true
	case Decimal32:
		return TypeDecimal32, true
	case Decimal64:
		return TypeDecimal64, true
	case Decimal128:
		return TypeDecimal128, true
	case Char:
		return TypeChar, true
	case Timestamp:
		return TypeTimestamp, true
	case UUID:
		return TypeUUID, true
	case []byte:
		return TypeBinary, true
	case string:
		return TypeString, true
	case Symbol:
		return TypeSymbol, true
	case []any:
		return TypeList, true
	case Map:
		return TypeMap, true
	case Array:
		return TypeArray, true
	}
	return 0, false
}

// Format codes. AMQP 1.0 §1.6 (the encodings of each type) and §1.2
// (constructors: 0x00 introduces a described type).
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUint0      = 0x43
	codeUlong0     = 0x44
	codeList0      = 0x45
	codeUbyte      = 0x50
	codeByte       = 0x51
	codeSmallUint  = 0x52
	codeSmallUlong = 0x53
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeBool       = 0x56
	codeUshort     = 0x60
	codeShort      = 0x61
	codeUint       = 0x70
	codeInt        = 0x71
	codeFloat      = 0x72
	codeChar       = 0x73
	codeDecimal32  = 0x74
	codeUlong      = 0x80
	codeLong       = 0x81
	codeDouble     = 0x82
	codeTimestamp  = 0x83
	codeDecimal64  = 0x84
	codeDecimal128 = 0x94
	codeUUID       = 0x98
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeVbin32     = 0xb0
	codeStr32      = 0xb1
	codeSym32      = 0xb3
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeList32     = 0xd0
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// typeOfCode maps every format code the decoder accepts to its type.
var typeOfCode = [256]Type{
	codeNull: TypeNull, codeTrue: TypeBool, codeFalse: TypeBool, codeBool: TypeBool,
	codeUbyte: TypeUbyte, codeUshort: TypeUshort,
	codeUint0: TypeUint, codeSmallUint: TypeUint, codeUint: TypeUint,
	codeUlong0: TypeUlong, codeSmallUlong: TypeUlong, codeUlong: TypeUlong,
	codeByte: TypeByte, codeShort: TypeShort,
	codeSmallInt: TypeInt, codeInt: TypeInt, codeSmallLong: TypeLong, codeLong: TypeLong,
	codeFloat: TypeFloat, codeDouble: TypeDouble,
	codeDecimal32: TypeDecimal32, codeDecimal64: TypeDecimal64, codeDecimal128: TypeDecimal128,
	codeChar: TypeChar, codeTimestamp: TypeTimestamp, codeUUID: TypeUUID,
	codeVbin8: TypeBinary, codeVbin32: TypeBinary, codeStr8: TypeString, codeStr32: TypeString,
	codeSym8: TypeSymbol, codeSym32: TypeSymbol,
	codeList0: TypeList, codeList8: TypeList, codeList32: TypeList,
	codeMap8: TypeMap, codeMap32: TypeMap, codeArray8: TypeArray, codeArray32: TypeArray,
}

// minWidth returns the fewest bytes a value of format code c occupies after
// its constructor, so that a declared element count can be checked against
// the bytes left before anything is allocated. AMQP 1.0 §1.2: the upper
// nibble of a format code gives its width category.
func minWidth(c byte) int {
	switch c >> 4 {
	case 0x4:
		return 0
	case 0x5:
		return 1
	case 0x6:
		return 2
	case 0x7:
		return 4
	case 0x8:
		return 8
	case 0x9:
		return 16
	case 0xa:
		return 1 // size
	case 0xb:
		return 4
	case 0xc, 0xe:
		return 2 // size, count
	case 0xd, 0xf:
		return 8
	}
	return 0
}
