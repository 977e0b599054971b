package stomp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// Destination prefixes, as ActiveMQ names them over STOMP.
const (
	prefixQueue           = "/queue/"
	prefixTopic           = "/topic/"
	prefixTempQueue       = "/temp-queue/"
	prefixTempTopic       = "/temp-topic/"
	prefixRemoteTempQueue = "/remote-temp-queue/"
	prefixRemoteTempTopic = "/remote-temp-topic/"
)

// errBadDestination is the ERROR message for an unknown prefix; ActiveMQ
// says the same.
const errBadDestination = "ActiveMQ STOMP destinations must begin with one of: /queue/ /topic/ /temp-queue/ /temp-topic/"

// parseDest maps a STOMP destination to the broker's. Temporary names
// (/temp-queue/x) are scoped to this connection; created reports whether
// the name is this connection's own temporary destination.
func (c *conn) parseDest(s string) (d backend.Destination, own bool, err error) {
	var name string
	switch {
	case strings.HasPrefix(s, prefixQueue):
		d.Kind, name = backend.Queue, s[len(prefixQueue):]
	case strings.HasPrefix(s, prefixTopic):
		d.Kind, name = backend.Topic, s[len(prefixTopic):]
	case strings.HasPrefix(s, prefixTempQueue):
		d.Kind, name, own = backend.TempQueue, c.tempPrefix+s[len(prefixTempQueue):], true
	case strings.HasPrefix(s, prefixTempTopic):
		d.Kind, name, own = backend.TempTopic, c.tempPrefix+s[len(prefixTempTopic):], true
	case strings.HasPrefix(s, prefixRemoteTempQueue):
		d.Kind, name = backend.TempQueue, s[len(prefixRemoteTempQueue):]
	case strings.HasPrefix(s, prefixRemoteTempTopic):
		d.Kind, name = backend.TempTopic, s[len(prefixRemoteTempTopic):]
	default:
		return d, false, fmt.Errorf("illegal destination name: [%s] -- %s", s, errBadDestination)
	}
	if own && len(name) == len(c.tempPrefix) {
		return d, false, fmt.Errorf("illegal destination name: [%s] -- the name is empty", s)
	}
	d.Name = name
	if err := backend.ValidateName(name); err != nil {
		return d, false, fmt.Errorf("illegal destination name: [%s] -- %v", s, err)
	}
	if own && strings.HasPrefix(name, c.tempPrefix) {
		// a remote-temp name that is really ours is ours
		own = true
	}
	return d, own, nil
}

// formatDest maps a broker destination to STOMP for this connection.
func (c *conn) formatDest(d backend.Destination) string {
	switch d.Kind {
	case backend.Queue:
		return prefixQueue + d.Name
	case backend.Topic:
		return prefixTopic + d.Name
	case backend.TempQueue:
		if strings.HasPrefix(d.Name, c.tempPrefix) {
			return prefixTempQueue + d.Name[len(c.tempPrefix):]
		}
		return prefixRemoteTempQueue + d.Name
	case backend.TempTopic:
		if strings.HasPrefix(d.Name, c.tempPrefix) {
			return prefixTempTopic + d.Name[len(c.tempPrefix):]
		}
		return prefixRemoteTempTopic + d.Name
	}
	return ""
}

// Headers of SEND that are not user properties.
var sendReserved = map[string]bool{
	frame.Destination: true, frame.ContentLength: true, frame.ContentType: true,
	frame.Receipt: true, frame.Transaction: true, "persistent": true, "priority": true,
	"expires": true, "correlation-id": true, "type": true, "reply-to": true,
	"JMSXGroupID": true, "JMSXGroupSeq": true, frame.MessageId: true, "timestamp": true,
	"redelivered": true, frame.Subscription: true, frame.Ack: true,
}

// messageFromSend builds a broker Message from a SEND frame. The frame's
// body is taken over, not copied.
func (c *conn) messageFromSend(f *frame.Frame, dest backend.Destination) (*backend.Message, error) {
	h := f.Header
	m := &backend.Message{
		Dest:       dest,
		Body:       f.Body,
		Priority:   backend.DefaultPriority,
		ProducerID: c.owner,
	}
	_, hasLen := h.Contains(frame.ContentLength)
	m.Text = !hasLen
	for i := 0; i < h.Len(); i++ {
		k, v := h.GetAt(i)
		if sendReserved[k] {
			if first, _ := h.Contains(k); first != v {
				continue // repeated header: the first one counts
			}
			switch k {
			case frame.ContentType:
				m.ContentType = v
			case "persistent":
				m.Persistent = v == "true"
			case "priority":
				p, err := strconv.Atoi(v)
				if err != nil || p < 0 || p > 9 {
					return nil, fmt.Errorf("priority header %q is not a number from 0 to 9", v)
				}
				m.Priority = uint8(p)
			case "expires":
				x, err := strconv.ParseInt(v, 10, 64)
				if err != nil || x < 0 {
					return nil, fmt.Errorf("expires header %q is not a time in milliseconds since the epoch", v)
				}
				m.Expiration = x
			case "correlation-id":
				m.CorrelationID = v
			case "type":
				m.Type = v
			case "reply-to":
				rd, own, err := c.parseDest(v)
				if err != nil {
					return nil, fmt.Errorf("reply-to: %v", err)
				}
				if own {
					if err := c.ensureTemp(rd); err != nil {
						return nil, err
					}
				}
				m.ReplyTo = rd
			case "JMSXGroupID":
				m.GroupID = v
			case "JMSXGroupSeq":
				n, err := strconv.ParseInt(v, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("JMSXGroupSeq header %q is not an integer", v)
				}
				m.GroupSeq = int32(n)
			}
			continue
		}
		if repeated(h, i, k) {
			continue // the first of repeated headers counts (STOMP 1.2)
		}
		if k == backend.PropResend && v == "true" {
			m.Resent = true
		}
		m.Props = append(m.Props, backend.Prop{Name: k, Value: v})
	}
	return m, nil
}

// repeated reports whether header k, at index i, also appears earlier.
func repeated(h *frame.Header, i int, k string) bool {
	for j := 0; j < i; j++ {
		if kj, _ := h.GetAt(j); kj == k {
			return true
		}
	}
	return false
}

// appendMessage encodes the MESSAGE frame of d for subscription sub onto
// buf, for the connection's version. The writer goroutine calls it, with no
// lock held; it allocates only to grow buf.
func (c *conn) appendMessage(buf []byte, d backend.Delivery, sub *subState) []byte {
	m := d.Msg
	v := c.version
	buf = append(buf, "MESSAGE\n"...)
	buf = wire.AppendHeader(buf, v, frame.Subscription, sub.id)
	buf = wire.AppendHeader(buf, v, frame.MessageId, m.ID)
	buf = wire.AppendHeader(buf, v, frame.Destination, c.formatDest(m.Dest))
	if v == wire.V12 && sub.mode != ackAuto {
		buf = wire.AppendHeader(buf, v, frame.Ack, m.ID)
	}
	if m.ContentType != "" {
		buf = wire.AppendHeader(buf, v, frame.ContentType, m.ContentType)
	}
	buf = append(buf, "timestamp:"...)
	buf = strconv.AppendInt(buf, m.Timestamp, 10)
	buf = append(buf, "\nexpires:"...)
	buf = strconv.AppendInt(buf, m.Expiration, 10)
	buf = append(buf, "\npriority:"...)
	buf = strconv.AppendUint(buf, uint64(m.Priority), 10)
	buf = append(buf, '\n')
	if m.Persistent {
		buf = append(buf, "persistent:true\n"...)
	}
	if d.Redelivered() {
		// JMSXDeliveryCount as JMS counts it: this delivery included.
		buf = append(buf, "redelivered:true\nJMSXDeliveryCount:"...)
		buf = strconv.AppendUint(buf, uint64(d.Count)+1, 10)
		buf = append(buf, '\n')
	}
	if d.FirstForGroup {
		buf = append(buf, "JMSXGroupFirstForConsumer:true\n"...)
	}
	if m.CorrelationID != "" {
		buf = wire.AppendHeader(buf, v, "correlation-id", m.CorrelationID)
	}
	if m.Type != "" {
		buf = wire.AppendHeader(buf, v, "type", m.Type)
	}
	if !m.ReplyTo.IsZero() {
		buf = wire.AppendHeader(buf, v, "reply-to", c.formatDest(m.ReplyTo))
	}
	if m.GroupID != "" {
		buf = wire.AppendHeader(buf, v, "JMSXGroupID", m.GroupID)
		if m.GroupSeq != 0 {
			buf = append(buf, "JMSXGroupSeq:"...)
			buf = strconv.AppendInt(buf, int64(m.GroupSeq), 10)
			buf = append(buf, '\n')
		}
	}
	for _, p := range m.Props {
		if p.Name == "originalDestination" {
			// ActiveMQ shows a dead letter's origin in STOMP form.
			if od, err := backend.ParseDestination(fmt.Sprint(p.Value)); err == nil {
				buf = wire.AppendHeader(buf, v, "original-destination", c.formatDest(od))
				continue
			}
		}
		var s string
		switch x := p.Value.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprint(x)
		}
		buf = wire.AppendHeader(buf, v, p.Name, s)
	}
	if !m.Text || bytes.IndexByte(m.Body, 0) >= 0 {
		buf = append(buf, "content-length:"...)
		buf = strconv.AppendInt(buf, int64(len(m.Body)), 10)
		buf = append(buf, '\n')
	}
	buf = append(buf, '\n')
	buf = append(buf, m.Body...)
	return append(buf, 0)
}
