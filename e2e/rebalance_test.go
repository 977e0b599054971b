package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
)

// rebalanceQuiet is the gateway's: no rebalance in the first ten seconds
// after discovery starts (gateway/rebalance.go).
const rebalanceQuiet = 10 * time.Second

// TestRebalanceClients: with cluster.rebalance_clients on A, failover
// clients that know only A (STOMP and AMQP) are spread over A and B once
// B comes up: of the five clients of each protocol on A, three (C - C/N
// with N = 2) move to B, the newest first, which are a producer and a
// consumer in the middle of a stream of persistent, confirmed sends:
// every confirmed message is received.
func TestRebalanceClients(t *testing.T) {
	ns := newNetwork(t, "a", "b")
	a, b := ns[0], ns[1]
	connect(a, b)
	a.extra = []string{"--cluster-rebalance-clients"}
	a.start(1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dial := func(proto, addr string) *failover.Conn {
		t.Helper()
		c, err := failover.Dial(ctx, "failover:("+proto+"://"+addr+")?initialReconnectDelay=50&maxReconnectDelay=500", failover.Options{})
		if err != nil {
			t.Fatalf("dial %s: %v", proto, err)
		}
		t.Cleanup(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ccancel()
			_ = c.Close(cctx)
		})
		return c
	}
	var stompConns, amqpConns []*failover.Conn
	for range 4 {
		stompConns = append(stompConns, dial("stomp", a.stomp))
		amqpConns = append(amqpConns, dial("amqp", a.amqp))
	}
	// The newest connections move first: the producer and the consumer.
	consumer := dial("amqp", a.amqp)
	sub, err := consumer.Subscribe(ctx, "/queue/rebalance", failover.SubOptions{Ack: failover.AckIndividual})
	if err != nil {
		t.Fatal(err)
	}
	producer := dial("stomp", a.stomp)
	stompConns, amqpConns = append(stompConns, producer), append(amqpConns, consumer)

	var mu sync.Mutex
	confirmed := map[string]bool{}
	received := map[string]bool{}
	stop := make(chan struct{})
	prodDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				prodDone <- nil
				return
			default:
			}
			body := fmt.Sprintf("m-%05d", i)
			if err := producer.Send(ctx, "/queue/rebalance", []byte(body), &failover.SendOptions{Persistent: true}); err != nil {
				prodDone <- err
				return
			}
			mu.Lock()
			confirmed[body] = true
			mu.Unlock()
		}
	}()
	go func() {
		for {
			m, err := sub.Receive(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			received[string(m.Body)] = true
			mu.Unlock()
			if err := sub.Ack(ctx, m); err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("ack: %v", err)
			}
		}
	}()
	count := func(m map[string]bool) int {
		mu.Lock()
		defer mu.Unlock()
		return len(m)
	}
	eventually(t, waitTimeout, func() bool { return count(received) >= 20 }, func() string { return "no messages flow through A" })

	// A broker rebalances only once it has run for rebalanceQuiet (one
	// that just started must not send back the clients its peers gave
	// it); it logs when, and B comes up after that.
	a.p.logFieldWithin("cluster: client rebalancing armed", "after", rebalanceQuiet+waitTimeout)
	b.start(1)

	on := func(cs []*failover.Conn, addr string) int {
		n := 0
		for _, c := range cs {
			if strings.HasSuffix(c.Broker(), "//"+addr) {
				n++
			}
		}
		return n
	}
	describe := func() string {
		var where []string
		for _, c := range append(append([]*failover.Conn{}, stompConns...), amqpConns...) {
			where = append(where, c.Broker())
		}
		return fmt.Sprintf("clients on %v (a %s/%s, b %s/%s)", where, a.stomp, a.amqp, b.stomp, b.amqp)
	}
	eventually(t, 2*waitTimeout, func() bool {
		return on(stompConns, b.stomp) == 3 && on(amqpConns, b.amqp) == 3 &&
			on(stompConns, a.stomp) == 2 && on(amqpConns, a.amqp) == 2
	}, describe)
	if !strings.HasSuffix(producer.Broker(), b.stomp) || !strings.HasSuffix(consumer.Broker(), b.amqp) {
		t.Fatalf("the producer and the consumer did not move: %s", describe())
	}
	if got := a.p.logField("cluster: rebalanced clients", "redirected"); got != "3" {
		t.Errorf("A's rebalance log redirected = %s, want 3", got)
	}

	// The stream goes on through B; then every confirmed message arrives.
	atMove := count(confirmed)
	eventually(t, waitTimeout, func() bool { return count(received) > atMove+20 }, func() string { return "no messages flow through B" })
	close(stop)
	if err := <-prodDone; err != nil {
		t.Fatalf("producer: %v", err)
	}
	eventually(t, 2*waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for m := range confirmed {
			if !received[m] {
				return false
			}
		}
		return true
	}, func() string {
		mu.Lock()
		defer mu.Unlock()
		var missing []string
		for m := range confirmed {
			if !received[m] {
				missing = append(missing, m)
			}
		}
		return fmt.Sprintf("%d of %d confirmed messages not received, e.g. %v\n%s\n%s", len(missing), len(confirmed), missing[:min(5, len(missing))], a.queues(), b.queues())
	})
}
