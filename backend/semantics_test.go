package backend

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func pubMsg(t *testing.T, b *Broker, m *Message) {
	t.Helper()
	if err := b.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestExclusiveConsumerOwnsQueue(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	plain, pc := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, AutoAck: true})
	defer plain.Close()
	ex1, c1 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, Exclusive: true})
	_, c2 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, Exclusive: true}) // same priority: no takeover
	for i := range 10 {
		pub(t, b, q("a"), fmt.Sprint(i))
	}
	if len(c1) != 10 || len(c2) != 0 || len(pc) != 0 {
		t.Fatalf("owner got %d, other exclusive %d, plain %d; want 10, 0, 0", len(c1), len(c2), len(pc))
	}
	// Ack the first 4; the owner goes away with 6 unacked: the next
	// exclusive consumer gets them first, in order, flagged.
	for range 4 {
		ex1.Settle(c1.next(t).Tag, Accepted)
	}
	ex1.Close()
	pub(t, b, q("a"), "10")
	for i := 4; i <= 10; i++ {
		d := c2.next(t)
		if string(d.Msg.Body) != fmt.Sprint(i) || d.Redelivered() != (i < 10) {
			t.Fatalf("next owner got %q redelivered=%v at %d", d.Msg.Body, d.Redelivered(), i)
		}
	}
	if len(pc) != 0 {
		t.Fatalf("plain consumer got %d while an exclusive one exists", len(pc))
	}
	// A higher-priority exclusive consumer takes over.
	_, c3 := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 100, Exclusive: true, Priority: 5})
	pub(t, b, q("a"), "11")
	if got := string(c3.next(t).Msg.Body); got != "11" {
		t.Fatalf("higher priority exclusive got %q", got)
	}
	c2.none(t)
}

func TestMessageGroupsStickAndSpread(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	sinks := make([]chanSink, 3)
	for i := range sinks {
		_, sinks[i] = sub(t, b, SubscribeOptions{Dest: q("g"), Credit: 1000, AutoAck: true})
	}
	for i := range 30 {
		g := fmt.Sprint("G", i%3)
		pubMsg(t, b, &Message{Dest: q("g"), Body: []byte(fmt.Sprint(i)), GroupID: g, GroupSeq: int32(i/3 + 1)})
	}
	owner := map[string]int{}
	for si, c := range sinks {
		if len(c) != 10 {
			t.Fatalf("consumer %d got %d messages; want 10 (one group each)", si, len(c))
		}
		last := -1
		for len(c) > 0 {
			d := <-c
			if o, ok := owner[d.Msg.GroupID]; ok && o != si {
				t.Fatalf("group %s went to consumers %d and %d", d.Msg.GroupID, o, si)
			}
			owner[d.Msg.GroupID] = si
			var n int
			fmt.Sscan(string(d.Msg.Body), &n)
			if n <= last {
				t.Fatalf("consumer %d got %d after %d", si, n, last)
			}
			if d.FirstForGroup != (last == -1) {
				t.Fatalf("message %d FirstForGroup=%v", n, d.FirstForGroup)
			}
			last = n
		}
	}
}

func TestMessageGroupSeqOneReassignsAndNegativeCloses(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	_, c1 := sub(t, b, SubscribeOptions{Dest: q("g"), Credit: 1000, AutoAck: true})
	_, c2 := sub(t, b, SubscribeOptions{Dest: q("g"), Credit: 1000, AutoAck: true})
	pubMsg(t, b, &Message{Dest: q("g"), Body: []byte("a"), GroupID: "G", GroupSeq: 1})
	pubMsg(t, b, &Message{Dest: q("g"), Body: []byte("b"), GroupID: "G", GroupSeq: -1})
	if len(c1) != 2 {
		t.Fatalf("first consumer got %d, want the 2 messages of the group", len(c1))
	}
	// The group is closed: the next message is assigned afresh (round
	// robin moves to the second consumer).
	pubMsg(t, b, &Message{Dest: q("g"), Body: []byte("c"), GroupID: "G"})
	if d := c2.next(t); !d.FirstForGroup {
		t.Fatal("reopened group not marked first for consumer")
	}
}

func TestMessageGroupOrderUnderConsumerChurn(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, MaxGroups: 50})
	defer b.Close()
	const groups, per = 200, 50
	type rec struct {
		mu   sync.Mutex
		last map[string]int
		seen map[string]bool
	}
	r := &rec{last: map[string]int{}, seen: map[string]bool{}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	total := groups * per
	done := make(chan struct{})
	var count int
	consume := func(id int, life int) {
		s := newSink()
		x, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("churn"), Credit: 20}, s)
		if err != nil {
			t.Error(err)
			return
		}
		for n := 0; n < life; n++ {
			select {
			case d := <-s:
				var seq int
				fmt.Sscan(string(d.Msg.Body), &seq)
				r.mu.Lock()
				key := d.Msg.ID
				if !r.seen[key] {
					// A group's messages are acknowledged in order; a
					// redelivery repeats only unacknowledged ones.
					if seq < r.last[d.Msg.GroupID] {
						t.Errorf("group %s: %d after %d", d.Msg.GroupID, seq, r.last[d.Msg.GroupID])
					}
					r.last[d.Msg.GroupID] = seq
					r.seen[key] = true
					count++
					if count == total {
						close(done)
					}
				}
				r.mu.Unlock()
				x.Settle(d.Tag, Accepted)
				x.AddCredit(1)
			case <-stop:
				x.Close()
				return
			}
		}
		x.Close() // leaves with its prefetched messages unacked
	}
	for i := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); consume(i, 1<<30) }()
	}
	churn := make(chan struct{})
	go func() {
		defer close(churn)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			consume(100+i, 50+rng.IntN(200))
		}
	}()
	for i := range per {
		for g := range groups {
			pubMsg(t, b, &Message{Dest: q("churn"), Body: []byte(fmt.Sprint(i)), GroupID: fmt.Sprint("G", g)})
		}
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		r.mu.Lock()
		t.Fatalf("delivered %d of %d", count, total)
	}
	close(stop)
	wg.Wait()
	<-churn
}

func TestSelectorFiltersAndSkips(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i := range 10 {
		pubMsg(t, b, &Message{Dest: q("s"), Body: []byte(fmt.Sprint(i)), Priority: 4,
			Props: []Prop{{"color", []string{"red", "blue"}[i%2]}}})
	}
	_, red := sub(t, b, SubscribeOptions{Dest: q("s"), Credit: 100, AutoAck: true, Selector: "color = 'red'"})
	_, blue := sub(t, b, SubscribeOptions{Dest: q("s"), Credit: 100, AutoAck: true, Selector: "color='blue' AND JMSPriority = 4"})
	if len(red) != 5 || len(blue) != 5 {
		t.Fatalf("red got %d, blue %d", len(red), len(blue))
	}
	for len(red) > 0 {
		if v, _ := (<-red).Msg.Prop("color"); v != "red" {
			t.Fatalf("red consumer got %v", v)
		}
	}
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("s"), Selector: "color = "}, newSink()); err == nil {
		t.Fatal("a bad selector was accepted")
	}
}

func TestPriorityDeliveredFirst(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i, p := range []uint8{1, 9, 4, 9, 0} {
		pubMsg(t, b, &Message{Dest: q("p"), Body: []byte(fmt.Sprint(i)), Priority: p})
	}
	_, c := sub(t, b, SubscribeOptions{Dest: q("p"), Credit: 100, AutoAck: true})
	var got []string
	for range 5 {
		got = append(got, string(c.next(t).Msg.Body))
	}
	if fmt.Sprint(got) != "[1 3 2 0 4]" {
		t.Fatalf("order %v, want [1 3 2 0 4]", got)
	}
}

func TestConsumerCloseCountsTowardsDLQ(t *testing.T) {
	b := New(Options{MaxRedeliveries: 1})
	defer b.Close()
	pub(t, b, q("a"), "poison")
	for range 2 {
		s, c := sub(t, b, SubscribeOptions{Dest: q("a"), Credit: 1})
		c.next(t)
		s.Close()
	}
	if r, _ := b.QueueDepth(q("ActiveMQ.DLQ")); r != 1 {
		t.Fatalf("DLQ depth %d after two consumer failures with max 1 redelivery", r)
	}
	limit := 5
	pub(t, b, q("b"), "x")
	for range 3 {
		s, c := sub(t, b, SubscribeOptions{Dest: q("b"), Credit: 1, MaxRedeliveries: &limit})
		c.next(t)
		s.Close()
	}
	if r, _ := b.QueueDepth(q("b")); r != 1 {
		t.Fatal("the per-subscription limit was not used")
	}
}

// browseSink records a browse and its end.
type browseSink struct {
	chanSink
	done chan struct{}
}

func (b browseSink) BrowseDone() { close(b.done) }

func TestBrowseDoesNotConsume(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	for i, p := range []uint8{4, 9, 4} {
		pubMsg(t, b, &Message{Dest: q("br"), Body: []byte(fmt.Sprint(i)), Priority: p, Props: []Prop{{"k", fmt.Sprint(i)}}})
	}
	bs := browseSink{newSink(), make(chan struct{})}
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: q("br"), Browse: true, Selector: "k <> '2'"}, bs); err != nil {
		t.Fatal(err)
	}
	<-bs.done
	var got []string
	for len(bs.chanSink) > 0 {
		got = append(got, string((<-bs.chanSink).Msg.Body))
	}
	if fmt.Sprint(got) != "[1 0]" {
		t.Fatalf("browsed %v, want [1 0] (priority order, selector applied)", got)
	}
	if r, i := b.QueueDepth(q("br")); r != 3 || i != 0 {
		t.Fatalf("after a browse the queue holds %d+%d, want 3+0", r, i)
	}
	if _, err := b.Subscribe(ctx, SubscribeOptions{Dest: tp("t"), Browse: true}, bs); err == nil {
		t.Fatal("browsing a topic was accepted")
	}
}

func TestRedeliveryDelayWithBackOff(t *testing.T) {
	const delay = 50 * time.Millisecond
	b := New(Options{MaxRedeliveries: -1, RedeliveryDelay: delay, BackOffMultiplier: 2, MaxRedeliveryDelay: time.Second})
	defer b.Close()
	pub(t, b, q("d"), "x")
	pub(t, b, q("d"), "later")
	s, c := sub(t, b, SubscribeOptions{Dest: q("d"), Credit: 10})
	first := c.next(t)
	s.Settle(c.next(t).Tag, Accepted)
	for i, want := range []time.Duration{delay, 2 * delay} {
		failed := time.Now()
		if err := s.Settle(first.Tag, Failed); err != nil {
			t.Fatal(err)
		}
		first = c.next(t)
		// Never earlier than the (backed-off) delay; later is load.
		if got := time.Since(failed); got < want {
			t.Fatalf("redelivery %d after %v, want at least %v", i+1, got, want)
		}
		if string(first.Msg.Body) != "x" || !first.Redelivered() {
			t.Fatalf("got %q redelivered=%v", first.Msg.Body, first.Redelivered())
		}
	}
	// The per-subscription override wins over an hour's broker default.
	b2 := New(Options{MaxRedeliveries: -1, RedeliveryDelay: time.Hour})
	defer b2.Close()
	zero := time.Duration(0)
	pub(t, b2, q("e"), "y")
	s2, c2 := sub(t, b2, SubscribeOptions{Dest: q("e"), Credit: 10, RedeliveryDelay: &zero})
	s2.Settle(c2.next(t).Tag, Failed)
	c2.next(t)
}

func TestDLQPerDestination(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, DLQPerDestination: true})
	defer b.Close()
	pub(t, b, q("orders"), "poison")
	s, c := sub(t, b, SubscribeOptions{Dest: q("orders"), Credit: 10})
	s.Settle(c.next(t).Tag, Rejected)
	if r, _ := b.QueueDepth(q("DLQ.orders")); r != 1 {
		t.Fatalf("DLQ.orders holds %d, want 1", r)
	}
	// A rejection in a dead-letter queue does not nest DLQ.DLQ.orders.
	ds, dc := sub(t, b, SubscribeOptions{Dest: q("DLQ.orders"), Credit: 10})
	ds.Settle(dc.next(t).Tag, Rejected)
	if r, _ := b.QueueDepth(q("ActiveMQ.DLQ")); r != 1 {
		t.Fatalf("a message rejected in DLQ.orders went elsewhere than ActiveMQ.DLQ")
	}
}
