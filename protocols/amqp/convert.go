package amqp

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Message annotations Qpid JMS reads and writes.
const (
	annMsgType wire.Symbol = "x-opt-jms-msg-type"
	annDest    wire.Symbol = "x-opt-jms-dest"
	annReplyTo wire.Symbol = "x-opt-jms-reply-to"
	// annBrokerPath carries Message.BrokerPath, the brokers a message
	// crossed in a network of brokers, as an array of strings (see
	// network.go).
	annBrokerPath wire.Symbol = "x-opt-mqgate-broker-path"
)

// x-opt-jms-msg-type values (Qpid JMS AmqpMessageSupport).
const (
	jmsObjectMessage int8 = 1
	jmsBytesMessage  int8 = 3
	jmsTextMessage   int8 = 5
)

// contentTypeJavaObject marks a serialized Java object in a data section.
const contentTypeJavaObject = "application/x-java-serialized-object"

// BodyProp is the user property marking a message whose Body holds the
// AMQP body sections as they were encoded (an amqp-sequence, several data
// sections, an amqp-value that is not a string); its value is
// BodyPropValue. AMQP consumers get the sections back unchanged; STOMP
// consumers see the bytes and this header.
const (
	BodyProp      = "MQGATE_AMQP_BODY"
	BodyPropValue = "sections"
)

// PropFirstForGroup is ActiveMQ's property on the message that assigned
// its group to the consumer.
const PropFirstForGroup = "JMSXGroupFirstForConsumer"

// messageFromAMQP maps an AMQP message (one delivery's whole payload, which
// the result may alias) to a broker message for dest, or for the message's
// to when dest is zero (anonymous relay). A failure is the error of the
// rejected outcome. The mapping is documented in docs/protocol-mapping.md.
func (c *conn) messageFromAMQP(payload []byte, dest backend.Destination) (*backend.Message, *wire.Error) {
	var am wire.Message
	if err := am.Unmarshal(payload); err != nil {
		return nil, wire.Errorf(wire.CondDecodeError, "%v", err)
	}
	m := &backend.Message{Dest: dest, Priority: backend.DefaultPriority, ProducerID: c.owner}
	if h := am.Header; h != nil {
		m.Persistent = h.Durable
		m.Priority = min(h.Priority, 9)
		if h.TTL > 0 {
			m.Expiration = time.Now().UnixMilli() + int64(h.TTL)
		}
	}
	destHint, replyHint := -1, -1
	for _, e := range am.MessageAnnotations {
		switch k, _ := e.Key.(wire.Symbol); k {
		case annDest:
			destHint = annotationByte(e.Value)
		case annReplyTo:
			replyHint = annotationByte(e.Value)
		case annBrokerPath:
			if c.network() {
				m.BrokerPath = brokerPath(e.Value)
				if am.Header != nil {
					// A peer broker's deliveries of it (AMQP 1.0 §3.2.1
					// delivery-count: failed attempts before this one).
					m.PriorDeliveries = am.Header.DeliveryCount
				}
			}
		}
	}
	to := ""
	if p := am.Properties; p != nil {
		to = p.To
		m.ID = idToString(p.MessageID, false)
		m.CorrelationID = idToString(p.CorrelationID, true)
		if p.ReplyTo != "" {
			rd, err := parseHinted(p.ReplyTo, replyHint)
			if err != nil {
				return nil, wire.Errorf(wire.CondInvalidField, "reply-to: %v", err)
			}
			m.ReplyTo = rd
		}
		m.Type = p.Subject
		m.ContentType = string(p.ContentType)
		m.GroupID = p.GroupID
		if p.GroupSequence != nil {
			m.GroupSeq = int32(min(*p.GroupSequence, math.MaxInt32))
		}
		if p.CreationTime != 0 {
			m.Timestamp = int64(p.CreationTime)
		}
		if p.AbsoluteExpiryTime != 0 {
			m.Expiration = int64(p.AbsoluteExpiryTime)
		}
	}
	if dest.IsZero() {
		if to == "" {
			return nil, wire.Errorf(wire.CondNotFound, "the message has no to address and the link has no target address")
		}
		d, err := parseHinted(to, destHint)
		if err != nil {
			return nil, wire.Errorf(wire.CondInvalidField, "to: %v", err)
		}
		m.Dest = d
	}
	for _, e := range am.ApplicationProperties {
		k, ok := e.Key.(string)
		if !ok || k == "" || k == BodyProp && !c.network() {
			continue // a bridge forwards BodyProp with the sections as one data section
		}
		if v, ok := propValue(e.Value); ok {
			m.Props = append(m.Props, backend.Prop{Name: k, Value: v})
			if k == backend.PropResend && (v == true || v == "true") {
				m.Resent = true
			}
		}
	}
	switch {
	case len(am.Data) == 1:
		m.Body = am.Data[0]
	case am.HasValue:
		if s, ok := am.Value.(string); ok {
			m.Body, m.Text = []byte(s), true
			break
		}
		fallthrough
	case len(am.Data) > 1 || am.Sequence != nil:
		body, err := bodySections(payload)
		if err != nil {
			return nil, wire.Errorf(wire.CondDecodeError, "%v", err)
		}
		m.Body = body
		m.Props = append(m.Props, backend.Prop{Name: BodyProp, Value: BodyPropValue})
	}
	return m, nil
}

// bodySections returns the encoded body sections of an encoded message.
func bodySections(payload []byte) ([]byte, error) {
	spans, err := wire.ScanSections(payload)
	if err != nil {
		return nil, err
	}
	start, end := -1, -1
	for _, sp := range spans {
		switch sp.Descriptor {
		case wire.DescData, wire.DescAMQPSequence, wire.DescAMQPValue:
			if start < 0 {
				start = sp.Start
			}
			end = sp.End
		}
	}
	if start < 0 {
		return nil, nil
	}
	return payload[start:end:end], nil
}

// annotationByte returns an x-opt-jms-dest style annotation value, or -1.
func annotationByte(v any) int {
	switch v := v.(type) {
	case int8:
		return int(v)
	case uint8:
		return int(v)
	case int32:
		return int(v)
	case int64:
		return int(v)
	}
	return -1
}

// propValue maps an application-property value to a broker property
// value: string, bool, int64, float64 and []byte as they are; other
// integers to int64 (a ulong above the int64 range to its decimal string);
// float to float64; symbol, char and uuid to strings; timestamp to int64
// milliseconds; anything else (decimals; lists and maps, which the spec
// does not allow here) to its text. null is dropped.
func propValue(v any) (any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case string, bool, int64, float64, []byte:
		return v, true
	case int8, int16, int32, uint8, uint16, uint32, uint64, float32:
		// Kept as sent: an AMQP consumer reads back the type (Qpid JMS's
		// getIntProperty fails on a long), STOMP renders the number.
		return v, true
	case wire.Symbol:
		return string(v), true
	case wire.Char:
		return string(rune(v)), true
	case wire.Timestamp:
		return int64(v), true
	case wire.UUID:
		return v.String(), true
	}
	return fmt.Sprint(v), true
}

// appendMessage encodes the AMQP message of delivery d onto buf. It runs
// on the connection's writer goroutine (and uses its address cache, c.to).
// The sections are encoded one by one from values on the stack, the
// message annotations come from a table of encodings, and the
// application-properties map is written straight from the message's
// properties: a delivery costs one allocation (the message-id), not one
// per section and property.
func appendMessage(buf []byte, d backend.Delivery, c *conn) []byte {
	m := d.Msg
	raw := false
	if v, ok := m.Prop(BodyProp); ok && v == BodyPropValue {
		raw = true
	}
	text := m.Text && utf8.Valid(m.Body)
	h := wire.Header{Durable: m.Persistent, Priority: m.Priority, FirstAcquirer: d.Count == 0, DeliveryCount: d.Count}
	if m.Expiration > 0 {
		h.TTL = uint32(min(max(m.Expiration-time.Now().UnixMilli(), 1), math.MaxUint32))
	}
	buf, _ = h.Marshal(buf) // a header always encodes
	msgType := annBytes
	switch {
	case raw:
		msgType = annNone
	case text:
		msgType = annText
	case m.ContentType == contentTypeJavaObject:
		msgType = annObject
	}
	replyTo := -1
	if !m.ReplyTo.IsZero() {
		replyTo = int(jmsKind(m.ReplyTo.Kind))
	}
	if len(m.BrokerPath) > 0 {
		buf = appendPathAnnotations(buf, msgType, jmsKind(m.Dest.Kind), replyTo, m.BrokerPath)
	} else {
		buf = append(buf, annotationSections[msgType][jmsKind(m.Dest.Kind)][replyTo+1]...)
	}
	props := wire.Properties{
		MessageID:          idFromString(m.ID),
		To:                 c.to.address(m.Dest),
		Subject:            m.Type,
		CorrelationID:      idFromString(m.CorrelationID),
		ContentType:        wire.Symbol(m.ContentType),
		AbsoluteExpiryTime: wire.Timestamp(m.Expiration),
		CreationTime:       wire.Timestamp(m.Timestamp),
		GroupID:            m.GroupID,
	}
	if !m.ReplyTo.IsZero() {
		props.ReplyTo = formatAddress(m.ReplyTo)
	}
	if m.GroupID != "" && m.GroupSeq > 0 {
		seq := uint32(m.GroupSeq)
		props.GroupSequence = &seq
	}
	if out, err := props.Marshal(buf); err == nil {
		buf = out
	} else {
		c.log.Warn().Err(err).Str("message_id", m.ID).Msg("encoding message properties failed; they are dropped")
	}
	if len(m.Props) > 0 || d.FirstForGroup {
		out, err := wire.AppendMapSection(buf, wire.DescApplicationProperties, func(b []byte) ([]byte, int, error) {
			n := 0
			for _, p := range m.Props {
				if p.Name == BodyProp {
					continue
				}
				var err error
				if b, err = wire.AppendString(b, p.Name); err != nil {
					return b, n, err
				}
				if b, err = wire.AppendValue(b, p.Value); err != nil {
					return b, n, err
				}
				n++
			}
			if d.FirstForGroup {
				b, _ = wire.AppendString(b, PropFirstForGroup)
				b = append(b, 0x41) // true
				n++
			}
			return b, n, nil
		})
		if err == nil {
			buf = out
		} else {
			// A property value of a type the codec does not encode: keep
			// the message, without its application-properties.
			c.log.Warn().Err(err).Str("message_id", m.ID).Msg("encoding application-properties failed; they are dropped")
		}
	}
	switch {
	case raw:
		return append(buf, m.Body...)
	case text:
		return appendVariable(append(buf, 0x00, 0x53, byte(wire.DescAMQPValue)), 0xa1, 0xb1, m.Body)
	}
	return appendVariable(append(buf, 0x00, 0x53, byte(wire.DescData)), 0xa0, 0xb0, m.Body)
}

// The x-opt-jms-msg-type variants of annotationSections.
const (
	annNone   = iota // a raw body: no message type
	annText          // TextMessage
	annObject        // ObjectMessage
	annBytes         // BytesMessage
)

// annotationSections holds every message-annotations section appendMessage
// writes, encoded once: by x-opt-jms-msg-type variant, x-opt-jms-dest value
// and x-opt-jms-reply-to value plus one (0: no reply-to).
var annotationSections = func() (t [4][4][5][]byte) {
	types := [4]int8{-1, jmsTextMessage, jmsObjectMessage, jmsBytesMessage}
	for v, typ := range types {
		for dest := range int8(4) {
			for reply := range int8(5) {
				ann := make(wire.Map, 0, 3)
				if typ >= 0 {
					ann = append(ann, wire.MapEntry{Key: annMsgType, Value: typ})
				}
				ann = append(ann, wire.MapEntry{Key: annDest, Value: dest})
				if reply > 0 {
					ann = append(ann, wire.MapEntry{Key: annReplyTo, Value: reply - 1})
				}
				b, err := (&wire.Message{MessageAnnotations: ann}).Marshal(nil)
				if err != nil {
					panic(err) // constant input
				}
				t[v][dest][reply] = b
			}
		}
	}
	return t
}()

// addrCache remembers the address of the last destination the writer
// encoded: a consumer's deliveries mostly come from one destination, whose
// address is then formatted once. Writer goroutine.
type addrCache struct {
	dest backend.Destination
	addr string
}

// address returns formatAddress(d).
func (a *addrCache) address(d backend.Destination) string {
	if d != a.dest || a.addr == "" {
		a.dest, a.addr = d, formatAddress(d)
	}
	return a.addr
}

// appendVariable appends b as a variable-width value: code8 (one-byte
// length) when it fits, else code32. AMQP 1.0 §1.6.19–§1.6.20.
func appendVariable(buf []byte, code8, code32 byte, b []byte) []byte {
	if len(b) < 256 {
		buf = append(buf, code8, byte(len(b)))
	} else {
		buf = binary.BigEndian.AppendUint32(append(buf, code32), uint32(len(b)))
	}
	return append(buf, b...)
}
