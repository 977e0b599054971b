package network

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		sc, _ := ln.Accept()
		accepted <- sc
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server = <-accepted; server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestCoalescingConnKeepsOrderInFewerWrites: many small writes from
// several goroutines arrive whole and, per writer, in order, in fewer
// socket writes than Write calls; Close sends what was queued.
func TestCoalescingConnKeepsOrderInFewerWrites(t *testing.T) {
	cl, sv := tcpPair(t)
	cc := &countingConn{Conn: cl}
	c := newCoalescingConn(cc)
	const writers, each = 4, 5000
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(sv)
		got <- b
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Write([]byte{byte('a' + w), byte(i), byte(i >> 8), '\n'}); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if len(b) != writers*each*4 {
		t.Fatalf("read %d bytes, want %d", len(b), writers*each*4)
	}
	next := make([]int, writers)
	for i := 0; i < len(b); i += 4 {
		w := int(b[i] - 'a')
		if n := int(b[i+1]) | int(b[i+2])<<8; n != next[w]%65536 || b[i+3] != '\n' {
			t.Fatalf("writer %d: record %d at offset %d, want %d", w, n, i, next[w])
		}
		next[w]++
	}
	if n := cc.writes.Load(); n >= writers*each {
		t.Fatalf("%d socket writes for %d Write calls: nothing was coalesced", n, writers*each)
	}
}

// TestCoalescingConnWriteError: once a socket write fails, Write reports
// the error instead of queueing bytes that can never be sent.
func TestCoalescingConnWriteError(t *testing.T) {
	cl, sv := tcpPair(t)
	sv.Close()
	c := newCoalescingConn(cl)
	defer c.Close()
	_ = cl.SetWriteDeadline(time.Now().Add(10 * time.Second))
	payload := bytes.Repeat([]byte{'x'}, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write(payload); err != nil {
			if errors.Is(err, net.ErrClosed) {
				t.Fatalf("got %v, want the socket's error", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer kept succeeding")
		}
	}
}
