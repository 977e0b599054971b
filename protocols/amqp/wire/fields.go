package wire

// This file holds the decoder's typed readers: each reads one whole value
// (constructor included), accepts every encoding of its type and null, and
// reports (value, present, error).

// wrongType returns the error for a value of code c, read just before
// d.off, where a value of type want was expected.
func (d *decoder) wrongType(c byte, want string) error {
	return failAt(d.off-1, "expected "+want+", found "+codeName(c))
}

func (d *decoder) readBool() (bool, bool, error) {
	c, err := d.u8()
	if err != nil {
		return false, false, err
	}
	switch c {
	case codeNull:
		return false, false, nil
	case codeTrue:
		return true, true, nil
	case codeFalse:
		return false, true, nil
	case codeBool:
		b, err := d.u8()
		if err != nil {
			return false, false, err
		}
		v, err := d.boolByte(b)
		return v, true, err
	}
	return false, false, d.wrongType(c, "boolean")
}

func (d *decoder) readUbyte() (uint8, bool, error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeNull:
		return 0, false, nil
	case codeUbyte:
		b, err := d.u8()
		return b, err == nil, err
	}
	return 0, false, d.wrongType(c, "ubyte")
}

func (d *decoder) readUshort() (uint16, bool, error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeNull:
		return 0, false, nil
	case codeUshort:
		v, err := d.u16()
		return v, err == nil, err
	}
	return 0, false, d.wrongType(c, "ushort")
}

func (d *decoder) readUint() (uint32, bool, error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeNull:
		return 0, false, nil
	case codeUint0:
		return 0, true, nil
	case codeSmallUint:
		b, err := d.u8()
		return uint32(b), err == nil, err
	case codeUint:
		v, err := d.u32()
		return v, err == nil, err
	}
	return 0, false, d.wrongType(c, "uint")
}

func (d *decoder) readUlong() (uint64, bool, error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeNull:
		return 0, false, nil
	case codeUlong0:
		return 0, true, nil
	case codeSmallUlong:
		b, err := d.u8()
		return uint64(b), err == nil, err
	case codeUlong:
		v, err := d.u64()
		return v, err == nil, err
	}
	return 0, false, d.wrongType(c, "ulong")
}

func (d *decoder) readTimestamp() (Timestamp, bool, error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeNull:
		return 0, false, nil
	case codeTimestamp:
		v, err := d.u64()
		return Timestamp(v), err == nil, err
	}
	return 0, false, d.wrongType(c, "timestamp")
}

// readVar reads a binary, string or symbol: the two codes of the wanted
// type are c8 and c32. The result aliases the input.
func (d *decoder) readVar(c8, c32 byte, want string) ([]byte, bool, error) {
	c, err := d.u8()
	if err != nil {
		return nil, false, err
	}
	switch c {
	case codeNull:
		return nil, false, nil
	case c8, c32:
		p, err := d.vbin(c)
		return p, err == nil, err
	}
	return nil, false, d.wrongType(c, want)
}

func (d *decoder) readString() (string, bool, error) {
	p, ok, err := d.readVar(codeStr8, codeStr32, "string")
	return string(p), ok, err
}

func (d *decoder) readSymbol() (Symbol, bool, error) {
	p, ok, err := d.readVar(codeSym8, codeSym32, "symbol")
	return Symbol(p), ok, err
}

func (d *decoder) readBinary() ([]byte, bool, error) {
	return d.readVar(codeVbin8, codeVbin32, "binary")
}

// readSymbols reads a field of type symbol with multiple="true": null, one
// symbol, or an array of symbols. AMQP 1.0 §1.4: "a field which is defined
// as both multiple and mandatory MUST contain at least one value" and a
// single value may be sent in place of an array of one.
func (d *decoder) readSymbols() ([]Symbol, bool, error) {
	start := d.off
	c, err := d.u8()
	if err != nil {
		return nil, false, err
	}
	switch c {
	case codeNull:
		return nil, false, nil
	case codeSym8, codeSym32:
		p, err := d.vbin(c)
		if err != nil {
			return nil, false, err
		}
		return []Symbol{Symbol(p)}, true, nil
	case codeArray8, codeArray32:
	default:
		return nil, false, d.wrongType(c, "symbol or array of symbol")
	}
	n, saved, err := d.compound(c)
	if err != nil {
		return nil, false, err
	}
	ec, err := d.u8()
	if err != nil {
		return nil, false, err
	}
	if ec != codeSym8 && ec != codeSym32 {
		return nil, false, failAt(start, "expected array of symbol, found array of "+codeName(ec))
	}
	if uint64(n) > uint64(d.left()/minWidth(ec)) {
		return nil, false, d.fail("array count exceeds its size")
	}
	syms := make([]Symbol, n)
	for i := range syms {
		p, err := d.vbin(ec)
		if err != nil {
			return nil, false, err
		}
		syms[i] = Symbol(p)
	}
	return syms, true, d.close(saved, "array")
}

// readMap reads a map (fields, annotations, filter-set) or null.
func (d *decoder) readMap() (Map, bool, error) {
	c, err := d.u8()
	if err != nil {
		return nil, false, err
	}
	switch c {
	case codeNull:
		return nil, false, nil
	case codeMap8, codeMap32:
		v, err := d.amap(c)
		if err != nil {
			return nil, false, err
		}
		return v.(Map), true, nil
	}
	return nil, false, d.wrongType(c, "map")
}

// readAny reads any value; null is absent.
func (d *decoder) readAny() (any, bool, error) {
	if d.off < len(d.b) && d.b[d.off] == codeNull {
		d.off++
		return nil, false, nil
	}
	v, err := d.value()
	return v, err == nil, err
}

// isNull reports whether the next value is a null, without consuming it.
func (d *decoder) isNull() bool {
	return d.off < len(d.b) && d.b[d.off] == codeNull
}

// peekDescriptor returns the numeric descriptor of the described value at
// d.off without consuming anything. A symbolic descriptor is translated by
// descriptorCodes; an unknown symbol yields ok false.
func (d *decoder) peekDescriptor() (code uint64, ok bool, err error) {
	save, depth := d.off, d.depth
	defer func() { d.off, d.depth = save, depth }()
	return d.descriptor()
}

// descriptor reads the 0x00 and descriptor of a described value.
// AMQP 1.0 §1.5: a descriptor is a symbol or a ulong.
func (d *decoder) descriptor() (code uint64, ok bool, err error) {
	c, err := d.u8()
	if err != nil {
		return 0, false, err
	}
	if c != codeDescribed {
		return 0, false, d.wrongType(c, "described type")
	}
	c, err = d.u8()
	if err != nil {
		return 0, false, err
	}
	switch c {
	case codeUlong0:
		return 0, true, nil
	case codeSmallUlong:
		b, err := d.u8()
		return uint64(b), err == nil, err
	case codeUlong:
		v, err := d.u64()
		return v, err == nil, err
	case codeSym8, codeSym32:
		p, err := d.vbin(c)
		if err != nil {
			return 0, false, err
		}
		code, ok := descriptorCodes[Symbol(p)]
		return code, ok, nil
	}
	return 0, false, d.wrongType(c, "ulong or symbol descriptor")
}

// fields reads the list of a composite type field by field. Its methods
// are no-ops once an error has been recorded; done returns that error.
// AMQP 1.0 §1.4: a composite is a described list; trailing fields may be
// omitted and a null field takes the field's default.
type fields struct {
	d     *decoder
	name  string // composite name, for messages
	n     int    // fields present in the list
	i     int    // fields read
	saved []byte // d.b before the list
	err   error
}

// composite reads the descriptor (which must be want) and the list header of
// a composite named name.
func (d *decoder) composite(want uint64, name string) fields {
	f := fields{d: d, name: name}
	start := d.off
	code, ok, err := d.descriptor()
	if err != nil {
		f.err = err
		return f
	}
	if !ok || code != want {
		f.err = failAt(start, "expected "+name+", found described type "+descriptorLabel(code, ok))
		return f
	}
	c, err := d.u8()
	if err != nil {
		f.err = err
		return f
	}
	switch c {
	case codeList0:
		if f.err = d.enter(); f.err == nil {
			f.saved = d.b
			d.b = d.b[:d.off]
		}
	case codeList8, codeList32:
		f.n, f.saved, f.err = d.compound(c)
	default:
		f.err = d.wrongType(c, name+" list")
	}
	return f
}

// descriptorLabel renders a descriptor read by descriptor() for messages.
func descriptorLabel(code uint64, ok bool) string {
	if !ok {
		return "with an unknown symbolic descriptor"
	}
	return descriptorName(code)
}

// next reports whether the list has another field and, if so, counts it.
func (f *fields) next() bool {
	if f.err != nil || f.i >= f.n {
		return false
	}
	f.i++
	return true
}

// check records err, if any, prefixed with the composite and field names;
// and records a missing mandatory field.
func (f *fields) check(name string, present, mandatory bool, err error) {
	if f.err != nil {
		return
	}
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			err = &DecodeError{Offset: de.Offset, Reason: f.name + " " + name + ": " + de.Reason}
		}
		f.err = err
		return
	}
	if mandatory && !present {
		f.err = f.d.fail(f.name + " " + name + " is mandatory but absent")
	}
}

const (
	optional  = false
	mandatory = true
)

func (f *fields) bool(dst *bool, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readBool()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) ubyte(dst *uint8, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readUbyte()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

// enum reads an optional ubyte restricted to 0..max.
func (f *fields) enum(dst *uint8, name string, max uint8) {
	if !f.next() {
		return
	}
	start := f.d.off
	v, ok, err := f.d.readUbyte()
	if err == nil && v > max {
		err = failAt(start, "value out of range")
	}
	if ok && err == nil {
		*dst = v
	}
	f.check(name, ok, false, err)
}

func (f *fields) ushort(dst *uint16, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readUshort()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) optUshort(dst **uint16, name string) {
	if !f.next() {
		return
	}
	v, ok, err := f.d.readUshort()
	if ok {
		*dst = &v
	}
	f.check(name, ok, false, err)
}

func (f *fields) uint(dst *uint32, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readUint()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) optUint(dst **uint32, name string) {
	if !f.next() {
		return
	}
	v, ok, err := f.d.readUint()
	if ok {
		*dst = &v
	}
	f.check(name, ok, false, err)
}

func (f *fields) ulong(dst *uint64, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readUlong()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) timestamp(dst *Timestamp, name string) {
	if !f.next() {
		return
	}
	v, ok, err := f.d.readTimestamp()
	if ok {
		*dst = v
	}
	f.check(name, ok, false, err)
}

func (f *fields) string(dst *string, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readString()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) symbol(dst *Symbol, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readSymbol()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

// binary reads a binary field. A present empty binary decodes as a non-nil
// empty slice.
func (f *fields) binary(dst *[]byte, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readBinary()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

func (f *fields) symbols(dst *[]Symbol, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readSymbols()
	if ok {
		*dst = v
	}
	// AMQP 1.0 §1.4: "A field which is defined as both multiple and
	// mandatory MUST contain at least one value (i.e. for such a field
	// both null and an array with no entries are invalid)."
	f.check(name, ok && (!req || len(v) > 0), req, err)
}

func (f *fields) amap(dst *Map, name string) {
	if !f.next() {
		return
	}
	v, ok, err := f.d.readMap()
	if ok {
		*dst = v
	}
	f.check(name, ok, false, err)
}

func (f *fields) any(dst *any, name string, req bool) {
	if !f.next() {
		f.check(name, false, req, nil)
		return
	}
	v, ok, err := f.d.readAny()
	if ok {
		*dst = v
	}
	f.check(name, ok, req, err)
}

// error reads an optional error composite.
func (f *fields) error(dst **Error, name string) {
	if !f.next() {
		return
	}
	if f.d.isNull() {
		f.d.off++
		return
	}
	e := new(Error)
	err := e.decode(f.d)
	if err == nil {
		*dst = e
	}
	f.check(name, true, false, err)
}

// state reads an optional delivery state or outcome.
func (f *fields) state(dst *DeliveryState, name string) {
	if !f.next() {
		return
	}
	if f.d.isNull() {
		f.d.off++
		return
	}
	s, err := decodeState(f.d)
	if err == nil {
		*dst = s
	}
	f.check(name, true, false, err)
}

// custom reads a field with fn unless it is absent or null.
func (f *fields) custom(name string, fn func(d *decoder) error) {
	if !f.next() {
		return
	}
	if f.d.isNull() {
		f.d.off++
		return
	}
	f.check(name, true, false, fn(f.d))
}

// done skips fields this version does not know (a later protocol revision
// may append some), checks that the list ends where its size said, and
// returns the first error.
func (f *fields) done() error {
	for f.err == nil && f.i < f.n {
		f.i++
		f.err = f.d.skip()
	}
	if f.err != nil {
		return f.err
	}
	return f.d.close(f.saved, f.name)
}
