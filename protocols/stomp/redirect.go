package stomp

import (
	"slices"

	"github.com/go-stomp/stomp/v3/frame"
)

// HeaderRedirect is mqgate's STOMP redirect header: an ERROR frame
// carrying it (mqgate-redirect:stomp://host:port) asks the client to
// reconnect to the broker it names, as an AMQP close with
// amqp:connection:redirect does. cluster/failover follows it.
const HeaderRedirect = "mqgate-redirect"

// redirectMessage is the message header of a redirect's ERROR frame.
const redirectMessage = "the broker is rebalancing its clients: reconnect to the broker in " + HeaderRedirect

// movable returns the connections Redirect may choose, oldest first:
// open ones not already stopping (shut down or redirected).
func (s *Server) movable() []*conn {
	var out []*conn
	for _, nc := range s.Conns() {
		if c, ok := nc.(*conn); ok && !c.isStopping() {
			out = append(out, c)
		}
	}
	return out
}

// Clients returns how many client connections Redirect may choose from
// now. Every STOMP connection is a client's (network bridges speak
// AMQP). Any goroutine; it does not block.
func (s *Server) Clients() int { return len(s.movable()) }

// Redirect asks up to n of the server's client connections, newest first,
// to move to another broker: the i-th one asked (from 0) to to(i), a
// STOMP URI ("stomp://host:port"). It returns how many it asked. Each
// one stops reading, answers what it read (a SEND's RECEIPT once the
// message is stored), sends what is queued for the client, then an
// ERROR frame with the mqgate-redirect and message headers, and closes
// as for shutdown: its unacked deliveries go back to their queues, its
// open transactions are aborted. A to(i) of "" skips the connection.
// Any goroutine; it does not block.
func (s *Server) Redirect(n int, to func(i int) string) int {
	cs := s.movable()
	slices.Reverse(cs)
	asked := 0
	for _, c := range cs {
		if asked >= n {
			break
		}
		uri := to(asked)
		if uri == "" {
			continue
		}
		if c.stop(&uri) {
			asked++
		}
	}
	return asked
}

// queueRedirect queues the redirect's ERROR frame, if Redirect asked for
// one, after everything queued before it. Reader goroutine, once reading
// ended without an error of its own.
func (c *conn) queueRedirect() {
	to := c.redirectTo.Load()
	if to == nil || c.disconnected {
		return
	}
	ef := frame.New("ERROR", frame.Message, redirectMessage, HeaderRedirect, *to, frame.ContentType, "text/plain")
	ef.Body = []byte("reconnect to " + *to + "\n")
	c.queueFrame(ef)
	c.log.Debug().Str("to", *to).Msg("redirected the client")
}
