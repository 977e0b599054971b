package backend

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/memory"
)

func TestLocalDemandLeavesOutNetworkAndTemp(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	s1, _ := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1})
	s2, _ := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1})
	n1, _ := sub(t, b, SubscribeOptions{Dest: q("net.only"), Credit: 1, Network: true, Priority: -5})
	n2, _ := sub(t, b, SubscribeOptions{Dest: tp("prices"), Credit: 1, Network: true})
	t1, _ := sub(t, b, SubscribeOptions{Dest: tp("news"), Credit: 1})
	w1, _ := sub(t, b, SubscribeOptions{Dest: q("eu.>"), Credit: 1})
	d1, _ := sub(t, b, SubscribeOptions{Dest: tp("audit"), Credit: 1, ClientID: "c", DurableName: "d"})
	if err := b.CreateTemp(Destination{Kind: TempQueue, Name: "tmp1"}, "o"); err != nil {
		t.Fatal(err)
	}
	tq, _ := sub(t, b, SubscribeOptions{Dest: Destination{Kind: TempQueue, Name: "tmp1"}, Owner: "o", Credit: 1})
	defer func() {
		for _, s := range []*Subscription{s1, s2, n1, n2, t1, w1, tq} {
			s.Close()
		}
	}()
	d1.Close() // offline, still demand
	got := fmt.Sprint(b.LocalDemand())
	want := fmt.Sprint([]Demand{{q("eu.>"), 1}, {q("orders"), 2}, {tp("audit"), 0}, {tp("news"), 1}})
	if got != want {
		t.Fatalf("LocalDemand = %s, want %s", got, want)
	}
}

func TestFilterKeepsRefusedQueueMessagesForOthers(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	refuse := func(m *Message, _ int64) bool { return !slices.Contains(m.BrokerPath, "peer") }
	ns, nc := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10, Network: true, Priority: -5, Filter: refuse})
	defer ns.Close()
	if err := b.Publish(ctx, &Message{Dest: q("a"), Body: []byte("back"), BrokerPath: []string{"peer"}}); err != nil {
		t.Fatal(err)
	}
	pub(t, b, q("a"), "local")
	if d := nc.next(t); string(d.Msg.Body) != "local" {
		t.Fatalf("network subscription got %q", d.Msg.Body)
	}
	nc.none(t)
	ls, lc := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	defer ls.Close()
	if d := lc.next(t); string(d.Msg.Body) != "back" {
		t.Fatalf("local consumer got %q", d.Msg.Body)
	}
}

func TestFilterSkipsRefusedTopicMessages(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	refuse := func(m *Message, _ int64) bool { return len(m.BrokerPath) == 0 }
	ns, nc := sub(t, b, SubscribeOptions{Dest: tp("t"), Credit: 1, Network: true, Filter: refuse})
	defer ns.Close()
	if err := b.Publish(ctx, &Message{Dest: tp("t"), Body: []byte("far"), BrokerPath: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	pub(t, b, tp("t"), "near")
	d := nc.next(t)
	if string(d.Msg.Body) != "near" {
		t.Fatalf("got %q, want near (the refused message must not wait in the subscription)", d.Msg.Body)
	}
}

func TestNetworkPriorityBelowLocal(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	ns, nc := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, Network: true, Priority: -5})
	defer ns.Close()
	ls, lc := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 2})
	defer ls.Close()
	for i := range 5 {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	if len(lc) != 2 || len(nc) != 3 {
		t.Fatalf("local got %d, network %d; want 2 and 3", len(lc), len(nc))
	}
}

func TestPublishForwardedDropsDuplicates(t *testing.T) {
	b := New(Options{NodeID: "B"})
	defer b.Close()
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10, AutoAck: true})
	defer s.Close()
	fwd := func(id string, path ...string) error {
		ch := make(chan error, 1)
		if err := b.PublishForwarded(&Message{ID: id, Dest: q("a"), Body: []byte(id), BrokerPath: path}, func(err error) { ch <- err }); err != nil {
			return err
		}
		return <-ch
	}
	for _, step := range []struct {
		id   string
		path []string
	}{
		{"m1", []string{"A"}},
		{"m1", []string{"A"}}, // a resend
		{"m2", []string{"A"}},
		{"m1", []string{"A", "C"}},      // a second copy by another route
		{"m1", []string{"A", "B", "C"}}, // back here: its consumers moved back
		{"m1", []string{"A", "B", "C"}}, // a resend of that
	} {
		if err := fwd(step.id, step.path...); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(c) > 0 {
		d := <-c
		got = append(got, fmt.Sprint(string(d.Msg.Body), " ", d.Msg.BrokerPath))
	}
	if want := []string{"m1 [A]", "m2 [A]", "m1 [A B C]"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v (resends and a second route dropped, a replay kept)", got, want)
	}
	if n := b.DuplicatesDropped(); n != 3 {
		t.Fatalf("DuplicatesDropped = %d, want 3", n)
	}
	// A topic message is one message whatever its route.
	ts, tc := sub(t, b, SubscribeOptions{Dest: tp("t"), Credit: 10, AutoAck: true})
	defer ts.Close()
	for _, path := range [][]string{{"A"}, {"A", "B"}} {
		ch := make(chan error, 1)
		if err := b.PublishForwarded(&Message{ID: "t1", Dest: tp("t"), BrokerPath: path}, func(err error) { ch <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if len(tc) != 1 {
		t.Fatalf("topic subscriber got %d copies, want 1", len(tc))
	}
}

func TestPublishForwardedRemembersRecoveredMessages(t *testing.T) {
	st := memory.New(memory.Options{})
	b1 := New(Options{Store: st})
	if err := b1.Publish(ctx, &Message{ID: "m1", Dest: q("a"), Persistent: true, BrokerPath: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
	// A restart: a new core recovers the same store (b1 is abandoned, as
	// by a crash).
	b2 := New(Options{Store: st})
	defer b2.Close()
	if n, err := b2.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	ch := make(chan error, 1)
	if err := b2.PublishForwarded(&Message{ID: "m1", Dest: q("a"), Persistent: true, BrokerPath: []string{"A"}}, func(err error) { ch <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if r, _ := b2.QueueDepth(q("a")); r != 1 {
		t.Fatalf("queue holds %d messages after the resend, want 1", r)
	}
}

// TestForwardedSkipsProducerAudit: a forwarded message carrying a
// producer's audit stamp is not dropped by the producer audit when it
// comes back (a replay) after the broker stored the original.
func TestForwardedSkipsProducerAudit(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10, AutoAck: true})
	defer s.Close()
	stamp := []Prop{{Name: AuditIDProp, Value: "p1"}, {Name: AuditSeqProp, Value: "7"}}
	if err := b.Publish(ctx, &Message{ID: "m1", Dest: q("a"), Props: stamp}); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	if err := b.PublishForwarded(&Message{ID: "m1", Dest: q("a"), Props: stamp, BrokerPath: []string{"self", "c"}}, func(err error) { ch <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	if len(c) != 2 {
		t.Fatalf("%d deliveries, want the original and its replay", len(c))
	}
}

// TestPeerDemand: duplex pulls are registered per subscription, reported
// as the shortest route per destination and peer, announced through
// OnDemand, and forgotten when removed.
func TestPeerDemand(t *testing.T) {
	var changes []Destination
	b := New(Options{OnDemand: func(d Destination, _ int) { changes = append(changes, d) }})
	defer b.Close()
	s1, _ := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1, Network: true})
	s2, _ := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1, Network: true})
	s3, _ := sub(t, b, SubscribeOptions{Dest: tp("news"), Credit: 1, Network: true})
	defer s1.Close()
	defer s2.Close()
	defer s3.Close()
	changes = nil
	b.AddPeerDemand(s1, PeerDemand{Dest: q("orders"), Peer: "a", Hops: 2})
	b.AddPeerDemand(s2, PeerDemand{Dest: q("orders"), Peer: "a", Hops: 1})
	b.AddPeerDemand(s3, PeerDemand{Dest: tp("news"), Peer: "c", Hops: 1})
	got := fmt.Sprint(b.PeerDemand())
	want := fmt.Sprint([]PeerDemand{{q("orders"), "a", 1}, {tp("news"), "c", 1}})
	if got != want {
		t.Fatalf("PeerDemand = %s, want %s", got, want)
	}
	if len(changes) != 3 {
		t.Fatalf("OnDemand calls %v", changes)
	}
	b.RemovePeerDemand(s2)
	b.RemovePeerDemand(s2) // twice: no-op
	b.RemovePeerDemand(s3)
	if got := fmt.Sprint(b.PeerDemand()); got != fmt.Sprint([]PeerDemand{{q("orders"), "a", 2}}) {
		t.Fatalf("after removals: %s", got)
	}
	if len(changes) != 5 {
		t.Fatalf("OnDemand calls %v", changes)
	}
}

func TestPullFilter(t *testing.T) {
	f := PullFilter("a", 2)
	for _, tc := range []struct {
		path []string
		want bool
	}{{nil, true}, {[]string{"c"}, true}, {[]string{"a"}, false}, {[]string{"c", "d"}, false}, {[]string{"c", "a"}, false}} {
		if got := f(&Message{BrokerPath: tc.path}, 0); got != tc.want {
			t.Errorf("path %v: %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestForwardInDoubt: a network subscription's delivery settled Unknown
// (the bridge broke after sending it) comes back flagged redelivered, and
// a copy of it that returns from the peer (its path holds this broker) is
// dropped and answered as stored; once a later forward is accepted, the
// message is no longer in doubt and a copy coming back is a new message.
func TestForwardInDoubt(t *testing.T) {
	b := New(Options{NodeID: "b", MaxRedeliveries: -1})
	defer b.Close()
	m := pub(t, b, q("orders"), "x")
	n, nc := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1, Network: true, Priority: -5})
	d := nc.next(t)
	if err := n.Settle(d.Tag, Unknown); err != nil {
		t.Fatal(err)
	}
	n.Close()
	local, lc := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 1})
	defer local.Close()
	if got := lc.next(t); !got.Redelivered() || got.Msg.ID != m.ID {
		t.Fatalf("after an Unknown forward: %s redelivered=%v", got.Msg.ID, got.Redelivered())
	}
	back := &Message{ID: m.ID, Dest: q("orders"), Body: []byte("x"), BrokerPath: []string{"b", "a"}}
	stored := make(chan error, 1)
	if err := b.PublishForwarded(back, func(err error) { stored <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatalf("the returning copy was answered %v", err)
	}
	if r, _ := b.QueueDepth(q("orders")); r != 0 || b.DuplicatesDropped() != 1 {
		t.Fatalf("the returning copy was stored: ready %d, dropped %d", r, b.DuplicatesDropped())
	}

	// A forward the peer accepts takes the message out of doubt.
	m2 := pub(t, b, q("moved"), "y")
	n2, nc2 := sub(t, b, SubscribeOptions{Dest: q("moved"), Credit: 2, Network: true, Priority: -5})
	d2 := nc2.next(t)
	_ = n2.Settle(d2.Tag, Unknown)
	d2 = nc2.next(t)
	if err := n2.Settle(d2.Tag, Accepted); err != nil {
		t.Fatal(err)
	}
	n2.Close()
	back2 := &Message{ID: m2.ID, Dest: q("moved"), Body: []byte("y"), BrokerPath: []string{"b", "a"}}
	if err := b.PublishForwarded(back2, func(error) {}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r, _ := b.QueueDepth(q("moved")); r == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a copy of a message accepted by the peer, coming back, was not stored")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestResendThenOriginal: a message a failover producer resent to this
// broker (mqgate-resend) is stored and delivered flagged; its original,
// forwarded here later from the broker the producer lost, is dropped and
// answered as stored. A forwarded message of another sequence is not.
func TestResendThenOriginal(t *testing.T) {
	b := New(Options{NodeID: "b", MaxRedeliveries: -1})
	defer b.Close()
	s, c := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 10, AutoAck: true})
	defer s.Close()
	props := func(seq string, resend bool) []Prop {
		p := []Prop{{Name: AuditIDProp, Value: "p1"}, {Name: AuditSeqProp, Value: seq}}
		if resend {
			p = append(p, Prop{Name: PropResend, Value: "true"})
		}
		return p
	}
	resent := &Message{Dest: q("orders"), Body: []byte("7"), Props: props("7", true), Resent: true}
	if err := b.Publish(ctx, resent); err != nil {
		t.Fatal(err)
	}
	if d := c.next(t); !d.Redelivered() {
		t.Fatal("a resend was delivered unflagged")
	}
	fwd := func(seq string) error {
		ch := make(chan error, 1)
		m := &Message{ID: "ID:a-" + seq, Dest: q("orders"), Body: []byte(seq), Props: props(seq, false), BrokerPath: []string{"a"}}
		if err := b.PublishForwarded(m, func(err error) { ch <- err }); err != nil {
			return err
		}
		return <-ch
	}
	if err := fwd("7"); err != nil {
		t.Fatalf("the original was answered %v", err)
	}
	if err := fwd("8"); err != nil {
		t.Fatal(err)
	}
	if d := c.next(t); string(d.Msg.Body) != "8" || d.Redelivered() {
		t.Fatalf("got %q redelivered=%v, want 8 unflagged (7's original dropped)", d.Msg.Body, d.Redelivered())
	}
	if len(c) != 0 || b.DuplicatesDropped() != 1 {
		t.Fatalf("%d more deliveries, %d dropped", len(c), b.DuplicatesDropped())
	}
}
