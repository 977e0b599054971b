package e2e

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpProxy is a fault-injecting TCP proxy for tests, in the manner of
// etcd's pkg/proxy: it listens on a loopback port and forwards every
// connection to a target address, until told to cut the network (every
// proxied connection reset, new ones refused), to blackhole it (sockets
// kept open, bytes dropped both ways) or to heal it. Loopback only. Its
// methods are safe for concurrent use; Close (registered with t.Cleanup)
// ends every goroutine it started.
type tcpProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and every pipe

	// upstreamGone counts proxied connections whose target side closed
	// while they were blackholed: the target gave up on a silent peer.
	upstreamGone atomic.Int64
	// accepted counts the connections forwarded to the target.
	accepted atomic.Int64

	mu sync.Mutex
	// Guarded by mu.
	mode   proxyMode
	conns  map[*proxyConn]bool // live proxied connections
	held   map[net.Conn]bool   // connections accepted while blackholed, never forwarded
	closed bool
}

// proxyMode is what the proxy does with traffic.
type proxyMode int

const (
	proxyForward   proxyMode = iota // forward both ways
	proxyCut                        // reset every connection, refuse new ones
	proxyBlackhole                  // keep sockets open, drop every byte
)

// proxyConn is one proxied connection: the client's side and the
// target's.
type proxyConn struct {
	client, server net.Conn
	dark           atomic.Bool // blackholed: bytes read are dropped
	once           sync.Once
}

// reset closes both sides, with a RST rather than a FIN where it can, as
// a network failure or a peer that forgot the connection would.
func (pc *proxyConn) reset() {
	pc.once.Do(func() {
		resetConn(pc.client)
		resetConn(pc.server)
	})
}

// resetConn closes c with SO_LINGER 0 (a RST).
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// newTCPProxy starts a proxy on 127.0.0.1 forwarding to target, which
// need not listen yet (each connection dials it when accepted).
func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, ln: ln, target: target, conns: map[*proxyConn]bool{}, held: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// addr is the proxy's listening address (host:port).
func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		switch {
		case p.closed || p.mode == proxyCut:
			p.mu.Unlock()
			resetConn(c) // refused
			continue
		case p.mode == proxyBlackhole:
			// As a dropped SYN-ACK would, but the kernel already
			// answered: the client waits for a handshake that never
			// comes. Bytes it writes are read and dropped.
			p.held[c] = true
			p.wg.Add(1)
			p.mu.Unlock()
			go p.drain(c)
			continue
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.forward(c)
	}
}

// drain reads and drops what c sends until c closes.
func (p *tcpProxy) drain(c net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
	_ = c.Close()
}

// forward dials the target for client and pipes both ways.
func (p *tcpProxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, waitTimeout)
	if err != nil {
		resetConn(client) // as the target would: nobody listens
		return
	}
	pc := &proxyConn{client: client, server: server}
	p.mu.Lock()
	if p.closed || p.mode != proxyForward {
		// Cut or blackholed while dialling: gone at once.
		p.mu.Unlock()
		pc.reset()
		return
	}
	p.conns[pc] = true
	p.wg.Add(2)
	p.mu.Unlock()
	p.accepted.Add(1)
	go p.pipe(pc, client, server, false)
	go p.pipe(pc, server, client, true)
}

// pipe copies from src to dst until src fails, dropping the bytes while
// pc is dark. fromServer says src is the target's side. A failure resets
// both sides, except that the target closing a blackholed connection is
// only counted: the client's side stays open and silent, as it would
// behind a real blackhole, until the proxy heals or closes.
func (p *tcpProxy) pipe(pc *proxyConn, src, dst net.Conn, fromServer bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pc.dark.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err == nil {
			continue
		}
		if fromServer && pc.dark.Load() && !errors.Is(err, net.ErrClosed) {
			p.upstreamGone.Add(1)
			_ = pc.server.Close()
			return
		}
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
		pc.reset()
		return
	}
}

// cut resets every proxied connection and refuses new ones until heal:
// both peers see the connection reset.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	p.mode = proxyCut
	conns := p.takeConns()
	held := p.takeHeld()
	p.mu.Unlock()
	for _, pc := range conns {
		pc.reset()
	}
	for _, c := range held {
		resetConn(c)
	}
}

// blackhole keeps every proxied connection open and drops the bytes of
// both directions from now on; a new connection is accepted and never
// answered. Only the peers' own time-outs notice.
func (p *tcpProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = proxyBlackhole
	for pc := range p.conns {
		pc.dark.Store(true)
	}
}

// heal forwards new connections again. A blackholed connection cannot
// carry on (its dropped bytes are gone), so it is reset, as the peer
// that gave up on it answers the first segment that gets through once
// the network is back.
func (p *tcpProxy) heal() {
	p.mu.Lock()
	p.mode = proxyForward
	var dark []*proxyConn
	for pc := range p.conns {
		if pc.dark.Load() {
			dark = append(dark, pc)
			delete(p.conns, pc)
		}
	}
	held := p.takeHeld()
	p.mu.Unlock()
	for _, pc := range dark {
		pc.reset()
	}
	for _, c := range held {
		resetConn(c)
	}
}

// live returns how many connections the proxy forwards now.
func (p *tcpProxy) live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy: the listener and every connection close, and it
// returns once every goroutine of the proxy ended.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := p.takeConns()
	held := p.takeHeld()
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, pc := range conns {
		pc.reset()
	}
	for _, c := range held {
		resetConn(c)
	}
	p.wg.Wait()
}

// takeConns empties the live connections and returns them. p.mu must be
// held.
func (p *tcpProxy) takeConns() []*proxyConn {
	out := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		out = append(out, pc)
	}
	clear(p.conns)
	return out
}

// takeHeld empties the held connections and returns them. p.mu must be
// held.
func (p *tcpProxy) takeHeld() []net.Conn {
	out := make([]net.Conn, 0, len(p.held))
	for c := range p.held {
		out = append(out, c)
	}
	clear(p.held)
	return out
}

// TestTCPProxy checks the proxy itself against an echo server: it
// forwards, a cut resets the connection and refuses new ones, heal
// forwards again, and a blackhole keeps the connection open and silent
// until heal resets it.
func TestTCPProxy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	p := newTCPProxy(t, ln.Addr().String())
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.addr(), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// echo reports whether a byte sent on c comes back within d.
	echo := func(c net.Conn, d time.Duration) error {
		if _, err := c.Write([]byte{'x'}); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(d))
		var b [1]byte
		_, err := io.ReadFull(c, b[:])
		return err
	}
	c := dial()
	if err := echo(c, waitTimeout); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.cut()
	if err := echo(c, waitTimeout); err == nil {
		t.Fatal("the connection survived a cut")
	}
	if c2, err := net.DialTimeout("tcp", p.addr(), waitTimeout); err == nil {
		err = echo(c2, waitTimeout)
		c2.Close()
		if err == nil {
			t.Fatal("a new connection was forwarded while cut")
		}
	}
	p.heal()
	c = dial()
	if err := echo(c, waitTimeout); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	p.blackhole()
	var ne net.Error
	if err := echo(c, 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blackholed: want a read time-out, got %v", err)
	}
	p.heal()
	if err := echo(c, waitTimeout); err == nil {
		t.Fatal("a blackholed connection carried on after heal")
	}
	if err := echo(dial(), waitTimeout); err != nil {
		t.Fatalf("after the blackhole healed: %v", err)
	}
}
