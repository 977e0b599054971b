package amqp

import (
	"testing"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkRedirect checks a close's redirect error names a.
func checkRedirect(t *testing.T, cl *wire.Close, a ServerAddr) {
	t.Helper()
	e := cl.Error
	if e == nil || e.Condition != wire.CondConnectionRedirect {
		t.Fatalf("close %+v, want amqp:connection:redirect", cl)
	}
	for key, want := range map[wire.Symbol]any{infoHostname: a.Host, infoNetworkHost: a.Host, infoPort: int32(a.Port)} {
		if v, ok := e.Info.Get(key); !ok || v != want {
			t.Errorf("redirect info %s = %#v, want %#v (info %v)", key, v, want, e.Info)
		}
	}
	if e.Description == "" {
		t.Error("redirect without a description")
	}
}

// TestAMQPRedirect: Redirect asks the newest client connections to move,
// each to the address chosen for it, never a network bridge's; a
// redirected connection answers its pending publish before it closes
// with amqp:connection:redirect (AMQP 1.0 §2.8.15); the oldest client is
// left alone until asked.
func TestAMQPRedirect(t *testing.T) {
	st := newBlockingStore()
	s, b := testServer(t, Options{}, st)
	t.Cleanup(st.unblock)
	bridge := dial(t, s)
	bridge.open(&wire.Open{ContainerID: NetworkContainerPrefix + "other", MaxFrameSize: 1 << 20, ChannelMax: 65535})
	p1, p2, p3 := dial(t, s), dial(t, s), dial(t, s)
	for _, p := range []*peer{p1, p2, p3} {
		p.open(nil)
		p.begin(0)
	}
	if n := s.Clients(); n != 3 {
		t.Fatalf("Clients() = %d, want 3 (the bridge is no client)", n)
	}
	// p3 has a durable publish waiting for the store.
	p3.attachSender(0, 0, "snd", "queue://moved")
	p3.transfer(0, 0, 0, false, &wire.Message{Header: &wire.Header{Durable: true}, Value: "m"})
	waitFor(t, "the pending publish", func() bool {
		for _, c := range s.movable() {
			c.mu.Lock()
			n := c.pending
			c.mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	})

	targets := []ServerAddr{{Host: "b.example", Port: 5673}, {Host: "c.example", Port: 5674}}
	if n := s.Redirect(2, func(i int) ServerAddr { return targets[i] }); n != 2 {
		t.Fatalf("Redirect = %d, want 2", n)
	}
	checkRedirect(t, p2.expectClose(wire.CondConnectionRedirect), targets[1])
	p2.send(0, &wire.Close{})
	p2.expectEOF()

	st.unblock()
	accepted := false
	for {
		perf, _ := p3.next()
		if d, ok := perf.(*wire.Disposition); ok {
			_, accepted = d.State.(*wire.Accepted)
			continue
		}
		if cl, ok := perf.(*wire.Close); ok {
			checkRedirect(t, cl, targets[0])
			break
		}
	}
	if !accepted {
		t.Fatal("closed before the pending publish was accepted")
	}
	p3.send(0, &wire.Close{})
	p3.expectEOF()
	if r, _ := queueDepth(b, "moved"); r != 1 {
		t.Fatalf("queue depth %d, want 1", r)
	}
	waitFor(t, "the redirected connections to end", func() bool { return s.Clients() == 1 })

	if n := s.Redirect(5, func(int) ServerAddr { return ServerAddr{} }); n != 0 {
		t.Fatalf("Redirect to nowhere = %d, want 0", n)
	}
	if n := s.Redirect(5, func(int) ServerAddr { return targets[0] }); n != 1 {
		t.Fatalf("Redirect = %d, want 1: only p1 is left, the bridge is never asked", n)
	}
	checkRedirect(t, p1.expectClose(wire.CondConnectionRedirect), targets[0])
	p1.send(0, &wire.Close{})
	// The bridge still works.
	bridge.begin(0)
}
