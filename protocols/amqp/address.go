package amqp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Address prefixes, as ActiveMQ names destinations over AMQP (and
// announces in open as queue-prefix and topic-prefix for Qpid JMS).
const (
	prefixQueue     = "queue://"
	prefixTopic     = "topic://"
	prefixTempQueue = "temp-queue://"
	prefixTempTopic = "temp-topic://"
)

// Terminus capabilities naming the kind of node (Qpid JMS, ActiveMQ).
const (
	capQueue     wire.Symbol = "queue"
	capTopic     wire.Symbol = "topic"
	capTempQueue wire.Symbol = "temporary-queue"
	capTempTopic wire.Symbol = "temporary-topic"
)

// The byte values of the x-opt-jms-dest and x-opt-jms-reply-to message
// annotations (Qpid JMS AmqpDestinationHelper).
const (
	jmsQueue     int8 = 0
	jmsTopic     int8 = 1
	jmsTempQueue int8 = 2
	jmsTempTopic int8 = 3
)

// kindOfCapabilities returns the node kind the capabilities name, or
// Queue.
func kindOfCapabilities(caps []wire.Symbol) backend.Kind {
	for _, c := range caps {
		switch c {
		case capTopic:
			return backend.Topic
		case capTempQueue:
			return backend.TempQueue
		case capTempTopic:
			return backend.TempTopic
		case capQueue:
			return backend.Queue
		}
	}
	return backend.Queue
}

// dynamicKind returns the kind of a dynamic node asked for with caps: a
// temporary topic for a topic capability, else a temporary queue.
func dynamicKind(caps []wire.Symbol) backend.Kind {
	if k := kindOfCapabilities(caps); k == backend.Topic || k == backend.TempTopic {
		return backend.TempTopic
	}
	return backend.TempQueue
}

// parseAddress maps a terminus address to a destination: queue://x,
// topic://x, temp-queue://x, temp-topic://x, /queue/x and /topic/x name
// their kind; a plain name is a queue unless the capabilities (queue,
// topic, temporary-queue, temporary-topic) say otherwise.
func parseAddress(addr string, caps []wire.Symbol) (backend.Destination, error) {
	return parseAddressKind(addr, kindOfCapabilities(caps))
}

// parseComposite parses a terminus address that may be an ActiveMQ
// composite destination, members separated by commas
// ("queue://a,topic://b", "a,b"): each member as parseAddress reads it.
func parseComposite(addr string, caps []wire.Symbol) ([]backend.Destination, error) {
	if strings.IndexByte(addr, ',') < 0 {
		d, err := parseAddress(addr, caps)
		if err != nil {
			return nil, err
		}
		return []backend.Destination{d}, nil
	}
	members := strings.Split(addr, ",")
	out := make([]backend.Destination, 0, len(members))
	for _, name := range members {
		d, err := parseAddress(strings.TrimSpace(name), caps)
		if err != nil {
			return nil, fmt.Errorf("composite member %q: %w", name, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// parseAddressKind is parseAddress with the kind of a plain name given.
func parseAddressKind(addr string, def backend.Kind) (backend.Destination, error) {
	for _, p := range [...]struct {
		prefix string
		kind   backend.Kind
	}{
		{prefixQueue, backend.Queue}, {prefixTopic, backend.Topic},
		{prefixTempQueue, backend.TempQueue}, {prefixTempTopic, backend.TempTopic},
		{"/queue/", backend.Queue}, {"/topic/", backend.Topic},
	} {
		if strings.HasPrefix(addr, p.prefix) {
			def, addr = p.kind, addr[len(p.prefix):]
			break
		}
	}
	if err := backend.ValidateName(addr); err != nil {
		return backend.Destination{}, err
	}
	return backend.Destination{Kind: def, Name: addr}, nil
}

// parseHinted parses the address of a message's to or reply-to, a plain
// name taking its kind from the x-opt-jms-dest or x-opt-jms-reply-to
// annotation value hint (-1 when absent).
func parseHinted(addr string, hint int) (backend.Destination, error) {
	def := backend.Queue
	switch int8(hint) {
	case jmsTopic:
		def = backend.Topic
	case jmsTempQueue:
		def = backend.TempQueue
	case jmsTempTopic:
		def = backend.TempTopic
	}
	if hint < 0 {
		def = backend.Queue
	}
	d, err := parseAddressKind(addr, def)
	if err != nil {
		return d, fmt.Errorf("address %q: %w", addr, err)
	}
	return d, nil
}

// formatAddress returns the address of d: its URI form, queue://x.
func formatAddress(d backend.Destination) string { return d.String() }

// jmsKind returns the x-opt-jms-dest annotation value of kind k.
func jmsKind(k backend.Kind) int8 {
	switch k {
	case backend.Topic:
		return jmsTopic
	case backend.TempQueue:
		return jmsTempQueue
	case backend.TempTopic:
		return jmsTempTopic
	}
	return jmsQueue
}

// withKindCapability returns caps with the capability of kind k added if
// missing (caps is not modified).
func withKindCapability(caps []wire.Symbol, k backend.Kind) []wire.Symbol {
	var want wire.Symbol
	switch k {
	case backend.Queue:
		want = capQueue
	case backend.Topic:
		want = capTopic
	case backend.TempQueue:
		want = capTempQueue
	case backend.TempTopic:
		want = capTempTopic
	default:
		return caps
	}
	if slices.Contains(caps, want) {
		return caps
	}
	return append(slices.Clip(caps), want)
}
