package stomp

import (
	"bufio"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// pipeClient is a STOMP 1.2 client on an in-memory connection.
type pipeClient struct {
	t testing.TB
	c net.Conn
	r *wire.Reader
}

func dialPipe(t testing.TB, s *Server) *pipeClient {
	t.Helper()
	c, sc := net.Pipe()
	s.ServeConn(sc)
	t.Cleanup(func() { c.Close() })
	p := &pipeClient{t: t, c: c, r: wire.NewReader(bufio.NewReader(c), wire.Limits{})}
	p.send("CONNECT", "accept-version", "1.2", "host", "/")
	if f := p.next(); f.Command != "CONNECTED" {
		t.Fatalf("got %s %v", f.Command, f.Header)
	}
	p.r.SetVersion(wire.V12)
	return p
}

func (p *pipeClient) send(cmd string, hdr ...string) {
	p.t.Helper()
	_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.c.Write(wire.AppendFrame(nil, frame.New(cmd, hdr...), wire.V12)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pipeClient) next() *frame.Frame {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := p.r.Read()
		if err != nil {
			p.t.Fatal(err)
		}
		if f != nil {
			return f
		}
	}
}

// TestSubscribeCompositeAndWildcardQueues: one SUBSCRIBE to a composite
// of a queue and a queue wildcard receives from each, the MESSAGE frames
// name the concrete queue, and each ACK settles on the queue the message
// came from.
func TestSubscribeCompositeAndWildcardQueues(t *testing.T) {
	s, b := testServer(t, Options{})
	p := dialPipe(t, s)
	p.send("SEND", "destination", "/queue/c.a", "receipt", "r0")
	if f := p.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s", f.Command)
	}
	p.send("SUBSCRIBE", "id", "s", "destination", "/queue/c.a, /queue/w.>", "ack", "client-individual")
	p.send("SEND", "destination", "/queue/w.x", "receipt", "r1")
	var dests, acks []string
	for len(dests) < 2 {
		f := p.next()
		switch f.Command {
		case "MESSAGE":
			if f.Header.Get("subscription") != "s" {
				t.Fatalf("message for subscription %q", f.Header.Get("subscription"))
			}
			dests = append(dests, f.Header.Get("destination"))
			acks = append(acks, f.Header.Get("ack"))
		case "RECEIPT":
		default:
			t.Fatalf("got %s %v", f.Command, f.Header)
		}
	}
	sort.Strings(dests)
	if strings.Join(dests, " ") != "/queue/c.a /queue/w.x" {
		t.Fatalf("destinations %v", dests)
	}
	for _, a := range acks {
		p.send("ACK", "id", a)
	}
	p.send("DISCONNECT", "receipt", "bye")
	for f := p.next(); f.Command != "RECEIPT"; f = p.next() {
	}
	for _, n := range []string{"c.a", "w.x"} {
		if r, i := b.QueueDepth(backend.Destination{Kind: backend.Queue, Name: n}); r != 0 || i != 0 {
			t.Fatalf("%s holds %d+%d after the ACKs", n, r, i)
		}
	}
}

func TestSubscribeCompositeErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty member", "SUBSCRIBE\nid:1\ndestination:/queue/a,,/queue/b\n\n\x00", "empty member"},
		{"bad member", "SUBSCRIBE\nid:1\ndestination:/queue/a,/bad/b\n\n\x00", "must begin with one of"},
		{"durable composite", "SUBSCRIBE\nid:1\ndestination:/topic/a,/topic/b\nactivemq.subscriptionName:d\n\n\x00", "takes one topic"},
		{"browse composite", "SUBSCRIBE\nid:1\ndestination:/queue/a,/queue/b\nbrowser:true\n\n\x00", "takes one queue"},
		{"browse wildcard", "SUBSCRIBE\nid:1\ndestination:/queue/a.>\nbrowser:true\n\n\x00", "browse takes one queue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := testServer(t, Options{})
			fs := readFrames(t, exchange(t, s, []byte("CONNECT\naccept-version:1.2\nclient-id:c\n\n\x00"+tc.in)))
			last := fs[len(fs)-1]
			if last.Command != "ERROR" || !strings.Contains(last.Header.Get("message"), tc.want) {
				t.Fatalf("last frame %s %v, want ERROR containing %q", last.Command, last.Header, tc.want)
			}
		})
	}
}
