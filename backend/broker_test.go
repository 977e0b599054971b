package backend

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// chanSink collects deliveries on a buffered channel.
type chanSink chan Delivery

func (c chanSink) Deliver(d Delivery) { c <- d }

func newSink() chanSink { return make(chanSink, 10000) }

func (c chanSink) next(t *testing.T) Delivery {
	t.Helper()
	select {
	case d := <-c:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5s")
		return Delivery{}
	}
}

func (c chanSink) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-c:
		t.Fatalf("unexpected delivery of %q", d.Msg.Body)
	default:
	}
}

var ctx = context.Background()

func q(name string) Destination  { return Destination{Kind: Queue, Name: name} }
func tp(name string) Destination { return Destination{Kind: Topic, Name: name} }

func pub(t *testing.T, b *Broker, d Destination, body string) *Message {
	t.Helper()
	m := &Message{Dest: d, Body: []byte(body)}
	if err := b.Publish(ctx, m); err != nil {
		t.Fatalf("publish %s: %v", body, err)
	}
	return m
}

func sub(t *testing.T, b *Broker, opts SubscribeOptions) (*Subscription, chanSink) {
	t.Helper()
	s := newSink()
	x, err := b.Subscribe(ctx, opts, s)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return x, s
}

func TestQueueCompetingConsumersEachMessageOnce(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	s1, c1 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 1000, AutoAck: true})
	s2, c2 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 1000, AutoAck: true})
	defer s1.Close()
	defer s2.Close()
	const n = 100
	for i := range n {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	seen := map[string]int{}
	if len(c1)+len(c2) != n {
		t.Fatalf("got %d deliveries, want %d", len(c1)+len(c2), n)
	}
	if len(c1) == 0 || len(c2) == 0 {
		t.Fatalf("round robin failed: %d and %d", len(c1), len(c2))
	}
	for len(c1) > 0 {
		seen[string((<-c1).Msg.Body)]++
	}
	for len(c2) > 0 {
		seen[string((<-c2).Msg.Body)]++
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("message %d delivered %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

func TestCreditLimitsUnsettledDeliveries(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i := range 10 {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 3})
	if len(c) != 3 {
		t.Fatalf("got %d deliveries with credit 3", len(c))
	}
	d := c.next(t)
	c.next(t)
	c.next(t)
	if err := s.Settle(d.Tag, Accepted); err != nil {
		t.Fatal(err)
	}
	c.none(t) // settling gives no credit by itself
	s.AddCredit(1)
	if got := string(c.next(t).Msg.Body); got != "3" {
		t.Fatalf("next delivery %q, want 3", got)
	}
	if r, i := b.QueueDepth(q("a")); r != 6 || i != 3 {
		t.Fatalf("depth ready=%d inflight=%d, want 6 and 3", r, i)
	}
}

func TestCloseRedeliversUnackedInOrderFlagged(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i := range 5 {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	s1, c1 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 3})
	d0 := c1.next(t)
	if err := s1.Settle(d0.Tag, Accepted); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	_, c2 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	for i := 1; i < 5; i++ {
		d := c2.next(t)
		if got := string(d.Msg.Body); got != fmt.Sprint(i) {
			t.Fatalf("delivery %d is %q", i, got)
		}
		if want := i <= 2; d.Redelivered() != want {
			t.Fatalf("message %d redelivered=%v, want %v", i, d.Redelivered(), want)
		}
	}
}

func TestRejectGoesToDLQ(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pub(t, b, q("a"), "poison")
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	if err := s.Settle(c.next(t).Tag, Rejected); err != nil {
		t.Fatal(err)
	}
	_, dc := sub(t, b, SubscribeOptions{Dest: q("ActiveMQ.DLQ"), Credit: 10})
	d := dc.next(t)
	if string(d.Msg.Body) != "poison" {
		t.Fatalf("DLQ got %q", d.Msg.Body)
	}
	if v, _ := d.Msg.Prop("originalDestination"); v != "queue://a" {
		t.Fatalf("originalDestination %v", v)
	}
	if r, i := b.QueueDepth(q("a")); r+i != 0 {
		t.Fatalf("queue a still holds %d+%d", r, i)
	}
}

func TestFailedRedeliversUntilMaxThenDLQ(t *testing.T) {
	b := New(Options{MaxRedeliveries: 2})
	defer b.Close()
	pub(t, b, q("a"), "x")
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	for i := range 3 {
		d := c.next(t)
		if d.Count != uint32(i) {
			t.Fatalf("delivery %d has count %d", i, d.Count)
		}
		if err := s.Settle(d.Tag, Failed); err != nil {
			t.Fatal(err)
		}
	}
	c.none(t)
	if r, _ := b.QueueDepth(q("ActiveMQ.DLQ")); r != 1 {
		t.Fatalf("DLQ depth %d, want 1", r)
	}
}

func TestReleaseDoesNotCountAsRedelivery(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pub(t, b, q("a"), "x")
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	d := c.next(t)
	if err := s.Settle(d.Tag, Released); err != nil {
		t.Fatal(err)
	}
	if d2 := c.next(t); d2.Redelivered() {
		t.Fatal("a released message came back marked redelivered")
	}
	if err := s.Settle(d.Tag, Accepted); err != ErrUnknownDelivery {
		t.Fatalf("settling a settled tag: %v", err)
	}
}

func TestTopicFanOutOnlyAfterSubscribe(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	pub(t, b, tp("t"), "before")
	_, c1 := sub(t, b, SubscribeOptions{Dest: tp("t"), Credit: 10, AutoAck: true})
	_, c2 := sub(t, b, SubscribeOptions{Dest: tp("t"), Credit: 10, AutoAck: true})
	pub(t, b, tp("t"), "after")
	for _, c := range []chanSink{c1, c2} {
		if got := string(c.next(t).Msg.Body); got != "after" {
			t.Fatalf("got %q", got)
		}
		c.none(t)
	}
}

func TestNoLocal(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	_, c := sub(t, b, SubscribeOptions{Dest: tp("t"), Credit: 10, AutoAck: true, Owner: "me", NoLocal: true})
	b.Publish(ctx, &Message{Dest: tp("t"), Body: []byte("mine"), ProducerID: "me"})
	b.Publish(ctx, &Message{Dest: tp("t"), Body: []byte("theirs"), ProducerID: "you"})
	if got := string(c.next(t).Msg.Body); got != "theirs" {
		t.Fatalf("got %q", got)
	}
	c.none(t)
}

func TestDurableSubscriptionKeepsMessagesWhileAway(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	opts := SubscribeOptions{Dest: tp("t"), Credit: 10, ClientID: "c1", DurableName: "d"}
	s, _ := sub(t, b, opts)
	if _, err := b.Subscribe(ctx, opts, newSink()); err != ErrSubscriptionActive {
		t.Fatalf("second consumer on a durable subscription: %v", err)
	}
	s.Close()
	pub(t, b, tp("t"), "while away")
	s, c := sub(t, b, opts)
	if got := string(c.next(t).Msg.Body); got != "while away" {
		t.Fatalf("got %q", got)
	}
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	pub(t, b, tp("t"), "after unsubscribe")
	_, c = sub(t, b, opts)
	c.none(t)
}

func TestTransactionCommitAndAbort(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10})
	tx := b.Begin()
	tx.Publish(&Message{Dest: q("a"), Body: []byte("1")})
	tx.Publish(&Message{Dest: q("a"), Body: []byte("2")})
	c.none(t)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	d1, d2 := c.next(t), c.next(t)
	if string(d1.Msg.Body) != "1" || string(d2.Msg.Body) != "2" {
		t.Fatalf("got %q %q", d1.Msg.Body, d2.Msg.Body)
	}
	if err := tx.Commit(ctx); err != ErrTxDone {
		t.Fatalf("second commit: %v", err)
	}
	tx = b.Begin()
	tx.Publish(&Message{Dest: q("a"), Body: []byte("3")})
	tx.Settle(s, d1.Tag, Accepted)
	tx.Abort()
	d := c.next(t)
	if string(d.Msg.Body) != "1" || !d.Redelivered() {
		t.Fatalf("after abort got %q redelivered=%v, want 1 redelivered", d.Msg.Body, d.Redelivered())
	}
	c.none(t)
	tx = b.Begin()
	tx.Settle(s, d.Tag, Accepted)
	tx.Settle(s, d2.Tag, Accepted)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r, i := b.QueueDepth(q("a")); r+i != 0 {
		t.Fatalf("queue holds %d+%d after committed acks", r, i)
	}
}

func TestTempQueueOwnership(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	d := Destination{Kind: TempQueue, Name: "conn1:r"}
	if err := b.Publish(ctx, &Message{Dest: d}); err != ErrNoDestination {
		t.Fatalf("publish to an unknown temp queue: %v", err)
	}
	if err := b.CreateTemp(d, "conn1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: d, Owner: "conn2", Credit: 1}, newSink()); err != ErrNotOwner {
		t.Fatalf("subscribe by another connection: %v", err)
	}
	_, c := sub(t, b, SubscribeOptions{Dest: d, Owner: "conn1", Credit: 1, AutoAck: true})
	pub(t, b, d, "reply")
	if got := string(c.next(t).Msg.Body); got != "reply" {
		t.Fatalf("got %q", got)
	}
	b.DeleteTemp(d)
	if err := b.Publish(ctx, &Message{Dest: d}); err != ErrNoDestination {
		t.Fatalf("publish after delete: %v", err)
	}
}

func TestExpiredMessagesAreNotDelivered(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	b.Publish(ctx, &Message{Dest: q("a"), Body: []byte("old"), Expiration: time.Now().Add(-time.Second).UnixMilli()})
	pub(t, b, q("a"), "fresh")
	_, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 10, AutoAck: true})
	if got := string(c.next(t).Msg.Body); got != "fresh" {
		t.Fatalf("got %q", got)
	}
	c.none(t)
}

func TestConsumerPriorityFillsFirst(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	_, lo := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, AutoAck: true, Priority: 0})
	_, hi := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 3, Priority: 5})
	for i := range 5 {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	if len(hi) != 3 || len(lo) != 2 {
		t.Fatalf("high priority got %d, low got %d; want 3 and 2", len(hi), len(lo))
	}
}

func TestConcurrentPublishAndSettleRace(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	const producers, per = 4, 500
	var got sync.Map
	var wg sync.WaitGroup
	done := make(chan struct{})
	count := 0
	var mu sync.Mutex
	for range 3 {
		s := newSink()
		x, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("a"), Credit: 10}, s)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				select {
				case d := <-s:
					if _, dup := got.LoadOrStore(string(d.Msg.Body), true); dup {
						t.Errorf("duplicate %s", d.Msg.Body)
					}
					x.Settle(d.Tag, Accepted)
					x.AddCredit(1)
					mu.Lock()
					count++
					if count == producers*per {
						close(done)
					}
					mu.Unlock()
				case <-done:
					return
				}
			}
		}()
	}
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				pub(t, b, q("a"), fmt.Sprintf("%d-%d", p, i))
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d of %d delivered", count, producers*per)
	}
}

func TestMessageCodecRoundTrip(t *testing.T) {
	m := &Message{ID: "ID:x-1", Seq: 7, Dest: q("a"), ReplyTo: Destination{Kind: TempQueue, Name: "r"},
		Body: []byte("b\x00ody"), Text: true, Persistent: true, Priority: 9, Timestamp: 1, Expiration: 2,
		ContentType: "text/plain", CorrelationID: "c", Type: "t", GroupID: "g", GroupSeq: -1,
		Props:      []Prop{{"s", "v"}, {"b", true}, {"i", int64(-5)}, {"f", 1.5}, {"y", []byte{1, 2}}},
		BrokerPath: []string{"n1", "n2"}, ProducerID: "p"}
	got, err := decodeMessage(encodeMessage(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", m) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
	}
	for i := range len(encodeMessage(nil, m)) {
		if _, err := decodeMessage(encodeMessage(nil, m)[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", i)
		}
	}
}
