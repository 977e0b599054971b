package backend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The store encoding of a Message: a version byte, then fields in a fixed
// order, strings and byte slices as uvarint length + bytes. It is what
// OpEnqueue records carry; changing it needs a new version byte.

const codecVersion = 1

// Property value tags.
const (
	tagString byte = iota + 1
	tagBool
	tagInt
	tagFloat
	tagBytes
	// tagSized is an integer of another width than int64 (AMQP's byte,
	// short, int and unsigned types, which JMS clients read back by
	// type): a sized* byte, then the value as a varint (signed) or
	// uvarint (unsigned).
	tagSized
	// tagFloat32 is a float32 (AMQP float): 4 bytes, big-endian.
	tagFloat32
)

// Integer widths after tagSized.
const (
	sizedInt8 byte = iota + 1
	sizedInt16
	sizedInt32
	sizedUint8
	sizedUint16
	sizedUint32
	sizedUint64
)

var errCorrupt = errors.New("corrupt message record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeMessage appends m's store encoding to b.
func encodeMessage(b []byte, m *Message) []byte {
	b = append(b, codecVersion)
	var flags byte
	if m.Text {
		flags |= 1
	}
	if m.Persistent {
		flags |= 2
	}
	b = append(b, flags, m.Priority, byte(m.Dest.Kind), byte(m.ReplyTo.Kind))
	b = appendString(b, m.ID)
	b = binary.AppendUvarint(b, m.Seq)
	b = appendString(b, m.Dest.Name)
	b = appendString(b, m.ReplyTo.Name)
	b = binary.AppendVarint(b, m.Timestamp)
	b = binary.AppendVarint(b, m.Expiration)
	b = appendString(b, m.ContentType)
	b = appendString(b, m.CorrelationID)
	b = appendString(b, m.Type)
	b = appendString(b, m.GroupID)
	b = binary.AppendVarint(b, int64(m.GroupSeq))
	b = appendString(b, m.ProducerID)
	b = binary.AppendUvarint(b, uint64(len(m.BrokerPath)))
	for _, p := range m.BrokerPath {
		b = appendString(b, p)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Props)))
	for _, p := range m.Props {
		b = appendString(b, p.Name)
		switch v := p.Value.(type) {
		case bool:
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, tagBool, x)
		case int64:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, v)
		case float64:
			b = append(b, tagFloat)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case float32:
			b = append(b, tagFloat32)
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
		case int8:
			b = binary.AppendVarint(append(b, tagSized, sizedInt8), int64(v))
		case int16:
			b = binary.AppendVarint(append(b, tagSized, sizedInt16), int64(v))
		case int32:
			b = binary.AppendVarint(append(b, tagSized, sizedInt32), int64(v))
		case uint8:
			b = binary.AppendUvarint(append(b, tagSized, sizedUint8), uint64(v))
		case uint16:
			b = binary.AppendUvarint(append(b, tagSized, sizedUint16), uint64(v))
		case uint32:
			b = binary.AppendUvarint(append(b, tagSized, sizedUint32), uint64(v))
		case uint64:
			b = binary.AppendUvarint(append(b, tagSized, sizedUint64), v)
		case []byte:
			b = append(b, tagBytes)
			b = appendBytes(b, v)
		default:
			b = append(b, tagString)
			b = appendString(b, fmt.Sprint(v))
		}
	}
	return appendBytes(b, m.Body)
}

// decoder reads the store encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

// decodeMessage decodes b, which it does not retain.
func decodeMessage(b []byte) (*Message, error) {
	d := &decoder{b: b}
	if d.byte() != codecVersion {
		return nil, fmt.Errorf("%w: unknown version", errCorrupt)
	}
	m := &Message{}
	flags := d.byte()
	m.Text, m.Persistent = flags&1 != 0, flags&2 != 0
	m.Priority = d.byte()
	m.Dest.Kind = Kind(d.byte())
	m.ReplyTo.Kind = Kind(d.byte())
	m.ID = d.string()
	m.Seq = d.uvarint()
	m.Dest.Name = d.string()
	m.ReplyTo.Name = d.string()
	m.Timestamp = d.varint()
	m.Expiration = d.varint()
	m.ContentType = d.string()
	m.CorrelationID = d.string()
	m.Type = d.string()
	m.GroupID = d.string()
	m.GroupSeq = int32(d.varint())
	m.ProducerID = d.string()
	if n := d.uvarint(); n > uint64(len(d.b)) {
		d.err = errCorrupt
	} else if n > 0 {
		m.BrokerPath = make([]string, n)
		for i := range m.BrokerPath {
			m.BrokerPath[i] = d.string()
		}
	}
	if n := d.uvarint(); n > uint64(len(d.b)) {
		d.err = errCorrupt
	} else if n > 0 {
		m.Props = make([]Prop, n)
		for i := range m.Props {
			p := &m.Props[i]
			p.Name = d.string()
			switch d.byte() {
			case tagString:
				p.Value = d.string()
			case tagBool:
				p.Value = d.byte() == 1
			case tagInt:
				p.Value = d.varint()
			case tagFloat:
				if len(d.b) < 8 {
					d.err = errCorrupt
				} else {
					p.Value = math.Float64frombits(binary.BigEndian.Uint64(d.b))
					d.b = d.b[8:]
				}
			case tagBytes:
				p.Value = append([]byte(nil), d.bytes()...)
			case tagFloat32:
				if len(d.b) < 4 {
					d.err = errCorrupt
				} else {
					p.Value = math.Float32frombits(binary.BigEndian.Uint32(d.b))
					d.b = d.b[4:]
				}
			case tagSized:
				p.Value = d.sized()
			default:
				d.err = errCorrupt
			}
		}
	}
	m.Body = append([]byte(nil), d.bytes()...)
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// sized reads the width byte and value after tagSized.
func (d *decoder) sized() any {
	switch d.byte() {
	case sizedInt8:
		return int8(d.varint())
	case sizedInt16:
		return int16(d.varint())
	case sizedInt32:
		return int32(d.varint())
	case sizedUint8:
		return uint8(d.uvarint())
	case sizedUint16:
		return uint16(d.uvarint())
	case sizedUint32:
		return uint32(d.uvarint())
	case sizedUint64:
		return d.uvarint()
	}
	d.err = errCorrupt
	return nil
}
