package redis

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy is a TCP proxy to a Redis whose link can be cut. Partition stops
// all forwarding, both ways, without closing anything (a black hole, as a
// network partition looks to both ends): bytes read meanwhile are held and
// delivered by Heal, even when their sender has given up and closed, as a
// network delivers what it had in flight. DropReply makes it swallow the
// next reply and cut that connection, as a connection lost after the
// request reached Redis.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	open  chan struct{} // closed while forwarding is allowed
	conns []net.Conn

	drop    atomic.Int32 // replies still to swallow
	dropped atomic.Int32 // replies swallowed
	accepts atomic.Int32 // connections accepted
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, open: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepts.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.Heal()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// Partition stops forwarding until Heal.
func (p *proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Heal resumes forwarding, held bytes first.
func (p *proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// DropReply makes the proxy swallow the next bytes Redis sends on any
// connection and close that connection.
func (p *proxy) DropReply() { p.drop.Add(1) }

func (p *proxy) serve(c net.Conn) {
	<-p.gate()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(s, c, false) }()
	go func() { defer wg.Done(); p.pipe(c, s, true) }()
	wg.Wait()
}

// pipe copies src to dst, holding what it read while partitioned.
// replies marks the Redis-to-client direction.
func (p *proxy) pipe(dst, src net.Conn, replies bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if replies && p.drop.Load() > 0 && p.drop.Add(-1) >= 0 {
				p.dropped.Add(1)
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
