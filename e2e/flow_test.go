package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/mqgate/mqgate/config"
)

// TestQueueExpiredMessagesNotDelivered: a message whose expires time has
// passed is not delivered. ActiveMQ 5.17 moves an expired persistent
// message to ActiveMQ.DLQ (with original-destination) and drops an
// expired non-persistent one (checked against 5.17.2).
func TestQueueExpiredMessagesNotDelivered(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("expiry")
	q := "/queue/" + qn
	prod := b.dial(t)
	past := strconv.FormatInt(time.Now().Add(-5*time.Second).UnixMilli(), 10)
	soon := time.Now().Add(300 * time.Millisecond)
	send(t, prod, q, "expired persistent", stomp.SendOpt.Header("expires", past), stomp.SendOpt.Header("persistent", "true"))
	send(t, prod, q, "expires soon", stomp.SendOpt.Header("expires", strconv.FormatInt(soon.UnixMilli(), 10)))
	send(t, prod, q, "alive")
	// The scenario needs "expires soon" to expire on the queue.
	<-time.After(time.Until(soon) + 50*time.Millisecond)
	sub := subscribe(t, b.dial(t), q, backlogAck)
	ack(t, expectBody(t, sub, "alive"))
	b.waitDepth(t, qn, 0, 0)
	if r, _ := b.depth("ActiveMQ.DLQ"); r != 1 {
		failBug(t, "an expired persistent message is dropped; ActiveMQ 5.17 moves it to ActiveMQ.DLQ (DLQ holds %d messages, want 1)", r)
	}
}

// TestSlowConsumerCutOff: a consumer that reads nothing while its
// outbound queue passes stomp.max_pending_bytes is disconnected, and the
// messages it held unacked go to another consumer: nothing is lost.
func TestSlowConsumerCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("moves several MiB; skipped with -short")
	}
	t.Parallel()
	b := startBroker(t, func(c *config.Config) { c.STOMP.MaxPendingBytes = 64 * config.KiB })
	qn := uniq("slow")
	q := "/queue/" + qn

	slow := dialRaw(t, b.addr)
	_ = slow.nc.(*net.TCPConn).SetReadBuffer(4096)
	slow.connect("1.2")
	slow.send("SUBSCRIBE", "", "destination", q, "id", "s", "ack", "client-individual", "receipt", "r")
	slow.expectReceipt("r")

	// Prefetch 2: at most 32 KiB may wait for this one, under the cap
	// (see TestConsumerDrainingBacklogNotCutOff for why that matters).
	fastConn := b.dial(t)
	fast := subscribe(t, fastConn, q, stomp.AckClientIndividual, prefetch(2))
	const n = 400
	body := strings.Repeat("s", 16<<10)
	var got sync.Map
	count := make(chan int, 1)
	go func() {
		seen := 0
		for m := range fast.C {
			if m.Err != nil {
				break
			}
			if _, dup := got.LoadOrStore(m.Header.Get("seq"), true); !dup {
				seen++
			}
			_ = fastConn.Ack(m)
			if seen == n {
				break
			}
		}
		count <- seen
	}()
	prod := b.dial(t)
	for i := range n {
		if err := prod.Send(q, "", []byte(body), stomp.SendOpt.Header("seq", strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	barrier(t, prod)
	// The slow consumer is cut off. Reading what is already on its way
	// through a 4 KiB window would take long, so detect the close by
	// writing: once the broker's socket is gone, a write fails.
	eventually(t, waitTimeout, func() bool {
		_ = slow.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, err := slow.nc.Write([]byte("\n"))
		return err != nil
	}, func() string { return "the slow consumer's connection is still open" })
	select {
	case seen := <-count:
		if seen != n {
			t.Fatalf("the other consumer got %d distinct messages of %d", seen, n)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the other consumer did not get every message")
	}
	b.waitDepth(t, qn, 0, 0)
}

// TestConsumerDrainingBacklogNotCutOff: a consumer that reads as fast as
// it can is not a slow consumer. Subscribing to a backlog larger than
// stomp.max_pending_bytes must deliver it (credit or the cap should pause
// dispatch), not cut the consumer off because the broker itself queued
// the whole backlog for its writer in one burst. (With the default cap of
// 64 MiB a fast raw reader survived 150 x 1 MiB here: the burst has to
// outrun the writer by more than the cap.)
func TestConsumerDrainingBacklogNotCutOff(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) { c.STOMP.MaxPendingBytes = 64 * config.KiB })
	qn := uniq("backlog")
	q := "/queue/" + qn
	want := make([]string, 64)
	prod := b.dial(t)
	for i := range want {
		want[i] = strconv.Itoa(i) + strings.Repeat("b", 8<<10)
		send(t, prod, q, want[i])
	}
	c := b.dial(t)
	// No barrier (subscribe): the backlog is there already, and go-stomp
	// stops reading receipts while a subscription has 16 unread messages.
	sub, err := c.Subscribe(q, stomp.AckClientIndividual)
	if err != nil {
		t.Fatal(err)
	}
	cutOff := func(i int, why string) {
		t.Helper()
		failBug(t, "a consumer subscribing (default prefetch) to a backlog of 64 x 8 KiB with stomp.max_pending_bytes 64KiB is cut off as a slow consumer after %d messages (%s): the whole backlog is queued for the writer at SUBSCRIBE, so the byte cap trips at once, whatever the consumer's speed", i, why)
	}
	for i := range want {
		select {
		case m, ok := <-sub.C:
			if !ok {
				cutOff(i, "subscription closed")
			}
			if m.Err != nil {
				cutOff(i, m.Err.Error())
			}
			if string(m.Body) != want[i] {
				t.Fatalf("message %d: wrong body", i)
			}
			if err := c.Ack(m); err != nil {
				cutOff(i, "ACK: "+err.Error())
			}
		case <-time.After(waitTimeout):
			t.Fatalf("message %d of the backlog not delivered", i)
		}
	}
	if err := c.Send("/queue/e2e.barrier", "", nil, stomp.SendOpt.Receipt); err != nil {
		cutOff(len(want), "after the last ACK: "+err.Error())
	}
	b.waitDepth(t, qn, 0, 0)
}

// TestStressQueueManyClients: many producers and client-ack consumers on
// one queue under -race: every message delivered and acked exactly once.
func TestStressQueueManyClients(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("stress")
	q := "/queue/" + qn
	const producers, consumers, per = 8, 8, 100
	const total = producers * per

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range consumers {
		c := b.dial(t)
		sub := subscribe(t, c, q, stomp.AckClientIndividual, prefetch(1+i%4))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case m, ok := <-sub.C:
					if !ok || m.Err != nil {
						return
					}
					mu.Lock()
					seen[string(m.Body)]++
					mu.Unlock()
					if err := c.Ack(m); err != nil {
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	var pwg sync.WaitGroup
	for p := range producers {
		c := b.dial(t)
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := range per {
				if err := c.Send(q, "", []byte(fmt.Sprintf("p%d-m%d", p, i)), stomp.SendOpt.Receipt); err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
			}
		}()
	}
	pwg.Wait()
	eventually(t, waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	}, func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("%d of %d messages delivered", len(seen), total)
	})
	b.waitDepth(t, qn, 0, 0)
	close(stop)
	wg.Wait()
	for body, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", body, n)
		}
	}
}
