package netserve

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// echoConn reads until its socket closes; Shutdown closes it.
type echoConn struct {
	nc       net.Conn
	stubborn bool // ignores Shutdown: only Abort ends it
}

func (c *echoConn) Serve() { _, _ = io.Copy(io.Discard, c.nc) }
func (c *echoConn) Shutdown() {
	if !c.stubborn {
		c.nc.Close()
	}
}
func (c *echoConn) Abort() { c.nc.Close() }

func start(t *testing.T, stubborn bool) (*Set, string, chan error) {
	s := New(zerolog.Nop(), func(nc net.Conn, _ uint64) Conn { return &echoConn{nc: nc, stubborn: stubborn} })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	return s, l.Addr().String(), served
}

func waitConns(t *testing.T, s *Set, n int) {
	deadline := time.Now().Add(5 * time.Second)
	for s.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", s.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseShutsConnectionsDown(t *testing.T) {
	s, addr, served := start(t, false)
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitConns(t, s, 3)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 0 {
		t.Fatalf("%d connections after Close", s.Connections())
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after Close")
	}
}

func TestCloseAbortsWhenContextEnds(t *testing.T) {
	s, addr, _ := start(t, true)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitConns(t, s, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close returned %v, want the context's error", err)
	}
	if s.Connections() != 0 {
		t.Fatal("a connection outlived Close")
	}
}
