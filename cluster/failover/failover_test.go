package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFailoverDelivery: a producer and a consumer share a failover URI of
// two brokers A (disk store) and B; A is closed mid-stream. Both move to
// B, the producer sending again what A had not confirmed. Every message
// the producer saw confirmed was delivered at least once: seen by the
// consumer on A or B, or still stored on A, which is restarted on its data
// directory and drained.
func TestFailoverDelivery(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		a := startBroker(t, true)
		b := startBroker(t, false)
		uri := fastURI(p, "", a.addr(p), b.addr(p))
		prod, prodEvents := dialTest(t, uri, Options{SendWindow: 100})
		cons, consEvents := dialTest(t, uri, Options{})
		if prod.Broker() != a.uri(p) || cons.Broker() != a.uri(p) {
			t.Fatalf("connected to %s and %s, want the first broker %s", prod.Broker(), cons.Broker(), a.uri(p))
		}
		ctx := testCtx(t)
		const queue, total, ahead = "failover.delivery", 3000, 300
		dest := "/queue/" + queue
		sub, err := cons.Subscribe(ctx, dest, SubOptions{Ack: AckIndividual, Prefetch: 20})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}

		// The consumer records each delivery by producer sequence and by
		// the broker it came from, and acks it.
		var (
			mu       sync.Mutex
			seen     = map[uint64]int{}
			seenBy   = map[string]int{}
			stale    int
			received atomic.Int64
		)
		progress := make(chan struct{}, 1)
		cctx, stopConsumer := context.WithCancel(ctx)
		consumerDone := make(chan struct{})
		go func() {
			defer close(consumerDone)
			for {
				m, err := sub.Receive(cctx)
				if err != nil {
					if cctx.Err() == nil {
						t.Errorf("Receive: %v", err)
					}
					return
				}
				if m.ProducerID != prod.ProducerID() || m.ProducerSeq == 0 || m.ProducerSeq > total {
					t.Errorf("message %s has producer %q seq %d", m.ID, m.ProducerID, m.ProducerSeq)
				}
				mu.Lock()
				seen[m.ProducerSeq]++
				seenBy[m.t.broker().String()]++
				mu.Unlock()
				received.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
				if err := sub.Ack(cctx, m); err != nil {
					if !errors.Is(err, ErrStaleAck) {
						if cctx.Err() == nil {
							t.Errorf("Ack: %v", err)
						}
						return
					}
					mu.Lock()
					stale++
					mu.Unlock()
				}
			}
		}()

		// The producer pipelines persistent sends; until A is closed it
		// stays at most `ahead` messages in front of the consumer, so the
		// close comes mid-stream.
		killed := make(chan struct{})
		receipts := make(chan []*Receipt, 1)
		go func() {
			rs := make([]*Receipt, 0, total)
			defer func() { receipts <- rs }()
			for i := 1; i <= total; i++ {
			gate:
				for int64(i) > received.Load()+ahead {
					select {
					case <-killed:
						break gate
					case <-progress:
					case <-ctx.Done():
						return
					}
				}
				r, err := prod.SendAsync(ctx, dest, fmt.Appendf(nil, "message %d", i), &SendOptions{Persistent: true})
				if err != nil {
					t.Errorf("SendAsync %d: %v", i, err)
					return
				}
				rs = append(rs, r)
			}
		}()

		eventually(t, func() bool { return received.Load() >= 500 }, func() string {
			return fmt.Sprintf("the consumer received %d messages, want 500 before closing A", received.Load())
		})
		a.close()
		close(killed)

		rs := <-receipts
		confirmed := map[uint64]bool{}
		for _, r := range rs {
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("send %d: %v", r.Seq(), err)
			}
			confirmed[r.Seq()] = true
		}
		if len(confirmed) != total {
			t.Fatalf("%d sends confirmed, want %d", len(confirmed), total)
		}
		// Everything that reached B has been consumed and acknowledged.
		eventually(t, func() bool {
			r, i := b.depth(queue)
			return r == 0 && i == 0
		}, func() string {
			r, i := b.depth(queue)
			return fmt.Sprintf("B still holds %d ready and %d in-flight messages (consumer received %d)", r, i, received.Load())
		})
		stopConsumer()
		<-consumerDone
		closeConn(t, prod)
		closeConn(t, cons)

		for _, l := range []*eventLog{prodEvents, consEvents} {
			eventually(t, func() bool { return l.len() > 0 }, func() string { return "no failover event" })
		}
		for name, evs := range map[string][]Event{"producer": prodEvents.all(), "consumer": consEvents.all()} {
			if len(evs) != 1 || evs[0].From != a.uri(p) || evs[0].To != b.uri(p) || evs[0].Err == nil || evs[0].Took <= 0 {
				t.Errorf("%s events %+v, want one from %s to %s with its cause", name, evs, a.uri(p), b.uri(p))
			}
		}

		// What A stored and nobody consumed: restart A and drain it.
		a.restart()
		ready, inflight := a.depth(queue)
		if inflight != 0 {
			t.Fatalf("A restarted with %d in-flight messages", inflight)
		}
		drain, _ := dialTest(t, a.uri(p), Options{})
		dsub, err := drain.Subscribe(ctx, dest, SubOptions{Ack: AckIndividual, Prefetch: 100})
		if err != nil {
			t.Fatalf("Subscribe on restarted A: %v", err)
		}
		drained := map[uint64]bool{}
		redelivered := 0
		for range ready {
			m, err := dsub.Receive(ctx)
			if err != nil {
				t.Fatalf("draining A (%d of %d): %v", len(drained), ready, err)
			}
			if m.ProducerID != prod.ProducerID() {
				t.Fatalf("drained a message of producer %q", m.ProducerID)
			}
			drained[m.ProducerSeq] = true
			if m.Redelivered {
				redelivered++
			}
			if err := dsub.Ack(ctx, m); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		eventually(t, func() bool { r, i := a.depth(queue); return r == 0 && i == 0 }, func() string {
			r, i := a.depth(queue)
			return fmt.Sprintf("A still holds %d ready and %d in-flight messages after the drain", r, i)
		})

		var missing []uint64
		for seq := range confirmed {
			if seen[seq] == 0 && !drained[seq] {
				missing = append(missing, seq)
			}
		}
		slices.Sort(missing)
		dups := 0
		for _, n := range seen {
			dups += n - 1
		}
		for seq := range drained {
			if seen[seq] > 0 {
				dups++
			}
		}
		t.Logf("%s: %d confirmed; consumer saw %d distinct (%v), %d stale acks; %d drained from A (%d redelivered); %d duplicates; producer resent %d",
			p, len(confirmed), len(seen), seenBy, stale, len(drained), redelivered, dups, sumResent(prodEvents.all()))
		if len(missing) > 0 {
			t.Fatalf("%d confirmed messages were never delivered: %v", len(missing), missing[:min(len(missing), 20)])
		}
	})
}

// sumResent adds up the Resent counts of events.
func sumResent(evs []Event) int {
	n := 0
	for _, e := range evs {
		n += e.Resent
	}
	return n
}

// closeConn closes c, failing t on error.
func closeConn(t testing.TB, c *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestResendInOrder: messages the broker never received (the proxy drops
// what the client sends) are sent again, in order and once each, on the
// next connection; the event counts them.
func TestResendInOrder(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		px := startProxy(t, b.addr(p), forward)
		ctx := testCtx(t)
		const queue, n = "failover.order", 20
		dest := "/queue/" + queue
		cons, _ := dialTest(t, b.uri(p), Options{})
		sub, err := cons.Subscribe(ctx, dest, SubOptions{Ack: AckIndividual})
		if err != nil {
			t.Fatal(err)
		}
		prod, events := dialTest(t, fastURI(p, "", px.addr()), Options{})
		if err := prod.Send(ctx, dest, []byte("before"), nil); err != nil {
			t.Fatalf("Send before the fault: %v", err)
		}
		px.drop.Store(true)
		rs := make([]*Receipt, n)
		for i := range rs {
			if rs[i], err = prod.SendAsync(ctx, dest, fmt.Appendf(nil, "m%d", i+1), nil); err != nil {
				t.Fatal(err)
			}
		}
		px.kill()
		px.drop.Store(false)
		for _, r := range rs {
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("send %d: %v", r.Seq(), err)
			}
		}
		// The event follows the takeover, which the confirmations may beat.
		eventually(t, func() bool { return events.len() > 0 }, func() string { return "no failover event" })
		evs := events.all()
		if len(evs) != 1 || evs[0].Resent != n || evs[0].From != evs[0].To {
			t.Fatalf("events %+v, want one reconnection to the same broker resending %d", evs, n)
		}
		var got []string
		for range n + 1 {
			m, err := sub.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(m.Body))
			if err := sub.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"before"}
		for i := range n {
			want = append(want, fmt.Sprintf("m%d", i+1))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("received %q, want %q", got, want)
		}
		eventually(t, func() bool { r, i := b.depth(queue); return r == 0 && i == 0 }, func() string {
			r, i := b.depth(queue)
			return fmt.Sprintf("the queue holds %d ready, %d in flight: a message was sent twice", r, i)
		})
	})
}

// TestResendOfStoredIsDropped: messages the broker stored but whose
// confirmations never reached the client (the proxy drops what the broker
// sends) are resent on the next connection; the broker's producer audit
// recognises them by mqgate-producer-id/-seq, confirms them without
// storing them again, and the consumer gets each message once.
func TestResendOfStoredIsDropped(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		px := startProxy(t, b.addr(p), forward)
		ctx := testCtx(t)
		const queue, n = "failover.audit", 20
		dest := "/queue/" + queue
		prod, events := dialTest(t, fastURI(p, "", px.addr()), Options{})
		if err := prod.Send(ctx, dest, []byte("before"), &SendOptions{Persistent: true}); err != nil {
			t.Fatalf("Send before the fault: %v", err)
		}
		px.mute.Store(true)
		rs := make([]*Receipt, n)
		var err error
		for i := range rs {
			if rs[i], err = prod.SendAsync(ctx, dest, fmt.Appendf(nil, "m%d", i+1), &SendOptions{Persistent: true}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, func() bool { r, _ := b.depth(queue); return r == n+1 }, func() string {
			r, i := b.depth(queue)
			return fmt.Sprintf("the broker holds %d ready, %d in flight, want %d stored before the cut", r, i, n+1)
		})
		px.kill()
		px.mute.Store(false)
		for _, r := range rs {
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("send %d: %v", r.Seq(), err)
			}
		}
		eventually(t, func() bool { return events.len() > 0 }, func() string { return "no failover event" })
		if evs := events.all(); len(evs) != 1 || evs[0].Resent != n {
			t.Fatalf("events %+v, want one reconnection resending %d", evs, n)
		}
		if r, i := b.depth(queue); r != n+1 || i != 0 {
			t.Fatalf("after the resend the broker holds %d ready, %d in flight, want %d: resends were stored again", r, i, n+1)
		}
		cons, _ := dialTest(t, b.uri(p), Options{})
		sub, err := cons.Subscribe(ctx, dest, SubOptions{Ack: AckIndividual})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range n + 1 {
			m, err := sub.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(m.Body))
			if err := sub.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"before"}
		for i := range n {
			want = append(want, fmt.Sprintf("m%d", i+1))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("received %q, want %q", got, want)
		}
		eventually(t, func() bool { r, i := b.depth(queue); return r == 0 && i == 0 }, func() string {
			r, i := b.depth(queue)
			return fmt.Sprintf("the queue holds %d ready, %d in flight after every message was acknowledged", r, i)
		})
	})
}

// TestDurableResubscribe: a durable topic subscription is made again by
// name after a failover, so the messages published while the client was
// away arrive; the message received but not acknowledged before the
// failure cannot be acknowledged after it (ErrStaleAck) and comes again,
// flagged as redelivered.
func TestDurableResubscribe(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		px := startProxy(t, b.addr(p), forward)
		ctx := testCtx(t)
		client, name, topic := "durable-"+string(p), "audit", "/topic/failover.durable"
		c, events := dialTest(t, fastURI(p, "", px.addr()), Options{ClientID: client})
		sub, err := c.Subscribe(ctx, topic, SubOptions{Ack: AckIndividual, Durable: name})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		pub, _ := dialTest(t, b.uri(p), Options{})
		if err := pub.Send(ctx, topic, []byte("m1"), &SendOptions{Persistent: true}); err != nil {
			t.Fatal(err)
		}
		m1, err := sub.Receive(ctx)
		if err != nil || string(m1.Body) != "m1" || m1.Redelivered {
			t.Fatalf("first delivery %+v, %v", m1, err)
		}

		// Cut the client off; once the broker holds the subscription
		// without a consumer, publish to it.
		px.setMode(reject)
		px.kill()
		eventually(t, func() bool { return b.durableConsumers(client, name) == 0 }, func() string {
			return fmt.Sprintf("durable subscription consumers: %d, want 0", b.durableConsumers(client, name))
		})
		for _, body := range []string{"m2", "m3"} {
			if err := pub.Send(ctx, topic, []byte(body), &SendOptions{Persistent: true}); err != nil {
				t.Fatal(err)
			}
		}
		px.setMode(forward)

		var got []*Message
		for len(got) < 3 {
			m, err := sub.Receive(ctx)
			if err != nil {
				t.Fatalf("Receive after the failover: %v", err)
			}
			got = append(got, m)
		}
		if string(got[0].Body) != "m1" || !got[0].Redelivered || got[0].DeliveryCount == 0 {
			t.Fatalf("first message after the failover: %q redelivered %v count %d, want m1 redelivered",
				got[0].Body, got[0].Redelivered, got[0].DeliveryCount)
		}
		if string(got[1].Body) != "m2" || string(got[2].Body) != "m3" {
			t.Fatalf("then %q and %q, want m2 and m3", got[1].Body, got[2].Body)
		}
		if err := sub.Ack(ctx, m1); !errors.Is(err, ErrStaleAck) {
			t.Fatalf("Ack of a message from the lost connection = %v, want ErrStaleAck", err)
		}
		for _, m := range got {
			if err := sub.Ack(ctx, m); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		eventually(t, func() bool { return events.len() > 0 }, func() string { return "no failover event" })
		evs := events.all()
		if len(evs) != 1 || evs[0].Resubscribed != 1 || evs[0].To != p.scheme()+px.addr() {
			t.Fatalf("events %+v, want one reconnection with one subscription made again", evs)
		}
	})
}

// scheme returns "stomp://" or "amqp://".
func (p Protocol) scheme() string { return string(p) + "://" }

// TestStartupAttempts: Dial gives up after startupMaxReconnectAttempts
// passes over the brokers (each broker tried once a pass, at least one
// pass), with an error naming the option; a plain URI tries once.
func TestStartupAttempts(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		for _, tc := range []struct {
			opts        string
			brokers     int
			wantAttempt int
			wantText    string
		}{
			{"startupMaxReconnectAttempts=3", 1, 3, "startupMaxReconnectAttempts=3"},
			{"startupMaxReconnectAttempts=2", 2, 4, "startupMaxReconnectAttempts=2"},
			{"startupMaxReconnectAttempts=0", 2, 2, "startupMaxReconnectAttempts=0"},
			{"maxReconnectAttempts=2", 1, 2, "maxReconnectAttempts=2"},
			{"", 1, 1, ""}, // plain URI
		} {
			pxs := make([]*proxy, tc.brokers)
			addrs := make([]string, tc.brokers)
			for i := range pxs {
				pxs[i] = startProxy(t, "127.0.0.1:1", reject)
				addrs[i] = pxs[i].addr()
			}
			uri := fastURI(p, tc.opts, addrs...)
			if tc.opts == "" {
				uri = p.scheme() + addrs[0]
			}
			c, err := Dial(testCtx(t), uri, Options{})
			if err == nil {
				c.Close(testCtx(t))
				t.Fatalf("%s: Dial succeeded", uri)
			}
			if !errors.Is(err, ErrNoBroker) || !containsAll(err.Error(), tc.wantText, fmt.Sprintf("after %d attempt(s)", tc.wantAttempt/tc.brokers)) {
				t.Fatalf("%s: error %q", uri, err)
			}
			var n int64
			for _, px := range pxs {
				n += px.rejected.Load()
			}
			if n != int64(tc.wantAttempt) {
				t.Fatalf("%s: %d connection attempts, want %d", uri, n, tc.wantAttempt)
			}
		}
	})
}

// containsAll reports whether s contains every non-empty part.
func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if p != "" && !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestMaxReconnectAttempts: after a working connection is lost the Conn
// makes maxReconnectAttempts passes and gives up: Done closes, Err wraps
// ErrNoBroker and names the option, the event says so, and an
// unconfirmed send fails with the same error. With 0 it does not try at
// all.
func TestMaxReconnectAttempts(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		for _, max := range []int{2, 0} {
			px := startProxy(t, b.addr(p), forward)
			c, events := dialTest(t, fastURI(p, fmt.Sprintf("maxReconnectAttempts=%d", max), px.addr()), Options{})
			ctx := testCtx(t)
			// A first send attaches the AMQP sender link, whose attach
			// would otherwise wait for the dropped answer.
			if err := c.Send(ctx, "/queue/failover.limit", []byte("w"), nil); err != nil {
				t.Fatal(err)
			}
			px.drop.Store(true)
			r, err := c.SendAsync(ctx, "/queue/failover.limit", []byte("x"), nil)
			if err != nil {
				t.Fatal(err)
			}
			px.setMode(reject)
			px.kill()
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatalf("maxReconnectAttempts=%d: the Conn did not give up", max)
			}
			want := fmt.Sprintf("maxReconnectAttempts=%d", max)
			if err := c.Err(); !errors.Is(err, ErrNoBroker) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Err() = %v, want ErrNoBroker naming %s", err, want)
			}
			if err := r.Wait(ctx); !errors.Is(err, ErrNoBroker) {
				t.Fatalf("the unconfirmed send: %v, want ErrNoBroker", err)
			}
			if err := c.Send(ctx, "/queue/failover.limit", []byte("y"), nil); !errors.Is(err, ErrNoBroker) {
				t.Fatalf("Send after giving up: %v", err)
			}
			if got := px.rejected.Load(); got != int64(max) {
				t.Fatalf("maxReconnectAttempts=%d: %d reconnection attempts", max, got)
			}
			evs := events.all()
			if len(evs) != 1 || evs[0].To != "" || evs[0].From != p.scheme()+px.addr() || !errors.Is(evs[0].Err, ErrNoBroker) {
				t.Fatalf("events %+v, want one giving up", evs)
			}
		}
	})
}

// TestSendTimeout: with timeout set, a send fails with ErrTimeout once it
// has waited that long for a broker, and not before; when the broker is
// back, sending works again.
func TestSendTimeout(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		px := startProxy(t, b.addr(p), forward)
		const timeout = 300 * time.Millisecond
		c, events := dialTest(t, fastURI(p, "timeout=300", px.addr()), Options{})
		ctx := testCtx(t)
		dest := "/queue/failover.timeout"
		if err := c.Send(ctx, dest, []byte("ok"), nil); err != nil {
			t.Fatal(err)
		}
		px.setMode(reject)
		px.kill()
		for i := range 2 {
			start := time.Now()
			err := c.Send(ctx, dest, []byte("lost"), nil)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Send %d while no broker is reachable: %v, want ErrTimeout", i, err)
			}
			if took := time.Since(start); took < timeout {
				t.Fatalf("Send failed after %v, before the timeout of %v", took, timeout)
			}
		}
		px.setMode(forward)
		eventually(t, func() bool { return events.len() > 0 }, func() string { return "no reconnection" })
		if err := c.Send(ctx, dest, []byte("back"), nil); err != nil {
			t.Fatalf("Send once the broker is back: %v", err)
		}
		if events.len() != 1 {
			t.Fatalf("events %+v", events.all())
		}
		// The timed-out sends were not sent again.
		cons, _ := dialTest(t, b.uri(p), Options{})
		sub, err := cons.Subscribe(ctx, dest, SubOptions{Ack: AckIndividual})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ok", "back"} {
			m, err := sub.Receive(ctx)
			if err != nil || string(m.Body) != want {
				t.Fatalf("received %v, %v, want %q", m, err, want)
			}
			sub.Ack(ctx, m)
		}
		eventually(t, func() bool { r, i := b.depth("failover.timeout"); return r == 0 && i == 0 }, func() string {
			r, i := b.depth("failover.timeout")
			return fmt.Sprintf("the queue still holds %d ready, %d in flight: a timed-out send was delivered", r, i)
		})
	})
}

// TestPriorityBackup: with priorityBackup the client connects to the
// other broker while the priority one is down, and moves back as soon as
// it is up, subscriptions included.
func TestPriorityBackup(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		pri := startProxy(t, b.addr(p), reject)
		other := startProxy(t, b.addr(p), forward)
		moved := make(chan Event, 1)
		c, _ := dialTest(t, fastURI(p, "priorityBackup=true", pri.addr(), other.addr()),
			Options{OnFailover: func(e Event) { moved <- e }})
		if c.Broker() != p.scheme()+other.addr() {
			t.Fatalf("connected to %s, want the backup %s", c.Broker(), other.addr())
		}
		ctx := testCtx(t)
		// Not ack:auto: the broker may still dispatch to the old connection
		// while it closes, and only an unacknowledged delivery comes back.
		sub, err := c.Subscribe(ctx, "/queue/failover.priority", SubOptions{Ack: AckIndividual})
		if err != nil {
			t.Fatal(err)
		}
		pri.setMode(forward)
		select {
		case e := <-moved:
			if e.From != p.scheme()+other.addr() || e.To != p.scheme()+pri.addr() || e.Err != nil || e.Resubscribed != 1 {
				t.Fatalf("event %+v, want a move from the backup to the priority broker", e)
			}
		case <-ctx.Done():
			t.Fatal("the client did not move to the priority broker")
		}
		if c.Broker() != p.scheme()+pri.addr() {
			t.Fatalf("connected to %s", c.Broker())
		}
		if err := c.Send(ctx, "/queue/failover.priority", []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Receive(ctx); err != nil || string(m.Body) != "x" {
			t.Fatalf("Receive: %v, %v", m, err)
		}
	})
}

// TestSubscribeRefused: a subscription the broker refuses is an error for
// the caller, and the Conn goes on working (over STOMP the refusal closes
// the connection, and the Conn fails over to the same broker).
func TestSubscribeRefused(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		c, _ := dialTest(t, fastURI(p, "", b.addr(p)), Options{})
		ctx := testCtx(t)
		_, err := c.Subscribe(ctx, "/queue/failover.refused", SubOptions{Selector: "a = = b"})
		var be *BrokerError
		if !errors.As(err, &be) {
			t.Fatalf("Subscribe with a bad selector: %v, want a *BrokerError", err)
		}
		if err := c.Send(ctx, "/queue/failover.refused", []byte("x"), nil); err != nil {
			t.Fatalf("Send after the refusal: %v", err)
		}
		sub, err := c.Subscribe(ctx, "/queue/failover.refused", SubOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := sub.Receive(ctx); err != nil || string(m.Body) != "x" {
			t.Fatalf("Receive: %v, %v", m, err)
		}
	})
}
