package stomp

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedirect: Redirect asks the newest connections to move, each to
// the URI chosen for it; a redirected client gets what was queued for it
// (a MESSAGE), then an ERROR with mqgate-redirect and message, then the
// end of the connection; its unacked message goes back to the queue; the
// oldest connection is left alone.
func TestRedirect(t *testing.T) {
	s, b := testServer(t, Options{})
	q := backend.Destination{Kind: backend.Queue, Name: "q"}
	c1, c2, c3 := dialPipe(t, s), dialPipe(t, s), dialPipe(t, s)
	if n := s.Clients(); n != 3 {
		t.Fatalf("Clients() = %d, want 3", n)
	}
	c3.send("SEND", "destination", "/queue/q", "persistent", "true", "receipt", "r1")
	if f := c3.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s %v", f.Command, f.Header)
	}
	// c2 holds the message unacked; the writer blocks on the pipe with
	// the MESSAGE until c2 reads it.
	c2.send("SUBSCRIBE", "destination", "/queue/q", "id", "0", "ack", "client")
	waitFor(t, "the delivery", func() bool { _, inflight := b.QueueDepth(q); return inflight == 1 })

	targets := []string{"stomp://b:61613", "stomp://c:61614"}
	var asked []int
	n := s.Redirect(2, func(i int) string { asked = append(asked, i); return targets[i] })
	if n != 2 || len(asked) != 2 {
		t.Fatalf("Redirect = %d (asked %v), want 2", n, asked)
	}
	for _, tc := range []struct {
		p    *pipeClient
		to   string
		msgs int
	}{{c3, targets[0], 0}, {c2, targets[1], 1}} {
		msgs := 0
		for {
			f := tc.p.next()
			if f.Command == "MESSAGE" {
				msgs++
				continue
			}
			if f.Command != "ERROR" {
				t.Fatalf("got %s %v, want ERROR", f.Command, f.Header)
			}
			if got := f.Header.Get(HeaderRedirect); got != tc.to {
				t.Errorf("%s = %q, want %q", HeaderRedirect, got, tc.to)
			}
			if f.Header.Get("message") == "" {
				t.Error("no message header")
			}
			break
		}
		if msgs != tc.msgs {
			t.Errorf("%d MESSAGE before the ERROR, want %d", msgs, tc.msgs)
		}
		_ = tc.p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := tc.p.r.Read(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("after the redirect: %v, want the end of the connection", err)
		}
	}
	waitFor(t, "the redirected connections to end", func() bool { return s.Clients() == 1 })
	waitFor(t, "the message back on its queue", func() bool { ready, _ := b.QueueDepth(q); return ready == 1 })

	// The one left is served as before and is not asked twice.
	c1.send("SUBSCRIBE", "destination", "/queue/q", "id", "0")
	if f := c1.next(); f.Command != "MESSAGE" || f.Header.Get("redelivered") != "true" {
		t.Fatalf("got %s %v, want the redelivered MESSAGE", f.Command, f.Header)
	}
	if n := s.Redirect(5, func(int) string { return "" }); n != 0 {
		t.Fatalf("Redirect to nowhere = %d, want 0", n)
	}
	c1.send("DISCONNECT", "receipt", "bye")
	if f := c1.next(); f.Command != "RECEIPT" {
		t.Fatalf("got %s %v", f.Command, f.Header)
	}
}

// TestRedirectShutDown: a connection already shutting down is not
// counted and not redirected.
func TestRedirectShutDown(t *testing.T) {
	s, _ := testServer(t, Options{})
	p := dialPipe(t, s)
	for _, c := range s.movable() {
		c.shutdown()
	}
	if n := s.Redirect(1, func(int) string { return "stomp://b:61613" }); n != 0 {
		t.Fatalf("Redirect = %d, want 0", n)
	}
	_ = p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := p.r.Read()
		if err != nil {
			break
		}
		if f != nil && f.Header.Get(HeaderRedirect) != "" {
			t.Fatalf("redirected while shutting down: %v", f.Header)
		}
	}
}
