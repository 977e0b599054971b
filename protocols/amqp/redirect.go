package amqp

import (
	"slices"
	"strconv"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// Redirect info keys, AMQP 1.0 §2.8.15 (amqp:connection:redirect).
const (
	infoHostname    wire.Symbol = "hostname"
	infoNetworkHost wire.Symbol = "network-host"
	infoPort        wire.Symbol = "port"
)

// movable returns the client connections Redirect may choose, oldest
// first: opened, not a network bridge's, not already stopping.
func (s *Server) movable() []*conn {
	var out []*conn
	for _, nc := range s.Conns() {
		if c, ok := nc.(*conn); ok && c.client.Load() && !c.isStopping() {
			out = append(out, c)
		}
	}
	return out
}

// Clients returns how many client connections Redirect may choose from
// now: open connections that are not network bridges' (container-id
// NetworkContainerPrefix). Any goroutine; it does not block.
func (s *Server) Clients() int { return len(s.movable()) }

// Redirect asks up to n of the server's client connections, newest
// first, to move to another broker: the i-th one asked (from 0) to
// to(i). It returns how many it asked. Each one stops reading, waits for
// its publishes to be answered (accepted or rejected), sends what is
// queued, then closes with amqp:connection:redirect and the info map
// hostname, network-host and port (AMQP 1.0 §2.8.15), as shutdown closes
// with amqp:connection:forced: its unsettled deliveries go back to their
// queues, its open transactions roll back. A to(i) with no Host skips
// the connection. Network bridges are never asked. Any goroutine; it
// does not block.
func (s *Server) Redirect(n int, to func(i int) ServerAddr) int {
	cs := s.movable()
	slices.Reverse(cs)
	asked := 0
	for _, c := range cs {
		if asked >= n {
			break
		}
		a := to(asked)
		if a.Host == "" {
			continue
		}
		if c.stop(&a) {
			asked++
		}
	}
	return asked
}

// stopEnding is how a stopping connection ends: closed with
// amqp:connection:redirect when Redirect asked, else with
// amqp:connection:forced (shutdown). Reader goroutine.
func (c *conn) stopEnding() ending {
	a := c.redirectTo.Load()
	if a == nil {
		return ending{reason: "shutdown", closeErr: &wire.Error{Condition: wire.CondConnectionForced, Description: "the broker is shutting down"}}
	}
	port := a.Port
	if port == 0 {
		port = 5672
	}
	return ending{
		reason: "redirected to " + a.Host + ":" + strconv.Itoa(port),
		closeErr: &wire.Error{
			Condition:   wire.CondConnectionRedirect,
			Description: "the broker is rebalancing its clients: reconnect to " + a.Host + ":" + strconv.Itoa(port),
			Info: wire.Map{
				{Key: infoHostname, Value: a.Host},
				{Key: infoNetworkHost, Value: a.Host},
				{Key: infoPort, Value: int32(port)},
			},
		},
	}
}
