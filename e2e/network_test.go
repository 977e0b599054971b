package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The network of brokers, with real mqgate processes on loopback: static
// discovery (each node's cluster.peers names its neighbours), disk
// stores, STOMP clients that check by message id (the body) what they
// were confirmed and what they received.

// TestNetworkLineQueue: in a line A–B–C (network_ttl 2), persistent
// messages produced on A reach the only consumer, on C, through B: every
// confirmed message once, in the order sent, and nothing stays behind on
// A or B.
func TestNetworkLineQueue(t *testing.T) {
	t.Parallel()
	ns := newNetwork(t, "line-a", "line-b", "line-c")
	a, b, c := ns[0], ns[1], ns[2]
	connect(a, b)
	connect(b, c)
	for _, n := range ns {
		n.start(2)
	}
	name := uniq("net.line")
	l := newCrashLedger()
	cons := startConsumer(t, c, "/queue/"+name, l)
	b.waitForwards(c, "queue://"+name)
	a.waitForwards(b, "queue://"+name)
	const n = 200
	if err := netProduce(a, "/queue/"+name, "p", 0, n, l); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, func() bool { return l.ackedCount() == n }, func() string {
		return fmt.Sprintf("C acknowledged %d of %d; bridges A %+v B %+v", l.ackedCount(), n, a.bridges(), b.bridges())
	})
	l.checkExactlyOnce(t, false)
	got := cons.received()
	if !slices.IsSorted(got) {
		t.Fatalf("C received out of order: %v", got)
	}
	a.waitDrained(name)
	b.waitDrained(name)
}

// TestNetworkMeshQueue: in a full mesh (network_ttl 1), messages produced
// on A and B reach the consumer on C once each; a consumer added on A
// takes A's own messages first (local consumers preferred) while C still
// gets B's.
func TestNetworkMeshQueue(t *testing.T) {
	t.Parallel()
	ns := newNetwork(t, "mesh-a", "mesh-b", "mesh-c")
	a, b, c := ns[0], ns[1], ns[2]
	connect(a, b)
	connect(b, c)
	connect(a, c)
	for _, n := range ns {
		n.start(1)
	}
	name := uniq("net.mesh")
	l := newCrashLedger()
	startConsumer(t, c, "/queue/"+name, l)
	a.waitForwards(c, "queue://"+name)
	b.waitForwards(c, "queue://"+name)
	const n = 100
	errs := make(chan error, 2)
	go func() { errs <- netProduce(a, "/queue/"+name, "a", 0, n, l) }()
	go func() { errs <- netProduce(b, "/queue/"+name, "b", 0, n, l) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, waitTimeout, func() bool { return l.ackedCount() == 2*n }, func() string {
		return fmt.Sprintf("C acknowledged %d of %d", l.ackedCount(), 2*n)
	})
	l.checkExactlyOnce(t, false)
	// Neither A nor B relays the other's messages (TTL 1): only direct
	// routes, so each bridge to C forwarded its own broker's messages.
	for _, x := range []*netNode{a, b} {
		for _, br := range x.bridges() {
			if br.Peer == "amqp://"+c.amqp && br.Forwarded != n {
				t.Errorf("%s forwarded %d messages to C, want %d", x.name, br.Forwarded, n)
			}
		}
	}

	// A local consumer on A: A's next messages stay on A.
	la := newCrashLedger()
	startConsumer(t, a, "/queue/"+name, la)
	if err := netProduce(a, "/queue/"+name, "local", 0, 50, la); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, func() bool { return la.ackedCount() == 50 }, func() string {
		return fmt.Sprintf("A's consumer acknowledged %d of 50 (C received %d)", la.ackedCount(), l.ackedCount())
	})
	la.checkExactlyOnce(t, false)
}

// TestNetworkConsumerMoves: in the line A–B–C, the consumer on C goes
// away mid-stream and a new one comes on A. Messages already forwarded
// towards C (on B, on C, some delivered to the old consumer and not
// acknowledged) come back to A (replay), and new ones stay on A: every
// confirmed message is acknowledged by one of the two consumers, and
// none after its acknowledgement was confirmed.
func TestNetworkConsumerMoves(t *testing.T) {
	t.Parallel()
	ns := newNetwork(t, "move-a", "move-b", "move-c")
	a, b, c := ns[0], ns[1], ns[2]
	connect(a, b)
	connect(b, c)
	for _, n := range ns {
		n.start(2)
	}
	name := uniq("net.move")
	dest := "/queue/" + name
	l := newCrashLedger()
	oldCons := startConsumer(t, c, dest, l)
	a.waitForwards(b, "queue://"+name)
	const n = 300
	done := make(chan error, 1)
	go func() { done <- netProduce(a, dest, "m", 0, n, l) }()
	eventually(t, waitTimeout, func() bool { return l.ackedCount() >= n/4 }, func() string {
		return fmt.Sprintf("C acknowledged %d, want %d before the move", l.ackedCount(), n/4)
	})
	oldCons.leave()
	startConsumer(t, a, dest, l)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool { return l.ackedCount() == n }, func() string {
		return fmt.Sprintf("bad %v; acknowledged %d of %d; missing %v; %s %s %s; bridges A %+v B %+v C %+v", l.bad, l.ackedCount(), n,
			l.unacked(), a.queues(), b.queues(), c.queues(), a.bridges(), b.bridges(), c.bridges())
	})
	l.checkExactlyOnce(t, true) // the old consumer's unacknowledged messages are redelivered
	b.waitDrained(name)
	c.waitDrained(name)
}

// TestNetworkTopicEveryNode: in a full mesh with network_ttl 2 (so that a
// message can reach a node by two routes), topic subscribers on every
// node (two on one of them) get each message published on any node
// exactly once: one conduit subscription per peer, and the duplicate a
// second route brings is dropped.
func TestNetworkTopicEveryNode(t *testing.T) {
	t.Parallel()
	ns := newNetwork(t, "topic-a", "topic-b", "topic-c")
	a, b, c := ns[0], ns[1], ns[2]
	connect(a, b)
	connect(b, c)
	connect(a, c)
	for _, n := range ns {
		n.start(2)
	}
	name := uniq("net.topic")
	dest := "/topic/" + name
	var ls []*crashLedger
	for _, n := range []*netNode{a, b, c, c} {
		l := newCrashLedger()
		ls = append(ls, l)
		startConsumer(t, n, dest, l)
	}
	for _, x := range ns {
		for _, y := range ns {
			if x != y {
				x.waitForwards(y, "topic://"+name)
			}
		}
	}
	const n = 40
	for _, x := range ns {
		if err := netProduce(x, dest, x.name, 0, n, ls...); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range ls {
		eventually(t, waitTimeout, func() bool { return l.ackedCount() == 3*n }, func() string {
			return fmt.Sprintf("subscriber %d acknowledged %d of %d", i, l.ackedCount(), 3*n)
		})
	}
	// A barrier: one more message from each node, received by everyone,
	// before counting copies.
	for _, x := range ns {
		if err := netProduce(x, dest, x.name, n, 1, ls...); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range ls {
		eventually(t, waitTimeout, func() bool { return l.ackedCount() == 3*(n+1) }, func() string {
			return fmt.Sprintf("subscriber %d acknowledged %d of %d", i, l.ackedCount(), 3*(n+1))
		})
		l.checkExactlyOnce(t, false)
	}
}

// TestNetworkKill: in the line A–B–C, a node is SIGKILLed mid-stream and
// restarted on its data: B, which stores and forwards every message from
// A to C, or A, where the producer is (it reconnects and goes on). Nothing
// confirmed to the producer is lost, and the consumer on C, connected
// throughout, receives each message exactly once: what a bridge resends
// (its forward was not confirmed before the kill) and what a restarted
// broker forwards again is dropped as a duplicate.
func TestNetworkKill(t *testing.T) {
	t.Parallel()
	for _, victim := range []int{1, 0} {
		t.Run(fmt.Sprint("node=", victim), func(t *testing.T) {
			t.Parallel()
			ns := newNetwork(t, fmt.Sprint("kill", victim, "-a"), fmt.Sprint("kill", victim, "-b"), fmt.Sprint("kill", victim, "-c"))
			a, b, c := ns[0], ns[1], ns[2]
			connect(a, b)
			connect(b, c)
			for _, n := range ns {
				n.start(2)
			}
			name := uniq("net.kill")
			dest := "/queue/" + name
			l := newCrashLedger()
			startConsumer(t, c, dest, l)
			a.waitForwards(b, "queue://"+name)
			const n = 600
			done := make(chan error, 1)
			go func() { done <- produceThrough(a, dest, "k", n, l) }()
			eventually(t, waitTimeout, func() bool { return l.ackedCount() >= n/4 }, func() string {
				return fmt.Sprintf("C acknowledged %d, want %d before the kill", l.ackedCount(), n/4)
			})
			ns[victim].kill()
			ns[victim].start(2)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, l.allConfirmedAcked, func() string {
				return fmt.Sprintf("C acknowledged %d of %d; missing %v; %s %s; bridges A %+v B %+v", l.ackedCount(), l.confirmedCount(),
					l.unacked(), a.queues(), b.queues(), a.bridges(), b.bridges())
			})
			l.checkExactlyOnce(t, false)
			a.waitDrained(name)
			b.waitDrained(name)
		})
	}
}
