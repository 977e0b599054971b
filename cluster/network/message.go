package network

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/backend"
)

// annBrokerPath is the message annotation carrying the broker path
// (protocols/amqp reads it on a bridge's connection).
const annBrokerPath = "x-opt-mqgate-broker-path"

// toAMQP maps a broker message to the AMQP message a bridge forwards, as
// the peer's front-end maps it back (docs/protocol-mapping.md): the same
// id, destination, headers, properties and body, the path with self
// appended. m is shared and read-only; the result does not alias what
// go-amqp could modify.
func toAMQP(m *backend.Message, count uint32, self string) *amqp.Message {
	to := m.Dest.String()
	p := &amqp.MessageProperties{MessageID: amqpID(m.ID), To: &to}
	if m.CorrelationID != "" {
		p.CorrelationID = amqpID(m.CorrelationID)
	}
	if !m.ReplyTo.IsZero() {
		r := m.ReplyTo.String()
		p.ReplyTo = &r
	}
	if m.Type != "" {
		p.Subject = &m.Type
	}
	if m.ContentType != "" {
		p.ContentType = &m.ContentType
	}
	if m.GroupID != "" {
		p.GroupID = &m.GroupID
		if m.GroupSeq > 0 {
			seq := uint32(m.GroupSeq)
			p.GroupSequence = &seq
		}
	}
	if m.Timestamp != 0 {
		ts := time.UnixMilli(m.Timestamp)
		p.CreationTime = &ts
	}
	if m.Expiration != 0 {
		exp := time.UnixMilli(m.Expiration)
		p.AbsoluteExpiryTime = &exp
	}
	path := make([]string, 0, len(m.BrokerPath)+1)
	path = append(append(path, m.BrokerPath...), self)
	am := &amqp.Message{
		Header:      &amqp.MessageHeader{Durable: m.Persistent, Priority: m.Priority, DeliveryCount: count},
		Properties:  p,
		Annotations: amqp.Annotations{annBrokerPath: path},
	}
	if len(m.Props) > 0 {
		am.ApplicationProperties = make(map[string]any, len(m.Props))
		for _, pr := range m.Props {
			am.ApplicationProperties[pr.Name] = pr.Value
		}
	}
	if m.Text && utf8.Valid(m.Body) {
		am.Value = string(m.Body)
	} else {
		am.Data = [][]byte{m.Body}
	}
	return am
}

// amqpID maps the broker's message id string to the AMQP value it came
// as, the inverse of the front-end's mapping (protocols/amqp ids.go,
// after Qpid JMS): "ID:AMQP_UUID:…", "ID:AMQP_ULONG:…",
// "ID:AMQP_BINARY:…", "ID:AMQP_STRING:…" and "ID:AMQP_NO_PREFIX:…" name
// a typed value; any other string is sent as it is.
func amqpID(s string) any {
	if s == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(s, "ID:")
	if !ok {
		return s
	}
	switch {
	case strings.HasPrefix(rest, "AMQP_UUID:"):
		if u, ok := parseUUID(rest[len("AMQP_UUID:"):]); ok {
			return u
		}
	case strings.HasPrefix(rest, "AMQP_ULONG:"):
		if n, err := strconv.ParseUint(rest[len("AMQP_ULONG:"):], 10, 64); err == nil {
			return n
		}
	case strings.HasPrefix(rest, "AMQP_BINARY:"):
		if b, err := hex.DecodeString(rest[len("AMQP_BINARY:"):]); err == nil {
			return b
		}
	case strings.HasPrefix(rest, "AMQP_STRING:"):
		return rest[len("AMQP_STRING:"):]
	case strings.HasPrefix(rest, "AMQP_NO_PREFIX:"):
		return rest[len("AMQP_NO_PREFIX:"):]
	}
	return s
}

// parseUUID parses the 8-4-4-4-12 hex form.
func parseUUID(s string) (amqp.UUID, bool) {
	var u amqp.UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

// Application properties of the peer's front-end (protocols/amqp
// BodyProp, BodyPropValue and PropFirstForGroup).
const (
	bodyProp          = "MQGATE_AMQP_BODY"
	bodyPropValue     = "sections"
	propFirstForGroup = "JMSXGroupFirstForConsumer"
)

// maxPath bounds the broker path taken from a pulled message (the
// peer's front-end has the same bound).
const maxPath = 64

// fromAMQP maps a message a duplex bridge pulled from peer (its node id)
// back to a broker message, as the peer's front-end mapped it out
// (docs/protocol-mapping.md): the inverse of toAMQP, and of the
// front-end's encoding of a kept body (several sections go back into
// Body with the MQGATE_AMQP_BODY property). The broker path is the
// message's plus peer. dest is the pull's destination, used when the
// message names none (its to). am is not kept.
func fromAMQP(am *amqp.Message, dest backend.Destination, peer string) (*backend.Message, error) {
	m := &backend.Message{Dest: dest, Priority: backend.DefaultPriority, ProducerID: ContainerPrefix + peer}
	if h := am.Header; h != nil {
		m.Persistent = h.Durable
		m.Priority = min(h.Priority, 9)
		if h.TTL > 0 {
			m.Expiration = time.Now().Add(h.TTL).UnixMilli()
		}
		m.PriorDeliveries = h.DeliveryCount // the peer's deliveries of it
	}
	if p := am.Properties; p != nil {
		if p.To != nil && *p.To != "" {
			d, err := backend.ParseDestination(*p.To)
			if err != nil {
				return nil, fmt.Errorf("to: %w", err)
			}
			m.Dest = d
		}
		m.ID = idString(p.MessageID, false)
		m.CorrelationID = idString(p.CorrelationID, true)
		if p.ReplyTo != nil && *p.ReplyTo != "" {
			if d, err := backend.ParseDestination(*p.ReplyTo); err == nil {
				m.ReplyTo = d
			}
		}
		if p.Subject != nil {
			m.Type = *p.Subject
		}
		if p.ContentType != nil {
			m.ContentType = *p.ContentType
		}
		if p.GroupID != nil {
			m.GroupID = *p.GroupID
		}
		if p.GroupSequence != nil {
			m.GroupSeq = int32(min(*p.GroupSequence, math.MaxInt32))
		}
		if p.CreationTime != nil && !p.CreationTime.IsZero() {
			m.Timestamp = p.CreationTime.UnixMilli()
		}
		if p.AbsoluteExpiryTime != nil && !p.AbsoluteExpiryTime.IsZero() {
			m.Expiration = p.AbsoluteExpiryTime.UnixMilli()
		}
	}
	if m.Dest.Kind != backend.Queue && m.Dest.Kind != backend.Topic {
		return nil, fmt.Errorf("destination %q cannot cross the network", m.Dest)
	}
	var path []string
	switch v := am.Annotations[annBrokerPath].(type) {
	case []string:
		path = v
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				path = append(path, s)
			}
		}
	case string:
		if v != "" {
			path = strings.Split(v, ",")
		}
	}
	if len(path) >= maxPath {
		return nil, errors.New("the broker path is too long")
	}
	m.BrokerPath = append(slices.Clip(path), peer)
	names := make([]string, 0, len(am.ApplicationProperties))
	for k := range am.ApplicationProperties {
		if k != "" && k != bodyProp && k != propFirstForGroup {
			names = append(names, k)
		}
	}
	slices.Sort(names) // the map lost the order; keep one
	for _, k := range names {
		if v, ok := propValue(am.ApplicationProperties[k]); ok {
			m.Props = append(m.Props, backend.Prop{Name: k, Value: v})
			if k == backend.PropResend && (v == true || v == "true") {
				m.Resent = true
			}
		}
	}
	switch s, isString := am.Value.(string); {
	case len(am.Data) == 1 && am.Value == nil && am.Sequence == nil:
		m.Body = am.Data[0]
	case isString && len(am.Data) == 0 && am.Sequence == nil:
		m.Body, m.Text = []byte(s), true
	case len(am.Data) == 0 && am.Value == nil && am.Sequence == nil:
		// no body
	default:
		// Body sections kept as they were: re-encode them alone.
		body, err := (&amqp.Message{Data: am.Data, Value: am.Value, Sequence: am.Sequence}).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		m.Body = body
		m.Props = append(m.Props, backend.Prop{Name: bodyProp, Value: bodyPropValue})
	}
	return m, nil
}

// propValue maps an application-property value go-amqp decoded to a
// broker property value, as the front-end maps them (protocols/amqp
// propValue): numbers, strings, booleans and binaries as they are,
// timestamps to unix ms, uuids to their text, anything else to its text;
// null is dropped.
func propValue(v any) (any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case string, bool, int64, float64, []byte, int8, int16, int32, uint8, uint16, uint32, uint64, float32:
		return v, true
	case amqp.Symbol:
		return string(v), true
	case time.Time:
		return v.UnixMilli(), true
	case amqp.UUID:
		return v.String(), true
	}
	return fmt.Sprint(v), true
}

// idString maps an AMQP message-id or correlation-id to the broker's
// string, the inverse of amqpID (protocols/amqp ids.go).
func idString(v any, correlation bool) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if rest, ok := strings.CutPrefix(v, "ID:"); ok {
			for _, p := range [...]string{"AMQP_UUID:", "AMQP_ULONG:", "AMQP_BINARY:", "AMQP_STRING:", "AMQP_NO_PREFIX:"} {
				if strings.HasPrefix(rest, p) {
					return "ID:AMQP_STRING:" + v
				}
			}
			return v
		}
		if correlation || v == "" {
			return v
		}
		return "ID:AMQP_NO_PREFIX:" + v
	case amqp.UUID:
		return "ID:AMQP_UUID:" + v.String()
	case uint64:
		return "ID:AMQP_ULONG:" + strconv.FormatUint(v, 10)
	case []byte:
		return "ID:AMQP_BINARY:" + strings.ToUpper(hex.EncodeToString(v))
	case amqp.Symbol:
		return idString(string(v), correlation)
	}
	return fmt.Sprint(v)
}
