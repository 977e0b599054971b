package stomp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// testServer returns a server on a fresh in-memory broker.
func testServer(t testing.TB, opts Options) (*Server, *backend.Broker) {
	b := backend.New(backend.Options{MaxRedeliveries: -1})
	s := NewServer(b, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
		b.Close()
	})
	return s, b
}

// exchange feeds in to a fresh TCP connection, closes the client's write
// side and returns everything the server wrote until it closed the
// connection.
func exchange(t testing.TB, s *Server, in []byte) []byte {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if sc, err := ln.Accept(); err == nil {
			s.ServeConn(sc)
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		out <- b
	}()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = client.Write(in)
	_ = client.(*net.TCPConn).CloseWrite()
	select {
	case b := <-out:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("server did not close the connection")
		return nil
	}
}

// readFrames parses a server's output.
func readFrames(t testing.TB, b []byte) []*frame.Frame {
	r := wire.NewReader(bytes.NewReader(b), wire.Limits{})
	r.SetVersion(wire.V12)
	var fs []*frame.Frame
	for {
		f, err := r.Read()
		if err != nil {
			return fs
		}
		if f != nil {
			fs = append(fs, f)
		}
	}
}

func TestSessionSendSubscribeReceipt(t *testing.T) {
	s, _ := testServer(t, Options{})
	c, sc := net.Pipe()
	s.ServeConn(sc)
	defer c.Close()
	br := bufio.NewReader(c)
	r := wire.NewReader(br, wire.Limits{})
	send := func(f *frame.Frame, v wire.Version) {
		t.Helper()
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(wire.AppendFrame(nil, f, v)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() *frame.Frame {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			f, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			if f != nil {
				return f
			}
		}
	}
	send(frame.New("CONNECT", "accept-version", "1.1,1.2", "host", "/"), wire.V10)
	if f := next(); f.Command != "CONNECTED" || f.Header.Get("version") != "1.2" {
		t.Fatalf("got %s %v", f.Command, f.Header)
	}
	r.SetVersion(wire.V12)
	send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/a", "ack", "client"), wire.V12)
	send(frame.New("SEND", "destination", "/queue/a", "k", "a:b\nc", "receipt", "r1"), wire.V12)
	var msg *frame.Frame
	for range 2 {
		f := next()
		switch f.Command {
		case "RECEIPT":
			if f.Header.Get("receipt-id") != "r1" {
				t.Fatalf("receipt %v", f.Header)
			}
		case "MESSAGE":
			msg = f
		default:
			t.Fatalf("unexpected %s", f.Command)
		}
	}
	if msg == nil || msg.Header.Get("k") != "a:b\nc" || msg.Header.Get("subscription") != "0" || msg.Header.Get("ack") == "" {
		t.Fatalf("message %v", msg)
	}
	if _, ok := msg.Header.Contains("content-length"); ok {
		t.Fatal("a text message came back with content-length")
	}
	send(frame.New("ACK", "id", msg.Header.Get("ack"), "receipt", "r2"), wire.V12)
	if f := next(); f.Command != "RECEIPT" || f.Header.Get("receipt-id") != "r2" {
		t.Fatalf("got %s %v", f.Command, f.Header)
	}
	send(frame.New("ACK", "id", msg.Header.Get("ack")), wire.V12)
	if f := next(); f.Command != "ERROR" || !strings.Contains(f.Header.Get("message"), "not waiting") {
		t.Fatalf("double ack: got %s %v", f.Command, f.Header)
	}
}

func TestSessionErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"before connect", "SEND\ndestination:/queue/a\n\n\x00", "expected a CONNECT frame"},
		{"unknown command", "CONNECT\naccept-version:1.2\n\n\x00FOO\n\n\x00", "unknown STOMP command"},
		{"no destination", "CONNECT\naccept-version:1.2\n\n\x00SEND\n\nx\x00", "no destination header"},
		{"bad destination", "CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/bad/x\n\n\x00", "must begin with one of"},
		{"bad escape", "CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/queue/a\nk:\\t\n\n\x00", "escape"},
		{"no header colon", "CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination\n\n\x00", ""},
		{"too large", "CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/queue/a\ncontent-length:5000\n\n", "exceeds"},
		{"bad version", "CONNECT\naccept-version:2.0\n\n\x00", "Supported protocol versions"},
		{"unknown tx", "CONNECT\naccept-version:1.2\n\n\x00COMMIT\ntransaction:t\nreceipt:9\n\n\x00", "not active"},
		{"bad ack mode", "CONNECT\naccept-version:1.2\n\n\x00SUBSCRIBE\nid:1\ndestination:/queue/a\nack:sometimes\n\n\x00", "ack header"},
		{"bad priority", "CONNECT\naccept-version:1.2\n\n\x00SEND\ndestination:/queue/a\npriority:12\n\n\x00", "priority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := testServer(t, Options{Limits: wire.Limits{MaxFrameSize: 1024}})
			fs := readFrames(t, exchange(t, s, []byte(tc.in)))
			last := fs[len(fs)-1]
			if last.Command != "ERROR" || !strings.Contains(last.Header.Get("message"), tc.want) {
				t.Fatalf("last frame %s %v, want ERROR containing %q", last.Command, last.Header, tc.want)
			}
		})
	}
}
