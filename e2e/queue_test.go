package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/config"
)

// publishN sends bodies prefix1..prefixN to dest, each with a receipt.
func publishN(t testing.TB, c *stomp.Conn, dest, prefix string, n int, opts ...func(*frame.Frame) error) []string {
	t.Helper()
	bodies := make([]string, n)
	for i := range n {
		bodies[i] = prefix + strconv.Itoa(i+1)
		send(t, c, dest, bodies[i], opts...)
	}
	return bodies
}

// prefetch is the SUBSCRIBE header that sets a subscription's prefetch.
func prefetch(n int) func(*frame.Frame) error {
	return stomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(n))
}

// TestQueueCompetingConsumersAuto: three auto-ack consumers of one queue
// share its messages; each message goes to exactly one of them.
func TestQueueCompetingConsumersAuto(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("compete")
	const n = 90
	var subs []*stomp.Subscription
	for range 3 {
		subs = append(subs, subscribe(t, b.dial(t), q, stomp.AckAuto))
	}
	want := publishN(t, b.dial(t), q, "m", n)

	var mu sync.Mutex
	got := map[string]int{}
	counts := make([]int, len(subs))
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m, ok := <-s.C:
					if !ok || m.Err != nil {
						return
					}
					mu.Lock()
					got[string(m.Body)]++
					counts[i]++
					mu.Unlock()
				case <-done:
					return
				}
			}
		}()
	}
	eventually(t, waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, c := range counts {
			total += c
		}
		return total >= n
	}, func() string { return fmt.Sprintf("received %v of %d", counts, n) })
	b.waitDepth(t, q[len("/queue/"):], 0, 0)
	close(done)
	wg.Wait()
	for _, body := range want {
		if got[body] != 1 {
			t.Errorf("%s delivered %d times", body, got[body])
		}
	}
	if len(got) != n {
		t.Errorf("got %d distinct bodies, want %d", len(got), n)
	}
	t.Logf("distribution over consumers: %v", counts)
}

// TestQueueCompetingConsumersEachGetsWork: with prefetch 1 and client
// acks, three consumers that hold their first message unacked each get
// one; then they drain the queue between them, each message once.
func TestQueueCompetingConsumersEachGetsWork(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("work")
	q := "/queue/" + qn
	const n = 30
	want := publishN(t, b.dial(t), q, "job", n)
	var subs []*stomp.Subscription
	var first []*stomp.Message
	for range 3 {
		s := subscribe(t, b.dial(t), q, stomp.AckClientIndividual, prefetch(1))
		subs = append(subs, s)
		first = append(first, recv(t, s))
	}
	b.waitDepth(t, qn, n-3, 3)
	got := map[string]int{}
	for _, m := range first {
		got[string(m.Body)]++
	}
	// Drain: each consumer acks what it holds and takes the next, until
	// the queue is empty.
	drained := drainDone(b, qn)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := first[i]
			for {
				if err := m.Conn.Ack(m); err != nil {
					t.Errorf("ACK: %v", err)
					return
				}
				select {
				case next, ok := <-s.C:
					if !ok || next.Err != nil {
						t.Errorf("consumer %d: subscription ended: %v", i, next)
						return
					}
					mu.Lock()
					got[string(next.Body)]++
					mu.Unlock()
					m = next
				case <-drained:
					return
				case <-time.After(waitTimeout):
					t.Errorf("consumer %d: no message and the queue is not empty", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.waitDepth(t, qn, 0, 0)
	for _, body := range want {
		if got[body] != 1 {
			t.Errorf("%s delivered %d times", body, got[body])
		}
	}
}

// drainDone returns a channel closed once /queue/name is empty.
func drainDone(b *broker, name string) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for {
			r, i := b.depth(name)
			if r == 0 && i == 0 {
				return
			}
			if b.closed.Load() {
				return
			}
			waitTick()
		}
	}()
	return ch
}

// TestQueueAckAuto: messages delivered to an auto-ack consumer are gone
// when it disconnects.
func TestQueueAckAuto(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("auto")
	q := "/queue/" + qn
	prod := b.dial(t)
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckAuto)
	want := publishN(t, prod, q, "a", 3)
	if got := recvBodies(t, sub, 3); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	b.waitDepth(t, qn, 0, 0)
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	send(t, prod, q, "marker")
	next := subscribe(t, b.dial(t), q, backlogAck)
	ack(t, expectBody(t, next, "marker"))
}

// TestQueueAckClientIsCumulative: in ack:client mode, acking the 3rd of 5
// messages acks the first three; the other two come back to the next
// consumer, redelivered (checked against ActiveMQ 5.17.2).
func TestQueueAckClientIsCumulative(t *testing.T) {
	for _, v := range []stomp.Version{stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			qn := uniq("cumul")
			q := "/queue/" + qn
			want := publishN(t, b.dial(t), q, "c", 5)
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			sub := subscribe(t, c, q, stomp.AckClient)
			var msgs []*stomp.Message
			for _, w := range want {
				msgs = append(msgs, expectBody(t, sub, w))
			}
			b.waitDepth(t, qn, 0, 5)
			ack(t, msgs[2])
			barrier(t, c)
			b.waitDepth(t, qn, 0, 2)
			c.MustDisconnect()
			next := subscribe(t, b.dial(t), q, backlogAck)
			for _, w := range want[3:] {
				m := expectBody(t, next, w)
				if m.Header.Get("redelivered") != "true" {
					t.Errorf("%s: redelivered header %q, want true", w, m.Header.Get("redelivered"))
				}
				ack(t, m)
			}
			b.waitDepth(t, qn, 0, 0)
		})
	}
}

// TestQueueAckClientIsCumulative10: the same in STOMP 1.0, over raw TCP
// (go-stomp cannot ack in 1.0: TestConnectGoStompAckPerVersion).
func TestQueueAckClientIsCumulative10(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("cumul10")
	q := "/queue/" + qn
	want := publishN(t, b.dial(t), q, "c", 5)
	c := dialRaw(t, b.addr)
	c.connect("1.0")
	c.send("SUBSCRIBE", "", "destination", q, "ack", "client")
	var ids []string
	for _, w := range want {
		m := c.expect("MESSAGE")
		if string(m.Body) != w {
			t.Fatalf("got %q, want %q", m.Body, w)
		}
		ids = append(ids, m.Value("message-id"))
	}
	c.send("ACK", "", "message-id", ids[2], "receipt", "a")
	c.expectReceipt("a")
	b.waitDepth(t, qn, 0, 2)
	c.nc.Close()
	b.waitDepth(t, qn, 2, 0)
	next := subscribe(t, b.dial(t), q, backlogAck)
	if got := recvBodies(t, next, 2); !slices.Equal(got, want[3:]) {
		t.Fatalf("after the cumulative ACK got %q, want %q", got, want[3:])
	}
}

// TestQueueAckClientIndividual: acking the 2nd of 3 acks only it.
func TestQueueAckClientIndividual(t *testing.T) {
	for _, v := range []stomp.Version{stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			qn := uniq("indiv")
			q := "/queue/" + qn
			want := publishN(t, b.dial(t), q, "i", 3)
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			sub := subscribe(t, c, q, stomp.AckClientIndividual)
			var msgs []*stomp.Message
			for _, w := range want {
				msgs = append(msgs, expectBody(t, sub, w))
			}
			ack(t, msgs[1])
			barrier(t, c)
			b.waitDepth(t, qn, 0, 2)
			c.MustDisconnect()
			next := subscribe(t, b.dial(t), q, backlogAck)
			for _, i := range []int{0, 2} {
				m := expectBody(t, next, want[i])
				if m.Header.Get("redelivered") != "true" {
					t.Errorf("%s: redelivered header %q, want true", want[i], m.Header.Get("redelivered"))
				}
				if m.Header.Get("message-id") != msgs[i].Header.Get("message-id") {
					t.Errorf("%s: message-id changed on redelivery: %q, was %q", want[i], m.Header.Get("message-id"), msgs[i].Header.Get("message-id"))
				}
				ack(t, m)
			}
			b.waitDepth(t, qn, 0, 0)
		})
	}
}

// TestQueuePrefetchLimitsUnacked: a consumer with activemq.prefetchSize=3
// that acks nothing holds exactly 3 messages; another consumer gets the
// rest, in order (checked against ActiveMQ 5.17.2: p1-p3 and p4-p10).
func TestQueuePrefetchLimitsUnacked(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("prefetch")
	q := "/queue/" + qn
	slow := subscribe(t, b.dial(t), q, stomp.AckClientIndividual, prefetch(3))
	want := publishN(t, b.dial(t), q, "p", 10)
	var held []*stomp.Message
	for _, w := range want[:3] {
		held = append(held, expectBody(t, slow, w))
	}
	b.waitDepth(t, qn, 7, 3)
	fast := subscribe(t, b.dial(t), q, backlogAck)
	if got := recvBodies(t, fast, 7); !slices.Equal(got, want[3:]) {
		t.Fatalf("second consumer got %q, want %q", got, want[3:])
	}
	b.waitDepth(t, qn, 0, 3)
	if n := len(slow.C); n != 0 {
		t.Errorf("the prefetch-3 consumer has %d more messages queued", n)
	}
	for _, m := range held {
		ack(t, m)
	}
	b.waitDepth(t, qn, 0, 0)
}

// TestQueueRedeliveryToAnotherConsumer: a consumer's unacked messages go
// to another consumer, flagged redelivered:true with the same
// message-id, whichever way the first one goes away.
func TestQueueRedeliveryToAnotherConsumer(t *testing.T) {
	ways := map[string]func(t *testing.T, c *stomp.Conn, s *stomp.Subscription){
		"DISCONNECT": func(t *testing.T, c *stomp.Conn, _ *stomp.Subscription) {
			if err := c.Disconnect(); err != nil {
				t.Fatal(err)
			}
		},
		"TCP close": func(_ *testing.T, c *stomp.Conn, _ *stomp.Subscription) { c.MustDisconnect() },
		"UNSUBSCRIBE": func(t *testing.T, _ *stomp.Conn, s *stomp.Subscription) {
			unsubscribe(t, s)
		},
	}
	for name, leave := range ways {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			qn := uniq("redeliver")
			q := "/queue/" + qn
			c := b.dial(t)
			first := subscribe(t, c, q, stomp.AckClientIndividual)
			want := publishN(t, b.dial(t), q, "r", 3)
			var ids []string
			for _, w := range want {
				m := expectBody(t, first, w)
				if m.Header.Get("redelivered") == "true" {
					t.Errorf("first delivery of %s is flagged redelivered", w)
				}
				ids = append(ids, m.Header.Get("message-id"))
			}
			other := subscribe(t, b.dial(t), q, stomp.AckClientIndividual)
			leave(t, c, first)
			for i, w := range want {
				m := expectBody(t, other, w)
				if got := m.Header.Get("redelivered"); got != "true" {
					t.Errorf("%s: redelivered %q, want true", w, got)
				}
				if got := m.Header.Get("JMSXDeliveryCount"); got != "2" {
					t.Errorf("%s: JMSXDeliveryCount %q, want 2", w, got)
				}
				if got := m.Header.Get("message-id"); got != ids[i] {
					t.Errorf("%s: message-id %q, want the original %q", w, got, ids[i])
				}
				ack(t, m)
			}
			b.waitDepth(t, qn, 0, 0)
		})
	}
}

// TestQueueNackToDLQ: NACK is a poison ack: the message goes to
// /queue/ActiveMQ.DLQ at once (checked against ActiveMQ 5.17.2 with a
// persistent message; ActiveMQ drops a NACKed non-persistent message
// instead, by its default DLQ policy).
func TestQueueNackToDLQ(t *testing.T) {
	for _, v := range []stomp.Version{stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			qn := uniq("nack")
			q := "/queue/" + qn
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			sub := subscribe(t, c, q, stomp.AckClientIndividual)
			send(t, b.dial(t), q, "poison", stomp.SendOpt.Header("persistent", "true"), stomp.SendOpt.Header("app", "x"))
			m := expectBody(t, sub, "poison")
			if err := c.Nack(m); err != nil {
				t.Fatal(err)
			}
			barrier(t, c)
			b.waitDepth(t, qn, 0, 0)
			dlq := subscribe(t, b.dial(t), "/queue/ActiveMQ.DLQ", stomp.AckClientIndividual)
			d := expectBody(t, dlq, "poison")
			if got := d.Header.Get("destination"); got != "/queue/ActiveMQ.DLQ" {
				t.Errorf("DLQ message destination %q", got)
			}
			if got, want := d.Header.Get("message-id"), m.Header.Get("message-id"); got != want {
				t.Errorf("DLQ message-id %q, want the original %q (as ActiveMQ keeps it)", got, want)
			}
			if got := d.Header.Get("app"); got != "x" {
				t.Errorf("DLQ message lost its user header: app=%q", got)
			}
			if got := d.Header.Get("persistent"); got != "true" {
				t.Errorf("DLQ message persistent=%q, want true", got)
			}
			ack(t, d)
		})
	}
}

// TestQueueDLQOriginalDestinationHeader: ActiveMQ 5.17 marks a
// dead-lettered message with original-destination:/queue/NAME (checked
// against ActiveMQ 5.17.2; it also adds originalExpiration:0).
func TestQueueDLQOriginalDestinationHeader(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("nackhdr")
	q := "/queue/" + qn
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckClientIndividual)
	send(t, c, q, "poison", stomp.SendOpt.Header("persistent", "true"))
	if err := c.Nack(expectBody(t, sub, "poison")); err != nil {
		t.Fatal(err)
	}
	dlq := subscribe(t, b.dial(t), "/queue/ActiveMQ.DLQ", backlogAck)
	d := expectBody(t, dlq, "poison")
	if got := d.Header.Get("original-destination"); got != q {
		failBug(t, "DLQ message has original-destination %q, want %q as ActiveMQ 5.17 sends (headers %s)", got, q, dumpHeader(d.Header))
	}
}

// TestQueueNackRequeue: NACK with requeue:true redelivers the message
// (flagged redelivered) instead of dead-lettering it. This is mqgate's
// extension: ActiveMQ 5.17 ignores requeue and dead-letters (checked).
func TestQueueNackRequeue(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("requeue")
	q := "/queue/" + qn
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	c.send("SUBSCRIBE", "", "destination", q, "id", "s", "ack", "client-individual", "receipt", "sub")
	c.expectReceipt("sub")
	c.send("SEND", "again", "destination", q, "persistent", "true")
	m := c.expect("MESSAGE")
	if _, ok := m.Get("redelivered"); ok {
		t.Fatalf("first delivery flagged redelivered: %s", m)
	}
	c.send("NACK", "", "id", m.Value("ack"), "requeue", "true", "receipt", "n")
	again := c.expectReceiptAnd("n", 1)[0]
	if string(again.Body) != "again" || again.Value("redelivered") != "true" || again.Value("message-id") != m.Value("message-id") {
		t.Fatalf("after NACK requeue:true got %s, want the same message redelivered", again)
	}
	c.send("ACK", "", "id", again.Value("ack"), "receipt", "a")
	c.expectReceipt("a")
	b.waitDepth(t, qn, 0, 0)
	if r, i := b.depth("ActiveMQ.DLQ"); r+i != 0 {
		t.Errorf("DLQ holds %d messages after a requeue NACK", r+i)
	}
}

// TestQueueNackRequeueUntilMaxRedeliveries: a message NACKed with
// requeue:true more than broker.max_redeliveries times is dead-lettered.
func TestQueueNackRequeueUntilMaxRedeliveries(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) { c.Broker.MaxRedeliveries = 2 })
	qn := uniq("maxredeliver")
	q := "/queue/" + qn
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	c.send("SUBSCRIBE", "", "destination", q, "id", "s", "ack", "client-individual")
	c.send("SEND", "bad", "destination", q, "persistent", "true", "receipt", "p")
	m := c.expectReceiptAnd("p", 1)[0]
	for i := range 3 { // the first delivery and two redeliveries
		id := "n" + strconv.Itoa(i)
		c.send("NACK", "", "id", m.Value("ack"), "requeue", "true", "receipt", id)
		if i == 2 {
			c.expectReceipt(id)
			break
		}
		m = c.expectReceiptAnd(id, 1)[0]
		if m.Value("redelivered") != "true" {
			t.Errorf("redelivery %d not flagged: %s", i+1, m)
		}
	}
	b.waitDepth(t, qn, 0, 0)
	b.waitDepth(t, "ActiveMQ.DLQ", 1, 0)
}

// TestQueueAutoAckSubscribeToBacklog: SUBSCRIBE ack:auto to a queue that
// already holds messages delivers them all.
func TestQueueAutoAckSubscribeToBacklog(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	prod := b.dial(t)
	for i := range 50 {
		q := "/queue/" + uniq("backlog")
		want := publishN(t, prod, q, "b", 5)
		c := b.dial(t)
		sub := subscribe(t, c, q, stomp.AckAuto)
		if got := recvBodies(t, sub, 5); !slices.Equal(got, want) {
			t.Fatalf("round %d: got %q, want %q", i, got, want)
		}
		c.MustDisconnect()
	}
}
