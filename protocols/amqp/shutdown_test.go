package amqp

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// tcpPair returns the two ends of a loopback TCP connection.
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
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestAMQPShutdownBeforeFirstDeadline: a connection told to shut down
// before its reader set its first read deadline (the broker closing while
// a peer connects) ends at once; the reader's own deadline does not
// overwrite the shutdown's wake-up and keep it serving until the close
// times out.
func TestAMQPShutdownBeforeFirstDeadline(t *testing.T) {
	s, _ := testServer(t, Options{ConnectTimeout: time.Hour, IdleTimeout: time.Hour}, nil)
	cl, sc := tcpPair(t)
	c := newConn(s, sc, 1)
	c.shutdown()
	done := make(chan struct{})
	go func() {
		c.serve()
		close(done)
	}()
	open, err := wire.AppendPerformative(wire.HeaderAMQP.Append(nil), 0, &wire.Open{ContainerID: "late", MaxFrameSize: 1 << 20, ChannelMax: 65535})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Write(open); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the connection kept serving after shutdown")
	}
	// The socket is closed: the client reads its end (EOF, or a reset for
	// the input the server never read), not a deadline.
	_ = cl.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadAll(cl); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the socket stayed open: %v", err)
	}
}
