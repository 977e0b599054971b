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
//   - a receiver link whose attach carries the property PropPullHops is a
//     duplex bridge's pull (networkPull): the peer takes this broker's
//     messages for its own consumers over its own connection. It is
//     subscribed as a network subscription (backend.SubscribeOptions
//     Network) at the priority of PropPullPriority, with
//     backend.PullFilter for loop prevention (never a message whose path
//     holds the peer, nor one whose path is PropPullTTL long), and
//     registered with backend.Broker.AddPeerDemand while it lasts.
//
// Deliveries of a message with a broker path carry the annotation to
// every AMQP consumer. docs/networks.md describes the network.

// NetworkContainerPrefix starts the container-id of a network bridge's
// connection: "mqgate-bridge:" and the forwarding broker's node id.
const NetworkContainerPrefix = "mqgate-bridge:"

// Attach properties of a duplex bridge's pull (a receiver link on a
// bridge's connection; cluster/network sets them).
const (
	// PropPullHops marks a pull and says how many hops from this broker
	// the peer's consumers are (1: the peer's own); 1 to 64.
	PropPullHops wire.Symbol = "mqgate-pull-hops"
	// PropPullTTL is the peer's network TTL: a message whose broker path
	// is that long is not pulled; 1 to 64 (default 1).
	PropPullTTL wire.Symbol = "mqgate-pull-ttl"
	// PropPullPriority is the consumer priority of the pull, below local
	// consumers' (negative) when the peer decreases network priority;
	// -128 to 127 (default 0).
	PropPullPriority wire.Symbol = "mqgate-pull-priority"
)

// networkPull reads a duplex bridge's pull from the attach of a receiver
// link and sets opts for it (Network, Priority, Filter); it returns the
// demand to register once subscribed, or nil when the link is no pull
// (not a bridge's connection, or no PropPullHops). Reader goroutine.
func (c *conn) networkPull(a *wire.Attach, opts *backend.SubscribeOptions) (*backend.PeerDemand, *wire.Error) {
	if !c.network() {
		return nil, nil
	}
	v, ok := a.Properties.Get(PropPullHops)
	if !ok {
		return nil, nil
	}
	hops, ok := linkInt(v)
	if !ok || hops < 1 || hops > maxBrokerPath {
		return nil, wire.Errorf(wire.CondInvalidField, "link property %s %v is not an integer from 1 to %d", PropPullHops, v, maxBrokerPath)
	}
	ttl := int64(1)
	if v, ok := a.Properties.Get(PropPullTTL); ok {
		if ttl, ok = linkInt(v); !ok || ttl < 1 || ttl > maxBrokerPath {
			return nil, wire.Errorf(wire.CondInvalidField, "link property %s %v is not an integer from 1 to %d", PropPullTTL, v, maxBrokerPath)
		}
	}
	prio := int64(0)
	if v, ok := a.Properties.Get(PropPullPriority); ok {
		if prio, ok = linkInt(v); !ok || prio < -128 || prio > 127 {
			return nil, wire.Errorf(wire.CondInvalidField, "link property %s %v is not an integer from -128 to 127", PropPullPriority, v)
		}
	}
	peer := strings.TrimPrefix(c.containerID, NetworkContainerPrefix)
	if peer == "" {
		return nil, wire.Errorf(wire.CondInvalidField, "a pull needs the bridge's node id in its container-id")
	}
	if opts.Dest.Kind != backend.Queue && opts.Dest.Kind != backend.Topic || len(opts.Composite) > 0 {
		return nil, wire.Errorf(wire.CondInvalidField, "a pull takes one queue or topic, not %s", opts.Dest)
	}
	opts.Network = true
	opts.Priority = int(prio)
	opts.Filter = backend.PullFilter(peer, int(ttl))
	return &backend.PeerDemand{Dest: opts.Dest, Peer: peer, Hops: int(hops)}, nil
}

// pullDone forgets the pull of a link's subscription, if it was one.
// Reader goroutine, when the link ends.
func (o *outbound) pullDone() {
	if c := o.s.c; c.network() && o.sub != nil {
		c.b.RemovePeerDemand(o.sub)
	}
}

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
