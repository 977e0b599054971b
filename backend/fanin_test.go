package backend

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
)

// bodies drains n deliveries of c and returns "dest:body" strings, sorted.
func drain(t *testing.T, c chanSink, n int) ([]Delivery, []string) {
	t.Helper()
	ds := make([]Delivery, 0, n)
	out := make([]string, 0, n)
	for range n {
		d := c.next(t)
		ds = append(ds, d)
		out = append(out, d.Msg.Dest.Name+":"+string(d.Msg.Body))
	}
	sort.Strings(out)
	return ds, out
}

func TestQueueWildcardExistingAndFutureQueues(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pub(t, b, q("orders.a"), "a1")
	pub(t, b, q("orders.b.x"), "bx1")
	pub(t, b, q("orders"), "no")    // '>' needs at least one more element
	pub(t, b, q("other.a"), "no")   // another hierarchy
	pub(t, b, tp("orders.t"), "no") // a topic, not a queue
	s, c := sub(t, b, SubscribeOptions{Dest: q("orders.>"), Credit: 100})
	ds, got := drain(t, c, 2)
	if fmt.Sprint(got) != "[orders.a:a1 orders.b.x:bx1]" {
		t.Fatalf("wildcard got %v from existing queues", got)
	}
	// A queue made after the subscription feeds it too, from its first
	// message.
	pub(t, b, q("orders.c"), "c1")
	d := c.next(t)
	if d.Msg.Dest != q("orders.c") || string(d.Msg.Body) != "c1" {
		t.Fatalf("future queue: got %s %q", d.Msg.Dest, d.Msg.Body)
	}
	c.none(t)
	for _, d := range append(ds, d) {
		if d.Sub != s {
			t.Fatal("a delivery names a member, not the subscription")
		}
		if err := s.Settle(d.Tag, Accepted); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"orders.a", "orders.b.x", "orders.c"} {
		if r, i := b.QueueDepth(q(n)); r != 0 || i != 0 {
			t.Fatalf("%s holds %d+%d after the acks, want 0+0", n, r, i)
		}
	}
	if r, _ := b.QueueDepth(q("orders")); r != 1 {
		t.Fatal("orders lost its message")
	}
	// Closed, it follows no pattern any more.
	s.Close()
	pub(t, b, q("orders.d"), "d1")
	c.none(t)
	for _, st := range b.Stats() {
		if st.Consumers != 0 {
			t.Fatalf("%s still has %d consumers after Close", st.Name, st.Consumers)
		}
	}
}

func TestQueueWildcardCompetesAndSettlesPerQueue(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	// The plain consumer's credit lasts for its share of w.a: what comes
	// back later can only go to the wildcard.
	plainA, pa := sub(t, b, SubscribeOptions{Dest: q("w.a"), Credit: 5})
	defer plainA.Close()
	w, wc := sub(t, b, SubscribeOptions{Dest: q("w.*"), Credit: 100})
	for i := range 10 {
		pub(t, b, q("w.a"), fmt.Sprint("a", i))
		pub(t, b, q("w.b"), fmt.Sprint("b", i))
	}
	// w.a's messages are shared between its plain consumer and the
	// wildcard one (round robin); w.b's all go to the wildcard.
	if len(pa) != 5 || len(wc) != 15 {
		t.Fatalf("plain consumer of w.a got %d, wildcard %d; want 5 and 15", len(pa), len(wc))
	}
	ds, _ := drain(t, wc, 15)
	drain(t, pa, 5) // held unsettled
	// Released goes back to its own queue, where the plain consumer of
	// w.a may take it; Failed counts; Rejected dead-letters with the
	// right origin.
	var rel, rej *Delivery
	for i := range ds {
		d := &ds[i]
		switch {
		case d.Msg.Dest == q("w.a") && rel == nil:
			rel = d
			if err := w.Settle(d.Tag, Released); err != nil {
				t.Fatal(err)
			}
		case d.Msg.Dest == q("w.b") && rej == nil:
			rej = d
			if err := w.Settle(d.Tag, Rejected); err != nil {
				t.Fatal(err)
			}
		default:
			if err := w.Settle(d.Tag, Accepted); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The wildcard still has credit: it takes the released message back
	// at once (its own queue, w.a).
	d := wc.next(t)
	if d.Msg != rel.Msg || d.Redelivered() {
		t.Fatalf("after a release got %q redelivered=%v", d.Msg.Body, d.Redelivered())
	}
	if r, i := b.QueueDepth(q("w.a")); r != 0 || i != 6 {
		t.Fatalf("w.a holds %d+%d, want 0+6 (5 with the plain consumer, 1 with the wildcard)", r, i)
	}
	if r, i := b.QueueDepth(q("w.b")); r != 0 || i != 0 {
		t.Fatalf("w.b holds %d+%d, want 0+0", r, i)
	}
	dl := make(chanSink, 10)
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("ActiveMQ.DLQ"), Credit: 10, AutoAck: true}, dl); err != nil {
		t.Fatal(err)
	}
	if v, _ := dl.next(t).Msg.Prop("originalDestination"); v != "queue://w.b" {
		t.Fatalf("the rejected message's originalDestination is %v", v)
	}
	if err := w.Settle(1<<memberBits|999, Accepted); !errors.Is(err, ErrUnknownDelivery) {
		t.Fatalf("settling an unknown tag: %v", err)
	}
	// Closing the wildcard redelivers what it held, flagged, to the
	// queue's other consumer.
	w.Close()
	plainA.AddCredit(1)
	d = pa.next(t)
	if d.Msg != rel.Msg || !d.Redelivered() {
		t.Fatalf("after the wildcard closed the plain consumer got %q redelivered=%v", d.Msg.Body, d.Redelivered())
	}
}

func TestFanInSharesCredit(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i := range 5 {
		pub(t, b, q("cr.a"), fmt.Sprint("a", i))
		pub(t, b, q("cr.b"), fmt.Sprint("b", i))
	}
	s, c := sub(t, b, SubscribeOptions{Dest: q("cr.>"), Credit: 2})
	defer s.Close()
	if len(c) != 2 {
		t.Fatalf("%d deliveries with a credit of 2 over two queues", len(c))
	}
	seen := map[string]bool{}
	for n := 0; n < 10; n++ {
		d := c.next(t)
		seen[d.Msg.Dest.Name] = true
		if n == 3 && len(seen) != 2 {
			t.Fatalf("four deliveries all came from %v: one queue starves the other", seen)
		}
		if len(c) != 1 && n < 9 {
			t.Fatalf("%d deliveries outstanding with a credit of 2", len(c)+1)
		}
		if err := s.SettleAndCredit([]uint64{d.Tag}, Accepted, 1); err != nil {
			t.Fatal(err)
		}
	}
	c.none(t)
	// SetCredit(0) stops it; AddCredit resumes.
	s.SetCredit(0)
	pub(t, b, q("cr.a"), "late")
	c.none(t)
	s.AddCredit(1)
	if got := string(c.next(t).Msg.Body); got != "late" {
		t.Fatalf("after AddCredit got %q", got)
	}
}

func TestCompositeSubscription(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pubMsg(t, b, &Message{Dest: q("ca"), Body: []byte("a-red"), Props: []Prop{{"color", "red"}}})
	pubMsg(t, b, &Message{Dest: q("ca"), Body: []byte("a-blue"), Props: []Prop{{"color", "blue"}}})
	s, c := sub(t, b, SubscribeOptions{Dest: q("ca"), Composite: []Destination{q("cb"), tp("ct"), q("ca"), q("cw.>")},
		Credit: 100, Selector: "color = 'red'"})
	pubMsg(t, b, &Message{Dest: q("cb"), Body: []byte("b-red"), Props: []Prop{{"color", "red"}}})
	pubMsg(t, b, &Message{Dest: tp("ct"), Body: []byte("t-red"), Props: []Prop{{"color", "red"}}})
	pubMsg(t, b, &Message{Dest: q("cw.x"), Body: []byte("w-red"), Props: []Prop{{"color", "red"}}})
	pubMsg(t, b, &Message{Dest: tp("ct"), Body: []byte("t-blue"), Props: []Prop{{"color", "blue"}}})
	ds, got := drain(t, c, 4)
	if fmt.Sprint(got) != "[ca:a-red cb:b-red ct:t-red cw.x:w-red]" {
		t.Fatalf("composite got %v", got)
	}
	c.none(t) // the selector holds across members; "ca" listed twice feeds once
	// A transaction settles through the composite too.
	tx := b.Begin()
	for _, d := range ds {
		if err := tx.Settle(s, d.Tag, Accepted); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cb", "cw.x"} {
		if r, i := b.QueueDepth(q(n)); r != 0 || i != 0 {
			t.Fatalf("%s holds %d+%d after the commit", n, r, i)
		}
	}
	if r, i := b.QueueDepth(q("ca")); r != 1 || i != 0 {
		t.Fatalf("ca holds %d+%d, want the blue message waiting", r, i)
	}
	s.Close()
	pub(t, b, tp("ct"), "after")
	c.none(t)
	// Not for browsing or durable subscriptions.
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("x.>"), Browse: true}, newSink()); !errors.Is(err, ErrBadDestination) {
		t.Fatalf("browsing a wildcard: %v", err)
	}
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: tp("a"), Composite: []Destination{tp("b")}, ClientID: "c", DurableName: "d"}, newSink()); !errors.Is(err, ErrBadDestination) {
		t.Fatalf("a durable composite: %v", err)
	}
	// A member that cannot be subscribed fails the whole subscription
	// and leaves nothing attached.
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("ok"), Composite: []Destination{{TempQueue, "gone"}}}, newSink()); !errors.Is(err, ErrNoDestination) {
		t.Fatalf("a composite with a missing temporary queue: %v", err)
	}
	for _, st := range b.Stats() {
		if st.Consumers != 0 {
			t.Fatalf("%s has %d consumers after a failed composite subscribe", st.Name, st.Consumers)
		}
	}
}

func TestQueueWildcardLiteralPatternQueue(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pub(t, b, q("lit.>"), "sent to the pattern")
	_, star := sub(t, b, SubscribeOptions{Dest: q("lit.*"), Credit: 10, AutoAck: true})
	_, rest := sub(t, b, SubscribeOptions{Dest: q("lit.>"), Credit: 10, AutoAck: true})
	if got := string(rest.next(t).Msg.Body); got != "sent to the pattern" {
		t.Fatalf("got %q", got)
	}
	star.none(t)
}

func TestQueueWildcardExclusive(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	_, plain := sub(t, b, SubscribeOptions{Dest: q("ex.a"), Credit: 100, AutoAck: true})
	_, w := sub(t, b, SubscribeOptions{Dest: q("ex.>"), Credit: 100, AutoAck: true, Exclusive: true})
	for i := range 5 {
		pub(t, b, q("ex.a"), fmt.Sprint(i))
	}
	for i := range 5 {
		if d := w.next(t); string(d.Msg.Body) != fmt.Sprint(i) {
			t.Fatalf("exclusive wildcard got %q at %d", d.Msg.Body, i)
		}
	}
	plain.none(t)
}

// TestFanInCreditNeverExceeded: queues created and fed concurrently while
// a wildcard consumer with little credit settles: it never holds more
// unsettled deliveries than its credit, and gets every message once.
func TestFanInCreditNeverExceeded(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	const credit, queues, per = 3, 8, 200
	type sink struct {
		chanSink
		out atomic.Int64
	}
	k := &sink{chanSink: make(chanSink, queues*per)}
	var over atomic.Int64
	deliver := sinkFunc(func(d Delivery) {
		if k.out.Add(1) > credit {
			over.Add(1)
		}
		k.chanSink <- d
	})
	s, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("st.>"), Credit: credit}, deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := b.Publish(ctx, &Message{Dest: q(fmt.Sprint("st.", g)), Body: []byte(fmt.Sprint(g, ":", i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
	for range queues * per {
		d := k.next(t)
		if seen[string(d.Msg.Body)] {
			t.Fatalf("%s delivered twice", d.Msg.Body)
		}
		seen[string(d.Msg.Body)] = true
		k.out.Add(-1)
		if err := s.SettleAndCredit([]uint64{d.Tag}, Accepted, 1); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if n := over.Load(); n > 0 {
		t.Fatalf("%d deliveries went past the credit of %d", n, credit)
	}
}

type sinkFunc func(Delivery)

func (f sinkFunc) Deliver(d Delivery) { f(d) }
