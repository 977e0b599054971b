package stomp

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestShutdownBeforeFirstDeadline: a connection told to shut down before
// its reader set its first read deadline (the broker closing while a
// client connects) ends at once; neither the connect deadline nor the
// cleared deadline of a CONNECT without heart-beats overwrites the
// shutdown's wake-up and keeps it serving until the close times out.
func TestShutdownBeforeFirstDeadline(t *testing.T) {
	s, _ := testServer(t, Options{ConnectTimeout: time.Hour})
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
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc := <-accepted
	if sc == nil {
		t.Fatal("accept failed")
	}
	defer sc.Close()
	c := newConn(s, sc, 1)
	c.shutdown()
	done := make(chan struct{})
	go func() {
		c.serve()
		close(done)
	}()
	if _, err := cl.Write([]byte("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection kept serving after shutdown")
	}
	_ = cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(cl); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the socket stayed open: %v", err)
	}
}
