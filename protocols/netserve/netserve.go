// Package netserve is the connection bookkeeping the protocol front-ends
// share: an accept loop with back-off, the set of open connections, and a
// graceful stop that lets each connection finish its work in flight.
package netserve

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("server closed")

// Conn is one protocol connection, as a front-end implements it.
type Conn interface {
	// Serve runs the connection until it ends; the Set calls it on a
	// goroutine of its own.
	Serve()
	// Shutdown asks the connection to stop reading and finish what is in
	// flight; Serve then returns. It must not block.
	Shutdown()
	// Abort cuts the connection's socket (a graceful stop ran out of time).
	Abort()
}

// Set serves the connections of one front-end.
type Set struct {
	log     zerolog.Logger
	newConn func(nc net.Conn, n uint64) Conn
	seq     atomic.Uint64

	mu sync.Mutex
	// Guarded by mu.
	listeners map[net.Listener]struct{}
	conns     map[Conn]uint64 // the number each was made with
	closing   bool
	wg        sync.WaitGroup
}

// New returns a Set that makes each accepted connection with newConn,
// numbering them from 1.
func New(log zerolog.Logger, newConn func(nc net.Conn, n uint64) Conn) *Set {
	return &Set{log: log, newConn: newConn, listeners: map[net.Listener]struct{}{}, conns: map[Conn]uint64{}}
}

// Serve accepts connections on l until Close; it always closes l.
func (s *Set) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer l.Close()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.ServeConn(nc)
	}
}

// ServeConn serves one already-accepted connection on a new goroutine and
// returns at once.
func (s *Set) ServeConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	n := s.seq.Add(1)
	c := s.newConn(nc, n)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = n
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.Serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Conns returns the open connections, oldest first. Any goroutine.
func (s *Set) Conns() []Conn {
	s.mu.Lock()
	type numbered struct {
		c Conn
		n uint64
	}
	all := make([]numbered, 0, len(s.conns))
	for c, n := range s.conns {
		all = append(all, numbered{c, n})
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b numbered) int { return cmp.Compare(a.n, b.n) })
	out := make([]Conn, len(all))
	for i, e := range all {
		out[i] = e.c
	}
	return out
}

// Connections returns the number of open connections.
func (s *Set) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, asks every connection to shut down, and waits for
// them until ctx ends; then it aborts those that remain and returns
// ctx.Err().
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.Abort()
		}
		<-done
		return ctx.Err()
	}
}
