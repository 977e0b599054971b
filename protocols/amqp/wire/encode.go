package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Marshaler is implemented by the typed composites of this package
// (performatives, outcomes, terminus, sections' parts): Marshal appends the
// value's AMQP encoding to b and returns the extended slice. AppendValue
// encodes any Marshaler found inside a list, map or described value.
type Marshaler interface {
	Marshal(b []byte) ([]byte, error)
}

// Unmarshaler is implemented by the typed composites of this package:
// Unmarshal decodes b, which must hold exactly one encoded value (for
// Transfer: the performative and then its payload). Binary fields of the
// result alias b.
type Unmarshaler interface {
	Unmarshal(b []byte) error
}

// errTooLong is returned for a value whose size does not fit in 32 bits.
var errTooLong = errors.New("wire: value longer than 4 GiB cannot be encoded")

// AppendValue appends the AMQP encoding of v to b. v is one of the Go types
// DecodeValue returns (see there), or a Marshaler. AMQP 1.0 §1.6.
//
// The smallest encoding is chosen: uint0/smalluint/uint, smallint/int,
// str8/str32, list0/list8/list32, map8/map32, array8/array32 and so on. The
// elements of an array of lists, maps or arrays use the 32-bit form. A Map
// keeps its order. An error is returned for an unsupported Go type, a
// non-empty array of nulls, an array whose elements are not all of its
// Type, nesting deeper than MaxDepth, or a size over 4 GiB.
func AppendValue(b []byte, v any) ([]byte, error) {
	return appendValue(b, v, 0)
}

// appendValue appends v at nesting depth depth.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, codeNull), nil
	case bool:
		if v {
			return append(b, codeTrue), nil
		}
		return append(b, codeFalse), nil
	case uint8:
		return append(b, codeUbyte, v), nil
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, codeUshort), v), nil
	case uint32:
		return appendUint(b, v), nil
	case uint64:
		return appendUlong(b, v), nil
	case int8:
		return append(b, codeByte, byte(v)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, codeShort), uint16(v)), nil
	case int32:
		if v >= math.MinInt8 && v <= math.MaxInt8 {
			return append(b, codeSmallInt, byte(v)), nil
		}
		return binary.BigEndian.AppendUint32(append(b, codeInt), uint32(v)), nil
	case int64:
		if v >= math.MinInt8 && v <= math.MaxInt8 {
			return append(b, codeSmallLong, byte(v)), nil
		}
		return binary.BigEndian.AppendUint64(append(b, codeLong), uint64(v)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, codeFloat), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, codeDouble), math.Float64bits(v)), nil
	case Decimal32:
		return append(append(b, codeDecimal32), v[:]...), nil
	case Decimal64:
		return append(append(b, codeDecimal64), v[:]...), nil
	case Decimal128:
		return append(append(b, codeDecimal128), v[:]...), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, codeChar), uint32(v)), nil
	case Timestamp:
		return binary.BigEndian.AppendUint64(append(b, codeTimestamp), uint64(v)), nil
	case UUID:
		return append(append(b, codeUUID), v[:]...), nil
	case []byte:
		return appendVar(b, codeVbin8, codeVbin32, v)
	case string:
		return appendVar(b, codeStr8, codeStr32, v)
	case Symbol:
		return appendVar(b, codeSym8, codeSym32, v)
	case []any:
		if len(v) == 0 {
			return append(b, codeList0), nil
		}
		return compact(appendList32(append(b, codeList32), v, depth+1))
	case Map:
		return compact(appendMap32(append(b, codeMap32), v, depth+1))
	case Array:
		return compact(appendArray32(append(b, codeArray32), v, depth+1))
	case Described:
		if depth >= MaxDepth {
			return b, errTooDeep
		}
		b, err := appendValue(append(b, codeDescribed), v.Descriptor, depth+1)
		if err != nil {
			return b, err
		}
		return appendValue(b, v.Value, depth+1)
	case Marshaler:
		return v.Marshal(b)
	}
	return b, fmt.Errorf("wire: cannot encode %T as an amqp value", v)
}

var errTooDeep = errors.New("wire: value nested deeper than MaxDepth")

// appendUint appends a uint in its smallest encoding. AMQP 1.0 §1.6.5.
func appendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v <= math.MaxUint8:
		return append(b, codeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, codeUint), v)
}

// appendUlong appends a ulong in its smallest encoding. AMQP 1.0 §1.6.6.
func appendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v <= math.MaxUint8:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUlong), v)
}

// appendVar appends a binary, string or symbol with the 1-octet size code
// c8 when it fits, else c32. AMQP 1.0 §1.6.19–§1.6.21.
func appendVar[S ~string | ~[]byte](b []byte, c8, c32 byte, v S) ([]byte, error) {
	switch {
	case len(v) <= math.MaxUint8:
		b = append(b, c8, byte(len(v)))
	case uint64(len(v)) <= math.MaxUint32:
		b = binary.BigEndian.AppendUint32(append(b, c32), uint32(len(v)))
	default:
		return b, errTooLong
	}
	return append(b, v...), nil
}

// compoundHeader is the size of a 32-bit compound header after its code:
// size and count.
const compoundHeader = 8

// begin32 appends a placeholder size and count and returns the offset of the
// size.
func begin32(b []byte) ([]byte, int) {
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0), len(b)
}

// end32 fills in the size and count of the 32-bit compound whose size is at
// hdr.
func end32(b []byte, hdr, count int) ([]byte, error) {
	size := len(b) - hdr - 4
	if uint64(size) > math.MaxUint32 || uint64(count) > math.MaxUint32 {
		return b, errTooLong
	}
	binary.BigEndian.PutUint32(b[hdr:], uint32(size))
	binary.BigEndian.PutUint32(b[hdr+4:], uint32(count))
	return b, nil
}

// appendList32 appends the size, count and elements of a list32 (its code
// already appended).
func appendList32(b []byte, l []any, depth int) ([]byte, int, error) {
	if depth > MaxDepth {
		return b, 0, errTooDeep
	}
	b, hdr := begin32(b)
	var err error
	for _, v := range l {
		if b, err = appendValue(b, v, depth); err != nil {
			return b, hdr, err
		}
	}
	b, err = end32(b, hdr, len(l))
	return b, hdr, err
}

// appendMap32 appends the size, count and entries of a map32.
func appendMap32(b []byte, m Map, depth int) ([]byte, int, error) {
	if depth > MaxDepth {
		return b, 0, errTooDeep
	}
	b, hdr := begin32(b)
	var err error
	for _, e := range m {
		if b, err = appendValue(b, e.Key, depth); err != nil {
			return b, hdr, err
		}
		if b, err = appendValue(b, e.Value, depth); err != nil {
			return b, hdr, err
		}
	}
	b, err = end32(b, hdr, 2*len(m))
	return b, hdr, err
}

// compact rewrites the 32-bit compound whose size field is at hdr (its code
// at hdr-1) to its 8-bit form when size and count fit in one octet each.
// AMQP 1.0 §1.2: list8/map8/array8 carry a 1-octet size and count.
func compact(b []byte, hdr int, err error) ([]byte, error) {
	if err != nil {
		return b, err
	}
	body := len(b) - hdr - compoundHeader
	count := binary.BigEndian.Uint32(b[hdr+4:])
	if body+1 > math.MaxUint8 || count > math.MaxUint8 {
		return b, nil
	}
	b[hdr-1] -= 0x10 // list32→list8, map32→map8, array32→array8
	b[hdr] = byte(body + 1)
	b[hdr+1] = byte(count)
	copy(b[hdr+2:], b[hdr+compoundHeader:])
	return b[:len(b)-6], nil
}

// arrayCode chooses the element constructor of an array: the smallest
// encoding that holds every element, never a zero-width one.
func arrayCode(a Array) (byte, error) {
	for _, e := range a.Elems {
		if t, ok := TypeOf(e); !ok || t != a.Type {
			return 0, fmt.Errorf("wire: array of %v holds a %T", a.Type, e)
		}
	}
	switch a.Type {
	case TypeNull:
		if len(a.Elems) > 0 {
			return 0, errors.New("wire: cannot encode a non-empty array of null")
		}
		return codeNull, nil
	case TypeUint:
		for _, e := range a.Elems {
			if e.(uint32) > math.MaxUint8 {
				return codeUint, nil
			}
		}
		return codeSmallUint, nil
	case TypeUlong:
		for _, e := range a.Elems {
			if e.(uint64) > math.MaxUint8 {
				return codeUlong, nil
			}
		}
		return codeSmallUlong, nil
	case TypeInt:
		for _, e := range a.Elems {
			if v := e.(int32); v < math.MinInt8 || v > math.MaxInt8 {
				return codeInt, nil
			}
		}
		return codeSmallInt, nil
	case TypeLong:
		for _, e := range a.Elems {
			if v := e.(int64); v < math.MinInt8 || v > math.MaxInt8 {
				return codeLong, nil
			}
		}
		return codeSmallLong, nil
	case TypeBinary, TypeString, TypeSymbol:
		code := byte(a.Type) - 0x10 // vbin8, str8, sym8
		for _, e := range a.Elems {
			if n := varLen(e); uint64(n) > math.MaxUint32 {
				return 0, errTooLong
			} else if n > math.MaxUint8 {
				code = byte(a.Type)
			}
		}
		return code, nil
	case TypeBool, TypeUbyte, TypeUshort, TypeByte, TypeShort, TypeFloat, TypeDouble,
		TypeDecimal32, TypeDecimal64, TypeDecimal128, TypeChar, TypeTimestamp, TypeUUID,
		TypeList, TypeMap, TypeArray:
		return byte(a.Type), nil
	}
	return 0, fmt.Errorf("wire: unknown array element type %v", a.Type)
}

// varLen returns the length of a binary, string or symbol.
func varLen(v any) int {
	switch v := v.(type) {
	case []byte:
		return len(v)
	case string:
		return len(v)
	case Symbol:
		return len(v)
	}
	return 0
}

// appendArray32 appends the size, count, constructor and elements of an
// array32. AMQP 1.0 §1.6.24.
func appendArray32(b []byte, a Array, depth int) ([]byte, int, error) {
	if depth > MaxDepth {
		return b, 0, errTooDeep
	}
	b, hdr := begin32(b)
	code, err := arrayCode(a)
	if err != nil {
		return b, hdr, err
	}
	if a.Descriptor != nil {
		if b, err = appendValue(append(b, codeDescribed), a.Descriptor, depth); err != nil {
			return b, hdr, err
		}
	}
	b = append(b, code)
	for _, e := range a.Elems {
		if b, err = appendElem(b, code, e, depth); err != nil {
			return b, hdr, err
		}
	}
	b, err = end32(b, hdr, len(a.Elems))
	return b, hdr, err
}

// appendElem appends the data of array element v, whose constructor code
// was written once for the whole array.
func appendElem(b []byte, code byte, v any, depth int) ([]byte, error) {
	switch code {
	case codeBool:
		if v.(bool) {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case codeSmallUint:
		return append(b, byte(v.(uint32))), nil
	case codeSmallUlong:
		return append(b, byte(v.(uint64))), nil
	case codeSmallInt:
		return append(b, byte(v.(int32))), nil
	case codeSmallLong:
		return append(b, byte(v.(int64))), nil
	case codeUint:
		return binary.BigEndian.AppendUint32(b, v.(uint32)), nil
	case codeUlong:
		return binary.BigEndian.AppendUint64(b, v.(uint64)), nil
	case codeInt:
		return binary.BigEndian.AppendUint32(b, uint32(v.(int32))), nil
	case codeLong:
		return binary.BigEndian.AppendUint64(b, uint64(v.(int64))), nil
	case codeVbin8, codeStr8, codeSym8:
		b = append(b, byte(varLen(v)))
		return appendVarData(b, v), nil
	case codeVbin32, codeStr32, codeSym32:
		b = binary.BigEndian.AppendUint32(b, uint32(varLen(v)))
		return appendVarData(b, v), nil
	case codeList32:
		b, _, err := appendList32(b, v.([]any), depth+1)
		return b, err
	case codeMap32:
		b, _, err := appendMap32(b, v.(Map), depth+1)
		return b, err
	case codeArray32:
		b, _, err := appendArray32(b, v.(Array), depth+1)
		return b, err
	}
	// Fixed-width types: encode whole and drop the constructor.
	start := len(b)
	b, err := appendValue(b, v, depth)
	if err != nil {
		return b, err
	}
	return append(b[:start], b[start+1:]...), nil
}

// appendVarData appends the bytes of a binary, string or symbol.
func appendVarData(b []byte, v any) []byte {
	switch v := v.(type) {
	case []byte:
		return append(b, v...)
	case string:
		return append(b, v...)
	case Symbol:
		return append(b, v...)
	}
	return b
}

// AppendString appends s as an AMQP string: str8, or str32 when longer
// than 255 bytes. AMQP 1.0 §1.6.20. Unlike AppendValue it takes the string
// as it is, so a caller encoding many does not box each in an interface.
func AppendString(b []byte, s string) ([]byte, error) {
	return appendVar(b, codeStr8, codeStr32, s)
}

// AppendMapSection appends a described map section (delivery or message
// annotations, application properties, footer: AMQP 1.0 §3.2) with
// descriptor code, whose entries fill appends (key and value alternately,
// with AppendValue, AppendString or a Marshal method), returning how many
// entries (pairs) it wrote. A caller can encode a map this way without
// building a Map. The smallest encoding (map8 or map32) is chosen; on an
// error nothing is appended.
func AppendMapSection(b []byte, code uint64, fill func(b []byte) ([]byte, int, error)) ([]byte, error) {
	start := len(b)
	b = append(appendUlong(append(b, codeDescribed), code), codeMap32)
	b, hdr := begin32(b)
	b, n, err := fill(b)
	if err == nil {
		b, err = end32(b, hdr, 2*n)
	}
	if b, err = compact(b, hdr, err); err != nil {
		return b[:start], err
	}
	return b, nil
}
