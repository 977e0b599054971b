package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
)

// Failover clients (cluster/failover) through master/slave take-overs:
// the real binary, SIGKILLed in a loop, with a producer and a consumer
// connected by failover URIs over STOMP and over AMQP.

// foKills is how many times each loop kills the master:
// MQGATE_FAILOVER_KILLS, else 4 (2 with -short).
func foKills(t *testing.T) int {
	if v := os.Getenv("MQGATE_FAILOVER_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MQGATE_FAILOVER_KILLS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 2
	}
	return 4
}

// foLedger is what the failover clients saw, by producer sequence.
type foLedger struct {
	mu        sync.Mutex
	confirmed map[uint64]bool
	spanned   map[uint64]bool // its send was pending across a failover (it may have been resent)
	received  map[uint64]int
	unflagged []uint64 // delivered again without the redelivered flag
	explained []uint64 // the same, for a message resent across a failover (see docs/clustering.md, Duplicates)
	disorder  []string // a first delivery below one already seen, not flagged
	maxSeq    uint64
	killedAt  time.Time // the last SIGKILL
	firstRecv time.Time // the first delivery after it
	failovers int       // producer failover events
}

// foNodes adds an AMQP listener on a fixed port to each node of g and
// returns the failover URI of proto over the nodes.
func foURI(g *haGroup, amqpAddrs []string, proto string) string {
	uri := "failover:("
	for i, n := range g.nodes {
		if i > 0 {
			uri += ","
		}
		if proto == "amqp" {
			uri += "amqp://" + amqpAddrs[i]
		} else {
			uri += "stomp://" + n.stomp
		}
	}
	return uri + ")?randomize=false&initialReconnectDelay=10&maxReconnectDelay=200&timeout=60000"
}

// failoverClientLoop runs a producer (persistent sends, each confirmed)
// and a consumer (individual acks) through failover URIs while the master
// of g is SIGKILLed kills times and restarted as a slave; then it checks
// by sequence: nothing confirmed lost, nothing delivered twice unless
// flagged, first deliveries in send order; and reports the failover time
// (SIGKILL to the next message the consumer receives).
func failoverClientLoop(t *testing.T, g *haGroup, amqpAddrs []string, proto string, kills int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	uri := foURI(g, amqpAddrs, proto)
	dest := "/queue/" + uniq("fo."+proto)
	l := &foLedger{confirmed: map[uint64]bool{}, spanned: map[uint64]bool{}, received: map[uint64]int{}}
	var pending sync.Map // seq being sent → struct{}
	prod, err := failover.Dial(ctx, uri, failover.Options{OnFailover: func(e failover.Event) {
		pending.Range(func(k, _ any) bool {
			l.mu.Lock()
			l.spanned[k.(uint64)] = true
			l.mu.Unlock()
			return true
		})
		l.mu.Lock()
		l.failovers++
		l.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := failover.Dial(ctx, uri, failover.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cons.Subscribe(ctx, dest, failover.SubOptions{Ack: failover.AckIndividual, Prefetch: 50})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	stopSend := make(chan struct{})
	wg.Add(2)
	go func() { // consumer
		defer wg.Done()
		for {
			m, err := sub.Receive(ctx)
			if err != nil {
				return
			}
			seq := m.ProducerSeq
			l.mu.Lock()
			if !l.killedAt.IsZero() && l.firstRecv.IsZero() {
				l.firstRecv = time.Now()
			}
			switch {
			case l.received[seq] > 0 && !m.Redelivered && l.spanned[seq]:
				l.explained = append(l.explained, seq)
			case l.received[seq] > 0 && !m.Redelivered:
				l.unflagged = append(l.unflagged, seq)
			case l.received[seq] == 0 && seq < l.maxSeq && !m.Redelivered && !l.spanned[seq]:
				l.disorder = append(l.disorder, fmt.Sprintf("%d after %d", seq, l.maxSeq))
			}
			l.received[seq]++
			l.maxSeq = max(l.maxSeq, seq)
			l.mu.Unlock()
			if err := sub.Ack(ctx, m); err != nil && !errors.Is(err, failover.ErrStaleAck) {
				if ctx.Err() == nil {
					t.Errorf("ack %d: %v", seq, err)
				}
				return
			}
		}
	}()
	go func() { // producer: one confirmed persistent send at a time
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stopSend:
				return
			default:
			}
			seq := uint64(i) // the failover Conn numbers its messages 1, 2, 3...
			pending.Store(seq, struct{}{})
			err := prod.Send(ctx, dest, fmt.Appendf(nil, "m%d", i), &failover.SendOptions{Persistent: true})
			pending.Delete(seq)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("send %d: %v", i, err)
				}
				return
			}
			l.mu.Lock()
			l.confirmed[seq] = true
			l.mu.Unlock()
		}
	}()

	count := func() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.confirmed) }
	var took []time.Duration
	m := g.master(30 * time.Second)
	for k := range kills {
		target := count() + 30
		eventually(t, 60*time.Second, func() bool { return count() >= target }, func() string {
			return fmt.Sprintf("kill %d: %d confirmed, want %d", k, count(), target)
		})
		l.mu.Lock()
		l.killedAt, l.firstRecv = time.Now(), time.Time{}
		l.mu.Unlock()
		m.kill(syscall.SIGKILL)
		m.p.wait(waitTimeout)
		eventually(t, 60*time.Second, func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return !l.firstRecv.IsZero()
		}, func() string { return fmt.Sprintf("kill %d: the consumer received nothing after the kill", k) })
		l.mu.Lock()
		took = append(took, l.firstRecv.Sub(l.killedAt))
		l.mu.Unlock()
		next := g.master(60 * time.Second)
		if next == m {
			t.Fatalf("kill %d: %s is master again", k, m.name)
		}
		m.start() // back as a slave
		m = next
	}
	close(stopSend)
	// Every confirmed message arrives.
	eventually(t, 60*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for seq := range l.confirmed {
			if l.received[seq] == 0 {
				return false
			}
		}
		return true
	}, func() string {
		l.mu.Lock()
		defer l.mu.Unlock()
		var lost []uint64
		for seq := range l.confirmed {
			if l.received[seq] == 0 {
				lost = append(lost, seq)
			}
		}
		slices.Sort(lost)
		return fmt.Sprintf("%d confirmed messages never delivered, e.g. %v", len(lost), lost[:min(10, len(lost))])
	})
	cancel()
	wg.Wait()
	_ = prod.Close(context.Background())
	_ = cons.Close(context.Background())

	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unflagged) > 0 {
		t.Errorf("%d messages delivered again without the redelivered flag, e.g. %v", len(l.unflagged), l.unflagged[:min(5, len(l.unflagged))])
	}
	for _, d := range l.disorder {
		t.Errorf("out of order: %s", d)
	}
	slices.Sort(took)
	t.Logf("%s, %d kills: %d confirmed, %d distinct delivered, %d producer failovers, %d repeats of resent messages; failover time (SIGKILL to the next delivery) median %v, max %v",
		proto, kills, len(l.confirmed), len(l.received), l.failovers, len(l.explained),
		took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// foGroup starts two nodes with args, each with STOMP and AMQP listeners
// on fixed ports.
func foGroup(t *testing.T, env []string, args ...string) (*haGroup, []string) {
	g := &haGroup{t: t}
	var amqpAddrs []string
	for _, name := range []string{"a", "b"} {
		n := newHANode(t, name, env, args...)
		addr := haFreeAddr(t)
		n.args = append(n.args, "--amqp-listen", addr)
		n.start()
		g.nodes = append(g.nodes, n)
		amqpAddrs = append(amqpAddrs, addr)
	}
	return g, amqpAddrs
}

// TestFailoverClientSharedDisk: failover clients over STOMP and AMQP
// through shared-directory master/slave take-overs.
func TestFailoverClientSharedDisk(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			g, amqpAddrs := foGroup(t, nil, "--node-data-dir", t.TempDir(), "--store-type", "disk",
				"--ha-mode", "shared-store", "--ha-lease-ttl", "1s")
			failoverClientLoop(t, g, amqpAddrs, proto, foKills(t))
		})
	}
}

// TestFailoverClientRedis: failover clients over STOMP and AMQP through
// Redis shared-store take-overs.
func TestFailoverClientRedis(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			srv := startRedis(t)
			g, amqpAddrs := foGroup(t, nil, "--store-type", "redis", "--store-redis-url", "redis://"+srv.addr+"/0",
				"--store-redis-group", "fo", "--ha-lease-ttl", "1s", "--node-data-dir", t.TempDir())
			failoverClientLoop(t, g, amqpAddrs, proto, foKills(t))
		})
	}
}
