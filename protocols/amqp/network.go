package amqp

import (
	"strings"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Network of brokers. A peer broker's bridge (cluster/network) is an
// ordinary AMQP client of this front-end that opens its connection with a
// container-id starting with NetworkContainerPrefix. On such a
// connection, and only there:
//
//   - the message annotation x-opt-mqgate-broker-path (an array of
//     strings; a list of strings or one comma-separated string is taken
//     too) sets Message.BrokerPath, which the broker uses for loop
//     prevention; other clients cannot set it;
//   - the application-property MQGATE_AMQP_BODY is kept, so a message
//     whose AMQP body sections are kept as they were (see BodyProp)
//     crosses the network unchanged in one data section;
//   - a message with a broker path is published with
//     backend.Broker.PublishForwarded, which drops a message the bridge
//     forwards twice (it died before it saw the outcome) and answers the
//     second copy with the first one's outcome.
//
// Deliveries of a message with a broker path carry the annotation to
// every AMQP consumer. docs/networks.md describes the network.

// NetworkContainerPrefix starts the container-id of a network bridge's
// connection: "mqgate-bridge:" and the forwarding broker's node id.
const NetworkContainerPrefix = "mqgate-bridge:"

// network reports whether the connection is a peer broker's bridge. The
// container-id is set by the reader before any link exists.
func (c *conn) network() bool {
	return strings.HasPrefix(c.containerID, NetworkContainerPrefix)
}

// publishAsync publishes m from a client's sender link: a message a peer
// broker forwarded goes through duplicate suppression.
func (c *conn) publishAsync(m *backend.Message, done func(error)) error {
	if len(m.BrokerPath) > 0 && c.network() {
		return c.b.PublishForwarded(m, done)
	}
	return c.b.PublishAsync(m, done)
}

// maxBrokerPath bounds the broker path taken from a message (a path is
// as long as the hops a message made; network_ttl keeps it short).
const maxBrokerPath = 64

// brokerPath decodes an x-opt-mqgate-broker-path value; anything else is
// an empty path.
func brokerPath(v any) []string {
	var elems []any
	switch v := v.(type) {
	case wire.Array:
		elems = v.Elems
	case []any:
		elems = v
	case string:
		if v == "" {
			return nil
		}
		p := strings.Split(v, ",")
		return p[:min(len(p), maxBrokerPath)]
	default:
		return nil
	}
	out := make([]string, 0, min(len(elems), maxBrokerPath))
	for _, e := range elems {
		if len(out) == maxBrokerPath {
			break
		}
		switch e := e.(type) {
		case string:
			out = append(out, e)
		case wire.Symbol:
			out = append(out, string(e))
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// appendPathAnnotations appends the message-annotations section of a
// message with a broker path: what annotationSections holds for
// (msgType, dest, replyTo) plus x-opt-mqgate-broker-path. Writer
// goroutine; forwarded messages only, so it may allocate.
func appendPathAnnotations(buf []byte, msgType int, dest int8, replyTo int, path []string) []byte {
	ann := annotationMap(msgType, dest, replyTo)
	elems := make([]any, len(path))
	for i, p := range path {
		elems[i] = p
	}
	ann = append(ann, wire.MapEntry{Key: annBrokerPath, Value: wire.Array{Type: wire.TypeString, Elems: elems}})
	b, err := (&wire.Message{MessageAnnotations: ann}).Marshal(buf)
	if err != nil {
		// Not encodable (a path element that is not valid UTF-8): the
		// message goes without its path.
		return append(buf, annotationSections[msgType][dest][replyTo+1]...)
	}
	return b
}

// annotationMap returns the message annotations for an
// x-opt-jms-msg-type variant (annNone...), an x-opt-jms-dest value and
// an x-opt-jms-reply-to value (-1: none).
func annotationMap(msgType int, dest int8, replyTo int) wire.Map {
	types := [4]int8{-1, jmsTextMessage, jmsObjectMessage, jmsBytesMessage}
	ann := make(wire.Map, 0, 4)
	if typ := types[msgType]; typ >= 0 {
		ann = append(ann, wire.MapEntry{Key: annMsgType, Value: typ})
	}
	ann = append(ann, wire.MapEntry{Key: annDest, Value: dest})
	if replyTo >= 0 {
		ann = append(ann, wire.MapEntry{Key: annReplyTo, Value: int8(replyTo)})
	}
	return ann
}
