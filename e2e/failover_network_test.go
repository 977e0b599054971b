package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
)

// Failover clients (cluster/failover) through a network of brokers: the
// real binary, three brokers in a full mesh with a disk store each, the
// broker the consumer is connected to SIGKILLed and restarted in a loop,
// with a producer and a consumer connected by failover URIs over STOMP
// and over AMQP.

// netKills is how many times each protocol's loop kills a broker:
// MQGATE_E2E_NETWORK_KILLS, else 25 (5 with -short).
func netKills(t *testing.T) int {
	if v := os.Getenv("MQGATE_E2E_NETWORK_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MQGATE_E2E_NETWORK_KILLS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 5
	}
	return 25
}

// netDelivery is one message the failover consumer received.
type netDelivery struct {
	id          string // the broker's message id: the same on every broker a message is forwarded to
	node        int    // index of the broker the consumer was connected to, -1 if unknown
	incarnation int    // how many times that broker had been started
	redelivered bool
	stale       bool          // its ack found its connection gone: it came from a broker since lost (node may name the next)
	origin      int           // index of the broker the message was first stored on (its id names it), -1 if unknown
	at          time.Duration // since the loop began
}

// netFoLedger is what the failover clients of a network saw, by producer
// sequence.
type netFoLedger struct {
	mu         sync.Mutex
	confirmed  map[uint64]bool
	sendSpan   map[uint64][2]time.Time // when each send started and returned
	deliveries map[uint64][]netDelivery
	begin      time.Time   // when the loop began
	kills      []time.Time // every SIGKILL, just before it was sent
	killed     []time.Time // when each killed process had died
	victims    []int       // the node of each SIGKILL
	maxSeq     uint64      // highest sequence delivered so far
	disorder   int         // first deliveries below one already seen
	killedNode int         // the broker of the last SIGKILL
	killedAt   time.Time
	firstRecv  time.Time // the first delivery from another broker after it
	prodFo     int       // producer failover events
	consFo     int       // consumer failover events
}

// netDupes sorts the repeated deliveries of a loop by the path that
// produced them.
type netDupes struct {
	flagged int // redelivered flag set: allowed
	// resent: another stored copy (another message id), unflagged, of a
	// message whose send was in progress at a SIGKILL: the failover
	// producer sent it again to another broker, which has its own
	// producer audit, and did not mark it a resend (mqgate-resend).
	resent []uint64
	// bridged: the same message id, unflagged, first delivered by one
	// broker and then by another: it was delivered and not acknowledged
	// when its broker died, and once restarted that broker forwarded it
	// to the consumer's new broker without its delivery count.
	bridged []uint64
	// restarted: the same message id, unflagged, delivered again by the
	// same broker after it was restarted.
	restarted []uint64
	// unexplained: unflagged repeats no path above accounts for: another
	// copy of a message whose send spanned no kill, or the same broker
	// delivering it twice unflagged without a restart.
	unexplained []string
}

// classify sorts every repeated delivery of l. l.mu must be held.
func (l *netFoLedger) classify() netDupes {
	var d netDupes
	for seq, ds := range l.deliveries {
		for i := 1; i < len(ds); i++ {
			cur := ds[i]
			if cur.redelivered {
				d.flagged++
				continue
			}
			var same []netDelivery
			for _, e := range ds[:i] {
				if e.id == cur.id {
					same = append(same, e)
				}
			}
			switch {
			case len(same) == 0 && l.spannedKill(seq):
				d.resent = append(d.resent, seq)
			case len(same) == 0:
				d.unexplained = append(d.unexplained, fmt.Sprintf("seq %d: another copy (%s), its send spanned no kill: %s", seq, cur.id, l.describe(ds)))
			case cur.node >= 0 && cur.node == cur.origin && slices.ContainsFunc(same, func(e netDelivery) bool { return e.node != cur.origin || e.stale }):
				// The broker it was produced on delivered it after another
				// broker did: both held a stored copy at once.
				d.unexplained = append(d.unexplained, fmt.Sprintf("seq %d: delivered by another broker, then by its origin (two stored copies): %s", seq, l.describe(ds)))
			case slices.ContainsFunc(same, func(e netDelivery) bool { return e.node != cur.node || e.node < 0 || e.stale }):
				d.bridged = append(d.bridged, seq)
			case slices.ContainsFunc(same, func(e netDelivery) bool { return e.incarnation != cur.incarnation }):
				d.restarted = append(d.restarted, seq)
			default:
				d.unexplained = append(d.unexplained, fmt.Sprintf("seq %d: delivered again unflagged by the same broker run: %s", seq, l.describe(ds)))
			}
		}
	}
	slices.Sort(d.resent)
	slices.Sort(d.bridged)
	slices.Sort(d.restarted)
	slices.Sort(d.unexplained)
	return d
}

// spannedKill reports whether the send of seq was in progress at a
// SIGKILL (or had not returned when the test ended). l.mu must be held.
func (l *netFoLedger) spannedKill(seq uint64) bool {
	span, ok := l.sendSpan[seq]
	if !ok {
		return false
	}
	for i, k := range l.kills {
		if !span[0].After(l.killed[i]) && (span[1].IsZero() || !span[1].Before(k)) {
			return true
		}
	}
	return false
}

// netFoURI is the failover URI of proto over the nodes, in their order
// from the one at index first.
func netFoURI(ns []*netNode, proto string, first int) string {
	var members []string
	for i := range ns {
		n := ns[(first+i)%len(ns)]
		if proto == "amqp" {
			members = append(members, "amqp://"+n.amqp)
		} else {
			members = append(members, "stomp://"+n.stomp)
		}
	}
	return "failover:(" + strings.Join(members, ",") + ")?randomize=false&initialReconnectDelay=10&maxReconnectDelay=200&timeout=60000"
}

// netNodeOf returns the index of the node a failover Conn.Broker() names,
// or -1.
func netNodeOf(ns []*netNode, broker string) int {
	if broker == "" {
		return -1
	}
	for i, n := range ns {
		if strings.HasSuffix(broker, "//"+n.stomp) || strings.HasSuffix(broker, "//"+n.amqp) {
			return i
		}
	}
	return -1
}

// TestFailoverClientNetwork: a full mesh of three brokers (static
// discovery, network_ttl 1, a disk store each); a producer (persistent
// sends, each confirmed, one at a time) and a consumer (individual acks)
// on one queue, each through a failover URI over the three. A broker is
// SIGKILLed, the clients on it fail over to another, and it is
// restarted on its store (the messages it held and had not forwarded
// come back with it and are forwarded to where the consumer went),
// netKills times per subtest:
//
//   - together: both URIs list the brokers in the same order, so the
//     clients are on the same broker, which is the one killed.
//   - apart: the producer's URI starts at the second broker, so the
//     clients are often on different brokers and the messages cross a
//     bridge; the consumer's broker is killed, and every other kill the
//     producer's when it is another.
//
// Then every confirmed message must have been delivered, and every
// repeated delivery is sorted by the path that produced it (netDupes): a
// repeat no documented path explains fails the test, the others are
// reported. Failover time, from the SIGKILL of the consumer's broker to
// its first delivery from another broker, is reported as median and max.
func TestFailoverClientNetwork(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			for _, mode := range []string{"together", "apart"} {
				t.Run(mode, func(t *testing.T) {
					ns := newNetwork(t, "fonet-"+proto+"-"+mode+"-a", "fonet-"+proto+"-"+mode+"-b", "fonet-"+proto+"-"+mode+"-c")
					connect(ns[0], ns[1])
					connect(ns[1], ns[2])
					connect(ns[0], ns[2])
					for _, n := range ns {
						n.start(1)
					}
					failoverNetworkLoop(t, ns, proto, mode == "apart", netKills(t))
				})
			}
		})
	}
}

// failoverNetworkLoop runs the clients of TestFailoverClientNetwork over
// the started nodes ns and kills kills times; apart starts the
// producer's URI at the second node.
func failoverNetworkLoop(t *testing.T, ns []*netNode, proto string, apart bool, kills int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	consURI, prodURI := netFoURI(ns, proto, 0), netFoURI(ns, proto, 0)
	if apart {
		prodURI = netFoURI(ns, proto, 1)
	}
	dest := "/queue/" + uniq("fonet."+proto)
	l := &netFoLedger{confirmed: map[uint64]bool{}, sendSpan: map[uint64][2]time.Time{}, deliveries: map[uint64][]netDelivery{}, killedNode: -1, begin: time.Now()}
	incarnation := make([]int, len(ns)) // guarded by l.mu
	for i := range incarnation {
		incarnation[i] = 1
	}
	prod, err := failover.Dial(ctx, prodURI, failover.Options{OnFailover: func(failover.Event) {
		l.mu.Lock()
		l.prodFo++
		l.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := failover.Dial(ctx, consURI, failover.Options{OnFailover: func(failover.Event) {
		l.mu.Lock()
		l.consFo++
		l.mu.Unlock()
	}})
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
			node := netNodeOf(ns, cons.Broker())
			seq := m.ProducerSeq
			l.mu.Lock()
			if !l.killedAt.IsZero() && l.firstRecv.IsZero() && node >= 0 && node != l.killedNode {
				l.firstRecv = time.Now()
			}
			inc := 0
			if node >= 0 {
				inc = incarnation[node]
			}
			if len(l.deliveries[seq]) == 0 && seq < l.maxSeq {
				l.disorder++
			}
			l.deliveries[seq] = append(l.deliveries[seq], netDelivery{id: m.ID, node: node, incarnation: inc, redelivered: m.Redelivered, origin: netOrigin(ns, m.ID), at: time.Since(l.begin)})
			l.maxSeq = max(l.maxSeq, seq)
			l.mu.Unlock()
			err = sub.Ack(ctx, m)
			if errors.Is(err, failover.ErrStaleAck) {
				l.mu.Lock()
				ds := l.deliveries[seq]
				ds[len(ds)-1].stale = true
				l.mu.Unlock()
			}
			if err != nil && !errors.Is(err, failover.ErrStaleAck) {
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
			l.mu.Lock()
			l.sendSpan[seq] = [2]time.Time{time.Now()}
			l.mu.Unlock()
			err := prod.Send(ctx, dest, fmt.Appendf(nil, "m%d", i), &failover.SendOptions{Persistent: true})
			l.mu.Lock()
			l.sendSpan[seq] = [2]time.Time{l.sendSpan[seq][0], time.Now()}
			if err == nil {
				l.confirmed[seq] = true
			}
			l.mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("send %d: %v", i, err)
				}
				return
			}
		}
	}()

	count := func() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.confirmed) }
	var took []time.Duration
	together := 0     // kills of the broker both clients are on
	producerOnly := 0 // kills of the producer's broker alone
	start := time.Now()
	for k := range kills {
		target := count() + 20
		eventually(t, 60*time.Second, func() bool { return count() >= target }, func() string {
			return fmt.Sprintf("kill %d: %d confirmed, want %d", k, count(), target)
		})
		var cb, pb int
		eventually(t, 30*time.Second, func() bool {
			cb, pb = netNodeOf(ns, cons.Broker()), netNodeOf(ns, prod.Broker())
			return cb >= 0 && pb >= 0
		}, func() string {
			return fmt.Sprintf("kill %d: the consumer (%q) or the producer (%q) is connected to no broker", k, cons.Broker(), prod.Broker())
		})
		victim, consumerHit := cb, true
		switch {
		case pb == cb:
			together++
		case apart && k%2 == 1:
			victim, consumerHit = pb, false
		}
		if !consumerHit {
			producerOnly++
		}
		l.mu.Lock()
		l.killedNode, l.killedAt, l.firstRecv = -1, time.Now(), time.Time{}
		if consumerHit {
			l.killedNode = victim
		}
		l.kills = append(l.kills, l.killedAt)
		l.victims = append(l.victims, victim)
		confirmedAtKill := len(l.confirmed)
		l.mu.Unlock()
		ns[victim].kill()
		l.mu.Lock()
		l.killed = append(l.killed, time.Now())
		l.mu.Unlock()
		if consumerHit {
			eventually(t, 60*time.Second, func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				return !l.firstRecv.IsZero()
			}, func() string {
				return fmt.Sprintf("kill %d of %s: the consumer (on %q) received nothing from another broker", k, ns[victim].name, cons.Broker())
			})
			l.mu.Lock()
			took = append(took, l.firstRecv.Sub(l.killedAt))
			l.mu.Unlock()
		} else {
			eventually(t, 60*time.Second, func() bool { return count() >= confirmedAtKill+5 }, func() string {
				return fmt.Sprintf("kill %d of %s: the producer (on %q) confirmed nothing since", k, ns[victim].name, prod.Broker())
			})
		}
		l.mu.Lock()
		incarnation[victim]++
		l.mu.Unlock()
		ns[victim].start(1) // back on its store
	}
	loop := time.Since(start)
	close(stopSend)
	// Every confirmed message arrives: the restarted brokers forward what
	// they held to the consumer's broker.
	eventually(t, 60*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for seq := range l.confirmed {
			if len(l.deliveries[seq]) == 0 {
				return false
			}
		}
		return true
	}, func() string {
		l.mu.Lock()
		defer l.mu.Unlock()
		var lost []uint64
		for seq := range l.confirmed {
			if len(l.deliveries[seq]) == 0 {
				lost = append(lost, seq)
			}
		}
		slices.Sort(lost)
		var qs []string
		for _, n := range ns {
			qs = append(qs, n.queues())
		}
		return fmt.Sprintf("%d confirmed messages never delivered, e.g. %v; consumer on %q; %s", len(lost), lost[:min(10, len(lost))], cons.Broker(), strings.Join(qs, " "))
	})
	cancel()
	wg.Wait()
	_ = prod.Close(context.Background())
	_ = cons.Close(context.Background())

	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.classify()
	for _, u := range d.unexplained[:min(10, len(d.unexplained))] {
		t.Errorf("unexplained duplicate: %s", u)
	}
	if len(d.unexplained) > 0 {
		t.Errorf("%d deliveries repeated without the redelivered flag and without a documented cause", len(d.unexplained))
	}
	// Every repeat must be flagged: a resend to another broker carries
	// mqgate-resend, a bridge carries the delivery count, a restarted
	// broker flags what it had delivered (docs/clustering.md, Duplicates).
	if n := len(d.resent) + len(d.bridged) + len(d.restarted); n > 0 {
		t.Errorf("%d deliveries repeated without the redelivered flag: resent %v, bridged %v, restarted %v",
			n, d.resent[:min(10, len(d.resent))], d.bridged[:min(10, len(d.bridged))], d.restarted[:min(10, len(d.restarted))])
	}
	slices.Sort(took)
	t.Logf("%s, %d kills in %v (%d of both clients' broker, %d of the producer's alone): %d confirmed, %d distinct delivered, %d producer and %d consumer failovers, %d first deliveries out of order",
		t.Name(), kills, loop.Round(time.Millisecond), together, producerOnly, len(l.confirmed), len(l.deliveries), l.prodFo, l.consFo, l.disorder)
	t.Logf("%s repeats: %d flagged; unflagged: %d resent to another broker %v, %d forwarded by a restarted broker without the flag %v, %d again from a restarted broker %v, %d unexplained",
		proto, d.flagged, len(d.resent), d.resent[:min(10, len(d.resent))], len(d.bridged), d.bridged[:min(10, len(d.bridged))],
		len(d.restarted), d.restarted[:min(10, len(d.restarted))], len(d.unexplained))
	t.Logf("%s failover time (SIGKILL to the first delivery from another broker): median %v, max %v",
		proto, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// describe lists deliveries ds with the kills from a second before the
// first of them to the last, for a failure message. l.mu must be held.
func (l *netFoLedger) describe(ds []netDelivery) string {
	var sb strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&sb, "[%s origin %d node %d run %d redelivered=%v stale=%v at %v] ", d.id, d.origin, d.node, d.incarnation, d.redelivered, d.stale, d.at.Round(time.Millisecond))
	}
	from, to := ds[0].at-time.Second, ds[len(ds)-1].at
	sb.WriteString("kills:")
	for i, k := range l.kills {
		if at := k.Sub(l.begin); at >= from && at <= to {
			fmt.Fprintf(&sb, " node %d at %v", l.victims[i], at.Round(time.Millisecond))
		}
	}
	return sb.String()
}

// netOrigin returns the index of the node a message id names (mqgate ids
// are ID:<node.id>-...), or -1.
func netOrigin(ns []*netNode, id string) int {
	for i, n := range ns {
		if strings.HasPrefix(id, "ID:"+n.name+"-") {
			return i
		}
	}
	return -1
}
