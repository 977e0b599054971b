package network

import (
	"encoding/hex"
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
func toAMQP(m *backend.Message, self string) *amqp.Message {
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
		Header:      &amqp.MessageHeader{Durable: m.Persistent, Priority: m.Priority},
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
