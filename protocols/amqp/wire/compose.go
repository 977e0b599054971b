package wire

import (
	"encoding/binary"
	"math"
)

// composer appends a composite type: a descriptor and a list of fields.
// AMQP 1.0 §1.4: fields are encoded in order; an absent field, or one equal
// to its default, is encoded as null; trailing nulls are dropped, so the
// list is as short as it can be (list0 when every field is absent).
//
// Its methods take the value and whether it is present; they are no-ops
// after an error, which finish returns.
type composer struct {
	b     []byte
	start int // len(b) before the composite, to undo on error
	hdr   int // offset of the list32 size field
	n     int // fields appended
	count int // fields up to the last present one
	last  int // len(b) after the last present field
	err   error
}

// compose starts the composite with descriptor code.
func compose(b []byte, code uint64) composer {
	c := composer{b: b, start: len(b)}
	c.b = appendUlong(append(c.b, codeDescribed), code)
	c.b = append(c.b, codeList32)
	c.b, c.hdr = begin32(c.b)
	c.last = len(c.b)
	return c
}

// null appends an absent field.
func (c *composer) null() {
	c.b = append(c.b, codeNull)
	c.n++
}

// mark records that the field just appended is present.
func (c *composer) mark() {
	c.n++
	c.count = c.n
	c.last = len(c.b)
}

func (c *composer) bool(v, present bool) {
	switch {
	case c.err != nil:
	case !present:
		c.null()
	case v:
		c.b = append(c.b, codeTrue)
		c.mark()
	default:
		c.b = append(c.b, codeFalse)
		c.mark()
	}
}

func (c *composer) ubyte(v uint8, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b = append(c.b, codeUbyte, v)
	c.mark()
}

func (c *composer) ushort(v uint16, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b = binary.BigEndian.AppendUint16(append(c.b, codeUshort), v)
	c.mark()
}

func (c *composer) uint(v uint32, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b = appendUint(c.b, v)
	c.mark()
}

// optUint appends *v, or null when v is nil.
func (c *composer) optUint(v *uint32) {
	if v == nil {
		c.uint(0, false)
		return
	}
	c.uint(*v, true)
}

func (c *composer) ulong(v uint64, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b = appendUlong(c.b, v)
	c.mark()
}

func (c *composer) timestamp(v Timestamp, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b = binary.BigEndian.AppendUint64(append(c.b, codeTimestamp), uint64(v))
	c.mark()
}

func (c *composer) string(v string, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b, c.err = appendVar(c.b, codeStr8, codeStr32, v)
	c.mark()
}

func (c *composer) symbol(v Symbol, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b, c.err = appendVar(c.b, codeSym8, codeSym32, v)
	c.mark()
}

func (c *composer) binary(v []byte, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b, c.err = appendVar(c.b, codeVbin8, codeVbin32, v)
	c.mark()
}

// symbols appends a multiple symbol field as an array of symbols; an empty
// or nil slice is absent unless present is set (for mandatory fields).
func (c *composer) symbols(v []Symbol, present bool) {
	if c.err != nil {
		return
	}
	if len(v) == 0 && !present {
		c.null()
		return
	}
	c.b, c.err = appendSymbolArray(c.b, v)
	c.mark()
}

// value appends any value (a Map, a Described, a Marshaler...) at the
// nesting depth of a composite's field.
func (c *composer) value(v any, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b, c.err = appendValue(c.b, v, 1)
	c.mark()
}

// amap appends a map field; nil is absent.
func (c *composer) amap(m Map) {
	if c.err != nil {
		return
	}
	if m == nil {
		c.null()
		return
	}
	c.b, c.err = compact(appendMap32(append(c.b, codeMap32), m, 2))
	c.mark()
}

// marshal appends a typed composite field.
func (c *composer) marshal(m Marshaler, present bool) {
	if c.err != nil {
		return
	}
	if !present {
		c.null()
		return
	}
	c.b, c.err = m.Marshal(c.b)
	c.mark()
}

// finish drops trailing nulls, sets the list's size and count and picks
// list0, list8 or list32.
func (c *composer) finish() ([]byte, error) {
	if c.err != nil {
		return c.b[:c.start], c.err
	}
	b := c.b[:c.last]
	if c.count == 0 {
		return append(b[:c.hdr-1], codeList0), nil
	}
	b, err := end32(b, c.hdr, c.count)
	b, err = compact(b, c.hdr, err)
	if err != nil {
		return c.b[:c.start], err
	}
	return b, nil
}

// appendSymbolArray appends syms as an array of sym8 (or sym32 when one is
// longer than 255 bytes). AMQP 1.0 §1.6.24.
func appendSymbolArray(b []byte, syms []Symbol) ([]byte, error) {
	code := byte(codeSym8)
	for _, s := range syms {
		if uint64(len(s)) > math.MaxUint32 {
			return b, errTooLong
		}
		if len(s) > math.MaxUint8 {
			code = codeSym32
		}
	}
	b = append(b, codeArray32)
	b, hdr := begin32(b)
	b = append(b, code)
	for _, s := range syms {
		if code == codeSym8 {
			b = append(b, byte(len(s)))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		}
		b = append(b, s...)
	}
	b, err := end32(b, hdr, len(syms))
	return compact(b, hdr, err)
}
