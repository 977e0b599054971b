package amqp

import (
	"strings"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Topology updates (ActiveMQ's updateClusterClients): the brokers a client
// may fail over to, announced in open.
const (
	// propFailoverServerList is the open property Qpid JMS and Artemis
	// read: a list of maps with hostname/network-host, port and scheme.
	propFailoverServerList wire.Symbol = "failover-server-list"
	// PropClientURIs is the open property in which a peer broker's
	// network bridge names its broker's client-facing URIs
	// ("stomp://host:61613", "amqp://host:5672"), so that the broker it
	// connects to can announce them to its own clients.
	PropClientURIs wire.Symbol = "mqgate-client-uris"
)

// ServerAddr is one broker address clients may connect to.
type ServerAddr struct {
	Scheme string // "amqp"
	Host   string
	Port   int
}

// serverListProperty returns the failover-server-list value for addrs.
func serverListProperty(addrs []ServerAddr) []any {
	out := make([]any, 0, len(addrs))
	for _, a := range addrs {
		scheme := a.Scheme
		if scheme == "" {
			scheme = "amqp"
		}
		out = append(out, wire.Map{
			{Key: wire.Symbol("hostname"), Value: a.Host},
			{Key: wire.Symbol("network-host"), Value: a.Host},
			{Key: wire.Symbol("port"), Value: int32(a.Port)},
			{Key: wire.Symbol("scheme"), Value: scheme},
		})
	}
	return out
}

// peerClientURIs reads a bridge's mqgate-client-uris open property: a list
// (or array) of strings. At most 16 are kept; anything else is ignored.
func peerClientURIs(props wire.Map) []string {
	v, ok := props.Get(PropClientURIs)
	if !ok {
		return nil
	}
	var elems []any
	switch v := v.(type) {
	case []any:
		elems = v
	case wire.Array:
		elems = v.Elems
	case string:
		for _, s := range strings.Split(v, ",") {
			elems = append(elems, strings.TrimSpace(s))
		}
	}
	var out []string
	for _, e := range elems {
		if s, ok := e.(string); ok && s != "" && len(s) <= 1024 && len(out) < 16 {
			out = append(out, s)
		}
	}
	return out
}
