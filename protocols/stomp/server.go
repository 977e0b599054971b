package stomp

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// Options configure the STOMP front-end. The gateway fills them from config.
type Options struct {
	Limits wire.Limits
	// HeartbeatMin is the shortest heart-beat interval agreed to each way;
	// it is also what the server offers in CONNECTED.
	HeartbeatMin time.Duration
	// ConnectTimeout closes a connection that sends no CONNECT in time.
	ConnectTimeout time.Duration
	// Prefetch is a subscription's default activemq.prefetchSize.
	Prefetch int
	// MaxPendingBytes caps one connection's outbound queue: past it the
	// connection is a slow consumer and is closed.
	MaxPendingBytes int
	// ServerName goes in CONNECTED's server header, e.g. "mqgate/1.0".
	ServerName string
	Logger     zerolog.Logger
}

func (o *Options) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 1000
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.ServerName == "" {
		o.ServerName = "mqgate"
	}
}

// Server serves STOMP connections on listeners, for one broker.
type Server struct {
	b    *backend.Broker
	opts Options
	log  zerolog.Logger

	connSeq atomic.Uint64
	boot    string

	mu sync.Mutex
	// Guarded by mu.
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// NewServer returns a server for b.
func NewServer(b *backend.Broker, opts Options) *Server {
	opts.setDefaults()
	return &Server{
		b:         b,
		opts:      opts,
		log:       opts.Logger,
		boot:      strconv.FormatInt(time.Now().UnixMilli(), 36),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("stomp: server closed")

// Serve accepts connections on l until Close; it always closes l.
func (s *Server) Serve(l net.Listener) error {
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
		s.serveConn(nc)
	}
}

// ServeConn serves one already-accepted connection (tests, WebSocket).
func (s *Server) ServeConn(nc net.Conn) { s.serveConn(nc) }

func (s *Server) serveConn(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	n := s.connSeq.Add(1)
	c := newConn(s, nc, n)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops accepting, stops reading from every connection, lets work in
// flight finish (pending publishes stored, queued frames written) until ctx
// ends, then closes every connection.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
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
			c.nc.Close()
		}
		<-done
		return ctx.Err()
	}
}
