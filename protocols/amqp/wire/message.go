package wire

import "errors"

// Message is an annotated AMQP message: the sections of one delivery's
// payload, which may have arrived in several transfers. AMQP 1.0 §3.2.
//
// Absent sections are nil. The body is one or more data sections, one or
// more amqp-sequence sections, or one amqp-value section; Marshal refuses a
// message that mixes them. Data sections decoded by Unmarshal alias its
// input.
type Message struct {
	Header                *Header     // AMQP 1.0 §3.2.1
	DeliveryAnnotations   Map         // AMQP 1.0 §3.2.2
	MessageAnnotations    Map         // AMQP 1.0 §3.2.3
	Properties            *Properties // AMQP 1.0 §3.2.4
	ApplicationProperties Map         // AMQP 1.0 §3.2.5
	Data                  [][]byte    // data sections, AMQP 1.0 §3.2.6
	Sequence              [][]any     // amqp-sequence sections, AMQP 1.0 §3.2.7
	// Value is the amqp-value section's content, AMQP 1.0 §3.2.8. A
	// non-nil Value is always sent; HasValue also sends a nil one (an AMQP
	// null). Unmarshal sets HasValue when the section is present.
	Value    any
	HasValue bool
	Footer   Map // AMQP 1.0 §3.2.9
}

// Header carries the message's delivery details. AMQP 1.0 §3.2.1.
// Unmarshal sets Priority to its default, 4, when absent; Marshal omits
// fields equal to their defaults. The zero Header has priority 0, not 4.
type Header struct {
	Durable       bool
	Priority      uint8
	TTL           uint32 // milliseconds; 0 is absent (no expiry)
	FirstAcquirer bool
	DeliveryCount uint32
}

// DefaultPriority is the priority of a message whose header omits it.
// AMQP 1.0 §3.2.1.
const DefaultPriority = 4

// Marshal appends the encoding of h to b.
func (h *Header) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescHeader)
	c.bool(h.Durable, h.Durable)
	c.ubyte(h.Priority, h.Priority != DefaultPriority)
	c.uint(h.TTL, h.TTL != 0)
	c.bool(h.FirstAcquirer, h.FirstAcquirer)
	c.uint(h.DeliveryCount, h.DeliveryCount != 0)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one header.
func (h *Header) Unmarshal(b []byte) error { return unmarshalExact(b, h.decode) }

func (h *Header) decode(d *decoder) error {
	*h = Header{Priority: DefaultPriority}
	f := d.composite(DescHeader, "header")
	f.bool(&h.Durable, "durable", optional)
	f.ubyte(&h.Priority, "priority", optional)
	f.uint(&h.TTL, "ttl", optional)
	f.bool(&h.FirstAcquirer, "first-acquirer", optional)
	f.uint(&h.DeliveryCount, "delivery-count", optional)
	return f.done()
}

// Properties are the immutable properties of the bare message.
// AMQP 1.0 §3.2.4. Empty strings and symbols, zero timestamps and nil ids
// are absent.
type Properties struct {
	// MessageID is a uint64, UUID, []byte or string (AMQP 1.0 §3.2.11–
	// §3.2.14); other decoded values are kept as they are.
	MessageID          any
	UserID             []byte
	To                 string
	Subject            string
	ReplyTo            string
	CorrelationID      any // as MessageID
	ContentType        Symbol
	ContentEncoding    Symbol
	AbsoluteExpiryTime Timestamp
	CreationTime       Timestamp
	GroupID            string
	GroupSequence      *uint32
	ReplyToGroupID     string
}

// Marshal appends the encoding of p to b.
func (p *Properties) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescProperties)
	c.value(p.MessageID, p.MessageID != nil)
	c.binary(p.UserID, p.UserID != nil)
	c.string(p.To, p.To != "")
	c.string(p.Subject, p.Subject != "")
	c.string(p.ReplyTo, p.ReplyTo != "")
	c.value(p.CorrelationID, p.CorrelationID != nil)
	c.symbol(p.ContentType, p.ContentType != "")
	c.symbol(p.ContentEncoding, p.ContentEncoding != "")
	c.timestamp(p.AbsoluteExpiryTime, p.AbsoluteExpiryTime != 0)
	c.timestamp(p.CreationTime, p.CreationTime != 0)
	c.string(p.GroupID, p.GroupID != "")
	c.optUint(p.GroupSequence)
	c.string(p.ReplyToGroupID, p.ReplyToGroupID != "")
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one properties.
func (p *Properties) Unmarshal(b []byte) error { return unmarshalExact(b, p.decode) }

func (p *Properties) decode(d *decoder) error {
	*p = Properties{}
	f := d.composite(DescProperties, "properties")
	f.any(&p.MessageID, "message-id", optional)
	f.binary(&p.UserID, "user-id", optional)
	f.string(&p.To, "to", optional)
	f.string(&p.Subject, "subject", optional)
	f.string(&p.ReplyTo, "reply-to", optional)
	f.any(&p.CorrelationID, "correlation-id", optional)
	f.symbol(&p.ContentType, "content-type", optional)
	f.symbol(&p.ContentEncoding, "content-encoding", optional)
	f.timestamp(&p.AbsoluteExpiryTime, "absolute-expiry-time")
	f.timestamp(&p.CreationTime, "creation-time")
	f.string(&p.GroupID, "group-id", optional)
	f.optUint(&p.GroupSequence, "group-sequence")
	f.string(&p.ReplyToGroupID, "reply-to-group-id", optional)
	return f.done()
}

// MarshalMessage appends the encoding of m to b: its sections in the order
// of AMQP 1.0 §3.2.
func MarshalMessage(b []byte, m *Message) ([]byte, error) { return m.Marshal(b) }

// UnmarshalMessage decodes a whole delivery payload (all its transfers'
// payloads concatenated). Data sections alias b.
func UnmarshalMessage(b []byte) (*Message, error) {
	m := new(Message)
	if err := m.Unmarshal(b); err != nil {
		return nil, err
	}
	return m, nil
}

// Marshal appends the encoding of m to b.
func (m *Message) Marshal(b []byte) ([]byte, error) {
	start := len(b)
	kinds := 0
	if len(m.Data) > 0 {
		kinds++
	}
	if len(m.Sequence) > 0 {
		kinds++
	}
	if m.Value != nil || m.HasValue {
		kinds++
	}
	if kinds > 1 {
		return b, errMixedBody
	}
	var err error
	if m.Header != nil {
		if b, err = m.Header.Marshal(b); err != nil {
			return b[:start], err
		}
	}
	if b, err = appendMapSection(b, DescDeliveryAnnotations, m.DeliveryAnnotations); err != nil {
		return b[:start], err
	}
	if b, err = appendMapSection(b, DescMessageAnnotations, m.MessageAnnotations); err != nil {
		return b[:start], err
	}
	if m.Properties != nil {
		if b, err = m.Properties.Marshal(b); err != nil {
			return b[:start], err
		}
	}
	if b, err = appendMapSection(b, DescApplicationProperties, m.ApplicationProperties); err != nil {
		return b[:start], err
	}
	for _, data := range m.Data {
		b = append(b, codeDescribed, codeSmallUlong, byte(DescData))
		if b, err = appendVar(b, codeVbin8, codeVbin32, data); err != nil {
			return b[:start], err
		}
	}
	for _, seq := range m.Sequence {
		if seq == nil {
			seq = []any{}
		}
		if b, err = appendSection(b, DescAMQPSequence, seq, true); err != nil {
			return b[:start], err
		}
	}
	if m.Value != nil || m.HasValue {
		if b, err = appendSection(b, DescAMQPValue, m.Value, true); err != nil {
			return b[:start], err
		}
	}
	if b, err = appendMapSection(b, DescFooter, m.Footer); err != nil {
		return b[:start], err
	}
	return b, nil
}

// errMixedBody is returned for a Message whose body mixes section kinds.
var errMixedBody = errors.New("wire: message body mixes data, amqp-sequence and amqp-value sections")

// appendSection appends a described section whose value is v.
func appendSection(b []byte, code uint64, v any, present bool) ([]byte, error) {
	if !present {
		return b, nil
	}
	return appendValue(append(b, codeDescribed, codeSmallUlong, byte(code)), v, 1)
}

// appendMapSection appends a described map section unless m is nil.
func appendMapSection(b []byte, code uint64, m Map) ([]byte, error) {
	if m == nil {
		return b, nil
	}
	b = append(b, codeDescribed, codeSmallUlong, byte(code), codeMap32)
	return compact(appendMap32(b, m, 2))
}

// Section bits, to detect repeated sections.
const (
	seenHeader = 1 << iota
	seenDeliveryAnnotations
	seenMessageAnnotations
	seenProperties
	seenApplicationProperties
	seenValue
	seenFooter
)

// Unmarshal decodes a whole delivery payload into m. Sections are accepted
// in any order; a repeated non-body section, an unknown section or a body
// mixing section kinds is a DecodeError. AMQP 1.0 §3.2.
func (m *Message) Unmarshal(b []byte) error {
	*m = Message{}
	d := decoder{b: b}
	seen := 0
	for d.off < len(b) {
		start := d.off
		code, ok, err := d.peekDescriptor()
		if err != nil {
			return err
		}
		bit := 0
		known := ok
		switch code {
		case DescHeader:
			bit = seenHeader
		case DescDeliveryAnnotations:
			bit = seenDeliveryAnnotations
		case DescMessageAnnotations:
			bit = seenMessageAnnotations
		case DescProperties:
			bit = seenProperties
		case DescApplicationProperties:
			bit = seenApplicationProperties
		case DescAMQPValue:
			bit = seenValue
		case DescFooter:
			bit = seenFooter
		case DescData, DescAMQPSequence:
		default:
			known = false
		}
		if !known {
			return failAt(start, "unknown message section "+descriptorLabel(code, ok))
		}
		if seen&bit != 0 {
			return failAt(start, "repeated message section "+descriptorName(code))
		}
		seen |= bit
		if err := m.decodeSection(&d, code); err != nil {
			return err
		}
		if mixed(m) {
			return failAt(start, "message body mixes section kinds")
		}
	}
	return nil
}

// mixed reports whether m's body holds more than one kind of section.
func mixed(m *Message) bool {
	n := 0
	if m.Data != nil {
		n++
	}
	if m.Sequence != nil {
		n++
	}
	if m.HasValue {
		n++
	}
	return n > 1
}

// decodeSection decodes the section with descriptor code at d.off.
func (m *Message) decodeSection(d *decoder, code uint64) error {
	switch code {
	case DescHeader:
		m.Header = new(Header)
		return m.Header.decode(d)
	case DescProperties:
		m.Properties = new(Properties)
		return m.Properties.decode(d)
	}
	if _, _, err := d.descriptor(); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	start := d.off
	var err error
	switch code {
	case DescDeliveryAnnotations:
		m.DeliveryAnnotations, _, err = d.readMap()
	case DescMessageAnnotations:
		m.MessageAnnotations, _, err = d.readMap()
	case DescApplicationProperties:
		m.ApplicationProperties, _, err = d.readMap()
	case DescFooter:
		m.Footer, _, err = d.readMap()
	case DescData:
		var p []byte
		var ok bool
		if p, ok, err = d.readBinary(); err == nil && !ok {
			err = failAt(start, "data section holds null")
		}
		m.Data = append(m.Data, p)
	case DescAMQPSequence:
		var v any
		if v, err = d.value(); err == nil {
			l, ok := v.([]any)
			if !ok {
				err = failAt(start, "amqp-sequence section does not hold a list")
			}
			m.Sequence = append(m.Sequence, l)
		}
	case DescAMQPValue:
		m.Value, err = d.value()
		m.HasValue = true
	}
	if err != nil {
		if de, ok := err.(*DecodeError); ok && de.Offset >= start {
			de.Reason = descriptorName(code) + ": " + de.Reason
		}
		return err
	}
	d.depth--
	return nil
}

// SectionSpan locates one section of an encoded message.
type SectionSpan struct {
	Descriptor uint64
	Start, End int // b[Start:End] is the whole described section
	Value      int // b[Value:End] is the section's value, after its descriptor
}

// ScanSections locates the sections of an encoded message without decoding
// their contents, e.g. to forward the bare message (AMQP 1.0 §3.2: from
// properties, or the first section after the annotations, to the end of the
// body) byte for byte while rewriting the header and annotations.
func ScanSections(b []byte) ([]SectionSpan, error) {
	var spans []SectionSpan
	for off := 0; off < len(b); {
		sp, err := NextSection(b, off)
		if err != nil {
			return nil, err
		}
		spans = append(spans, sp)
		off = sp.End
	}
	return spans, nil
}

// NextSection locates the message section that starts at b[off:], without
// decoding its contents and without allocating: the next one starts at the
// returned span's End. Compound values are stepped over by their declared
// size, so their contents are not validated. A value that is not a known
// section is a *DecodeError.
func NextSection(b []byte, off int) (SectionSpan, error) {
	d := decoder{b: b, off: off}
	start := d.off
	code, ok, err := d.descriptor()
	if err != nil {
		return SectionSpan{}, err
	}
	if !ok || code < DescHeader || code > DescFooter {
		return SectionSpan{}, failAt(start, "unknown message section "+descriptorLabel(code, ok))
	}
	value := d.off
	if err := d.skip(); err != nil {
		return SectionSpan{}, err
	}
	return SectionSpan{Descriptor: code, Start: start, End: d.off, Value: value}, nil
}

// ScanMap calls fn with the encoding of each key and value (constructor
// included) of the map encoded at the start of b (a map8 or map32, as in
// the application-properties section's value), in order, until fn returns
// false. It decodes nothing and does not allocate; the slices alias b.
// AMQP 1.0 §1.6.23.
func ScanMap(b []byte, fn func(key, value []byte) bool) error {
	d := decoder{b: b}
	c, err := d.u8()
	if err != nil {
		return err
	}
	if c != codeMap8 && c != codeMap32 {
		return d.wrongType(c, "map")
	}
	n, saved, err := d.compound(c)
	if err != nil {
		return err
	}
	if n%2 != 0 {
		return failAt(0, "map has an odd number of elements")
	}
	for i := 0; i < n; i += 2 {
		k := d.off
		if err := d.skip(); err != nil {
			return err
		}
		v := d.off
		if err := d.skip(); err != nil {
			return err
		}
		if !fn(b[k:v:v], b[v:d.off:d.off]) {
			return nil
		}
	}
	return d.close(saved, "map")
}
