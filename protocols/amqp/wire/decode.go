package wire

import (
	"encoding/binary"
	"math"
	"strconv"
)

// MaxDepth is the deepest nesting of described values, lists, maps and
// arrays the decoder accepts; deeper input is a DecodeError, so a hostile
// peer cannot exhaust the stack. A performative or section counts as one
// level.
const MaxDepth = 32

// DecodeValue decodes the first AMQP value in b and returns it with the
// number of bytes it used. AMQP 1.0 §1.2 (constructors), §1.6 (encodings).
//
// Every encoding of every type is accepted. Values decode to: nil, bool,
// uint8, uint16, uint32, uint64, int8, int16, int32, int64, float32,
// float64, Decimal32, Decimal64, Decimal128, Char, Timestamp, UUID, []byte
// (binary), string, Symbol, []any (list), Map, Array and Described.
//
// Binary values alias b (their capacity is clipped, so appending to one
// never writes into b); strings and symbols are copies. Every size the input
// declares is checked against the bytes that remain before anything is
// allocated. Errors are *DecodeError.
func DecodeValue(b []byte) (v any, n int, err error) {
	d := decoder{b: b}
	if v, err = d.value(); err != nil {
		return nil, 0, err
	}
	return v, d.off, nil
}

// UnmarshalValue decodes b, which must hold exactly one AMQP value.
func UnmarshalValue(b []byte) (any, error) {
	d := decoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.off != len(b) {
		return nil, d.fail("trailing bytes after value")
	}
	return v, nil
}

// decoder reads AMQP values from b starting at off. While a compound value
// is being read, b is re-sliced to end where that value ends, so nothing
// inside can read past it; offsets stay relative to the original input.
type decoder struct {
	b     []byte
	off   int
	depth int
}

// fail returns a *DecodeError at the current offset.
func (d *decoder) fail(reason string) error {
	return &DecodeError{Offset: d.off, Reason: reason}
}

// failAt returns a *DecodeError at offset off.
func failAt(off int, reason string) error {
	return &DecodeError{Offset: off, Reason: reason}
}

// left returns how many bytes remain.
func (d *decoder) left() int { return len(d.b) - d.off }

// need fails unless n more bytes remain for a value of format code c. n
// is uint64 so that a declared uint32 size never overflows int. The
// message is built only on failure: need runs for every variable-width
// value.
func (d *decoder) need(n uint64, c byte) error {
	if n > uint64(d.left()) {
		return d.fail(typeOfCode[c].String() + " needs " + strconv.FormatUint(n, 10) +
			" bytes, " + strconv.Itoa(d.left()) + " left")
	}
	return nil
}

func (d *decoder) u8() (byte, error) {
	if d.off >= len(d.b) {
		return 0, d.fail("unexpected end of data")
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) u16() (uint16, error) {
	if d.left() < 2 {
		return 0, d.fail("unexpected end of data")
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if d.left() < 4 {
		return 0, d.fail("unexpected end of data")
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *decoder) u64() (uint64, error) {
	if d.left() < 8 {
		return 0, d.fail("unexpected end of data")
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

// fixed returns the next n bytes (n small and constant).
func (d *decoder) fixed(n int) ([]byte, error) {
	if d.left() < n {
		return nil, d.fail("unexpected end of data")
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

// enter counts one level of nesting.
func (d *decoder) enter() error {
	if d.depth >= MaxDepth {
		return d.fail("nesting deeper than " + strconv.Itoa(MaxDepth))
	}
	d.depth++
	return nil
}

// value reads one value, constructor included.
func (d *decoder) value() (any, error) {
	c, err := d.u8()
	if err != nil {
		return nil, err
	}
	if c == codeDescribed {
		return d.described()
	}
	return d.primitive(c)
}

// described reads the descriptor and value of a described type whose 0x00
// has been read. AMQP 1.0 §1.2: constructor = format-code / %x00 descriptor
// constructor.
func (d *decoder) described() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	desc, err := d.value()
	if err != nil {
		return nil, err
	}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.depth--
	return Described{Descriptor: desc, Value: v}, nil
}

// primitive reads the data of a value whose format code c has been read.
func (d *decoder) primitive(c byte) (any, error) {
	switch c {
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		b, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.boolByte(b)
	case codeUbyte:
		b, err := d.u8()
		return b, err
	case codeByte:
		b, err := d.u8()
		return int8(b), err
	case codeUshort:
		v, err := d.u16()
		return v, err
	case codeShort:
		v, err := d.u16()
		return int16(v), err
	case codeUint0:
		return uint32(0), nil
	case codeSmallUint:
		b, err := d.u8()
		return uint32(b), err
	case codeUint:
		v, err := d.u32()
		return v, err
	case codeUlong0:
		return uint64(0), nil
	case codeSmallUlong:
		b, err := d.u8()
		return uint64(b), err
	case codeUlong:
		v, err := d.u64()
		return v, err
	case codeSmallInt:
		b, err := d.u8()
		return int32(int8(b)), err
	case codeInt:
		v, err := d.u32()
		return int32(v), err
	case codeSmallLong:
		b, err := d.u8()
		return int64(int8(b)), err
	case codeLong:
		v, err := d.u64()
		return int64(v), err
	case codeFloat:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case codeChar:
		v, err := d.u32()
		return Char(v), err
	case codeTimestamp:
		v, err := d.u64()
		return Timestamp(v), err
	case codeDecimal32:
		p, err := d.fixed(4)
		if err != nil {
			return nil, err
		}
		return Decimal32(p), nil
	case codeDecimal64:
		p, err := d.fixed(8)
		if err != nil {
			return nil, err
		}
		return Decimal64(p), nil
	case codeDecimal128:
		p, err := d.fixed(16)
		if err != nil {
			return nil, err
		}
		return Decimal128(p), nil
	case codeUUID:
		p, err := d.fixed(16)
		if err != nil {
			return nil, err
		}
		return UUID(p), nil
	case codeVbin8, codeVbin32:
		return d.vbin(c)
	case codeStr8, codeStr32:
		p, err := d.vbin(c)
		return string(p), err
	case codeSym8, codeSym32:
		p, err := d.vbin(c)
		return Symbol(p), err
	case codeList0:
		return []any{}, nil
	case codeList8, codeList32:
		return d.list(c)
	case codeMap8, codeMap32:
		return d.amap(c)
	case codeArray8, codeArray32:
		return d.array(c)
	}
	return nil, failAt(d.off-1, "unknown format code 0x"+hexUint(uint64(c)))
}

// boolByte interprets the octet of a 0x56 boolean. AMQP 1.0 §1.6.2: 0x00 is
// false, 0x01 is true.
func (d *decoder) boolByte(b byte) (bool, error) {
	switch b {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, failAt(d.off-1, "boolean octet is neither 0 nor 1")
}

// vbin reads the size and bytes of a variable-width value (binary, string,
// symbol) whose format code c has been read. The result aliases the input.
// AMQP 1.0 §1.2: variable-width encodings carry a 1-octet (0xa_) or 4-octet
// (0xb_) size.
func (d *decoder) vbin(c byte) ([]byte, error) {
	var n uint64
	if c>>4 == 0xa {
		b, err := d.u8()
		if err != nil {
			return nil, err
		}
		n = uint64(b)
	} else {
		v, err := d.u32()
		if err != nil {
			return nil, err
		}
		n = uint64(v)
	}
	if err := d.need(n, c); err != nil {
		return nil, err
	}
	end := d.off + int(n)
	p := d.b[d.off:end:end]
	d.off = end
	return p, nil
}

// compound reads the size and count of a list, map or array whose format
// code c has been read, checks that the size fits in the bytes left, and
// limits d.b to the value's end. It returns the count and the previous d.b,
// which close restores. AMQP 1.0 §1.2: compound and array encodings carry a
// size (of everything after the size field) then a count, both 1 octet
// (0xc_, 0xe_) or 4 octets (0xd_, 0xf_).
func (d *decoder) compound(c byte) (count int, saved []byte, err error) {
	var size, n uint64
	if c>>4 == 0xc || c>>4 == 0xe {
		b, err := d.u8()
		if err != nil {
			return 0, nil, err
		}
		size = uint64(b)
		if size < 1 {
			return 0, nil, failAt(d.off-1, typeOfCode[c].String()+" size too small for its count")
		}
		if err := d.need(size, c); err != nil {
			return 0, nil, err
		}
		b, _ = d.u8()
		n = uint64(b)
		size--
	} else {
		v, err := d.u32()
		if err != nil {
			return 0, nil, err
		}
		size = uint64(v)
		if size < 4 {
			return 0, nil, failAt(d.off-4, typeOfCode[c].String()+" size too small for its count")
		}
		if err := d.need(size, c); err != nil {
			return 0, nil, err
		}
		v, _ = d.u32()
		n = uint64(v)
		size -= 4
	}
	if err := d.enter(); err != nil {
		return 0, nil, err
	}
	saved = d.b
	d.b = d.b[:d.off+int(size)]
	// Every element of a list or map occupies at least its constructor
	// byte; arrays check their element width themselves.
	if c>>4 != 0xe && c>>4 != 0xf && n > uint64(d.left()) {
		return 0, nil, d.fail(typeOfCode[c].String() + " count " + strconv.FormatUint(n, 10) +
			" exceeds its " + strconv.Itoa(d.left()) + " bytes")
	}
	return int(n), saved, nil
}

// close checks that a compound value's elements filled exactly its declared
// size, and restores d.b.
func (d *decoder) close(saved []byte, what string) error {
	if d.off != len(d.b) {
		return d.fail(what + " elements do not fill its declared size")
	}
	d.b = saved
	d.depth--
	return nil
}

// list reads a list8 or list32. AMQP 1.0 §1.6.22.
func (d *decoder) list(c byte) (any, error) {
	n, saved, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	l := make([]any, n)
	for i := range l {
		if l[i], err = d.value(); err != nil {
			return nil, err
		}
	}
	return l, d.close(saved, "list")
}

// amap reads a map8 or map32. AMQP 1.0 §1.6.23: the count is of keys and
// values together, so it is even.
func (d *decoder) amap(c byte) (any, error) {
	start := d.off - 1
	n, saved, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, failAt(start, "map has an odd number of elements")
	}
	m := make(Map, n/2)
	for i := range m {
		if m[i].Key, err = d.value(); err != nil {
			return nil, err
		}
		if m[i].Value, err = d.value(); err != nil {
			return nil, err
		}
	}
	return m, d.close(saved, "map")
}

// array reads an array8 or array32: one element constructor (possibly
// described) followed by count element values without constructors.
// AMQP 1.0 §1.6.24 and §1.2.
//
// An element constructor of zero width (null, true, false, uint0, ulong0,
// list0) is accepted only for an empty array: otherwise a few bytes could
// declare billions of elements.
func (d *decoder) array(c byte) (any, error) {
	n, saved, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	var a Array
	ec, err := d.u8()
	if err != nil {
		return nil, err
	}
	if ec == codeDescribed {
		if a.Descriptor, err = d.value(); err != nil {
			return nil, err
		}
		if ec, err = d.u8(); err != nil {
			return nil, err
		}
		if ec == codeDescribed {
			return nil, failAt(d.off-1, "nested described array constructors are not supported")
		}
	}
	a.Type = typeOfCode[ec]
	if a.Type == 0 {
		return nil, failAt(d.off-1, "unknown format code 0x"+hexUint(uint64(ec)))
	}
	if n > 0 {
		w := minWidth(ec)
		if w == 0 {
			return nil, failAt(d.off-1, "array of zero-width elements")
		}
		if uint64(n) > uint64(d.left()/w) {
			return nil, d.fail("array count " + strconv.Itoa(n) + " exceeds its " +
				strconv.Itoa(d.left()) + " bytes")
		}
		a.Elems = make([]any, n)
		for i := range a.Elems {
			if a.Elems[i], err = d.primitive(ec); err != nil {
				return nil, err
			}
		}
	}
	return a, d.close(saved, "array")
}

// skip steps over one value without materialising it. Compound values are
// skipped by their size, so their contents are not validated.
func (d *decoder) skip() error {
	c, err := d.u8()
	if err != nil {
		return err
	}
	if c == codeDescribed {
		if err := d.enter(); err != nil {
			return err
		}
		if err := d.skip(); err != nil {
			return err
		}
		if err := d.skip(); err != nil {
			return err
		}
		d.depth--
		return nil
	}
	if typeOfCode[c] == 0 {
		return failAt(d.off-1, "unknown format code 0x"+hexUint(uint64(c)))
	}
	var n uint64
	switch c >> 4 {
	case 0xa, 0xc, 0xe:
		b, err := d.u8()
		if err != nil {
			return err
		}
		n = uint64(b)
	case 0xb, 0xd, 0xf:
		v, err := d.u32()
		if err != nil {
			return err
		}
		n = uint64(v)
	default:
		n = uint64(minWidth(c))
	}
	if err := d.need(n, c); err != nil {
		return err
	}
	d.off += int(n)
	return nil
}

// codeName names a format code for an error message.
func codeName(c byte) string {
	if c == codeDescribed {
		return "described value"
	}
	if t := typeOfCode[c]; t != 0 {
		return t.String() + " (0x" + hexUint(uint64(c)) + ")"
	}
	return "format code 0x" + hexUint(uint64(c))
}
