package stomp

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
)

// HeaderRedirect is mqgate's STOMP redirect header: an ERROR frame
// carrying it (mqgate-redirect:stomp://host:port) asks the client to
// reconnect to the broker it names, as an AMQP close with
// amqp:connection:redirect does. cluster/failover follows it.
const HeaderRedirect = "mqgate-redirect"

// redirectMessage is the message header of a redirect's ERROR frame.
const redirectMessage = "the broker is rebalancing its clients: reconnect to the broker in " + HeaderRedirect

// clients are the open connections of each Server, for Redirect: a conn
// is added when it starts serving and removed when it ends, and a
// server's entry goes with its last connection. It lives here, not in
// Server, so that the connection bookkeeping (netserve) stays
// protocol-neutral. mu is a leaf lock: no I/O and no call out is made
// while it is held.
var clients struct {
	mu  sync.Mutex
	seq uint64                       // guarded by mu
	m   map[*Server]map[*conn]uint64 // guarded by mu: conn → the order it started in
}

// track records c as one of its server's open connections. c's serve
// goroutine calls it first.
func (s *Server) track(c *conn) {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if clients.m == nil {
		clients.m = map[*Server]map[*conn]uint64{}
	}
	set := clients.m[s]
	if set == nil {
		set = map[*conn]uint64{}
		clients.m[s] = set
	}
	clients.seq++
	set[c] = clients.seq
}

// untrack forgets c. c's serve goroutine calls it last.
func (s *Server) untrack(c *conn) {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	delete(clients.m[s], c)
	if len(clients.m[s]) == 0 {
		delete(clients.m, s)
	}
}

// movable returns the connections Redirect may choose, oldest first:
// open ones not already stopping (shut down or redirected).
func (s *Server) movable() []*conn {
	clients.mu.Lock()
	set := clients.m[s]
	type entry struct {
		c   *conn
		seq uint64
	}
	all := make([]entry, 0, len(set))
	for c, seq := range set {
		all = append(all, entry{c, seq})
	}
	clients.mu.Unlock()
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]*conn, 0, len(all))
	for _, e := range all {
		if !e.c.isStopping() {
			out = append(out, e.c)
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
		if c.redirect(uri) {
			asked++
		}
	}
	return asked
}

// redirect asks c to end with a redirect to uri; false if it was already
// stopping.
func (c *conn) redirect(uri string) bool {
	ok := false
	c.stopOnce.Do(func() {
		c.redirectTo.Store(&uri)
		close(c.stopping)
		_ = c.nc.SetReadDeadline(time.Now())
		ok = true
	})
	return ok
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
