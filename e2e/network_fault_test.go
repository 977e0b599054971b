package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Network faults between brokers, injected at the transport: the bridge
// from A to B goes through a tcpProxy, which cuts it (connections reset,
// new ones refused) or blackholes it (sockets open, bytes dropped) and
// heals it, while both brokers keep running.

// faultCycles is how many times each variant breaks the bridge.
const faultCycles = 3

// TestNetworkBridgeCutAndHealed: A and B (network_ttl 1, disk stores),
// A's bridge to B through a proxy; a producer on A sends persistent
// messages with receipts, a consumer on B, connected throughout,
// acknowledges each with a receipt. Mid-stream the proxy breaks the
// bridge, the producer goes on (messages pile up on A), the proxy heals,
// and this faultCycles times:
//
//   - cut: both brokers see the bridge connection reset; A's
//     reconnections are refused until heal.
//   - blackhole: the connection stays open and silent. B, whose
//     amqp.idle_timeout is 1 s, closes its side, and A's bridge, whose
//     cluster.network.idle_timeout is 1 s, gives the silent peer up; heal
//     lets A's reconnection through.
//
// Checked by message id: every confirmed message acknowledged once,
// nothing delivered twice (B drops what A sends again after the break,
// and the consumer never left), and the consumer received the messages in
// the order A was sent them (docs/networks.md: released messages are
// forwarded again ahead of newer ones).
func TestNetworkBridgeCutAndHealed(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{"cut", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			ns := newNetwork(t, "fault-"+fault+"-a", "fault-"+fault+"-b")
			a, b := ns[0], ns[1]
			px := newTCPProxy(t, b.amqp)
			// A knows B by the proxy's address: its bridge dials the
			// proxy and learns B's node id from B's demand snapshots.
			viaProxy := &netNode{t: t, name: b.name + "-via-proxy", amqp: px.addr()}
			a.peers = []*netNode{viaProxy}
			b.peers = []*netNode{a}
			if fault == "blackhole" {
				b.extra = []string{"--amqp-idle-timeout", "1s"}
				a.extra = []string{"--cluster-network-idle-timeout", "1s"}
			}
			a.start(1)
			b.start(1)
			name := uniq("net.fault." + fault)
			dest := "/queue/" + name
			l := newCrashLedger()
			cons := startConsumer(t, b, dest, l)
			a.waitForwards(viaProxy, "queue://"+name)

			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- produceUntil(a, dest, "f", stop, l) }()
			for cycle := range faultCycles {
				acked := l.ackedCount() + 100
				eventually(t, waitTimeout, func() bool { return l.ackedCount() >= acked }, func() string {
					return fmt.Sprintf("cycle %d: B acknowledged %d, want %d before the fault; bridges A %+v", cycle, l.ackedCount(), acked, a.bridges())
				})
				switch fault {
				case "cut":
					px.cut()
					eventually(t, waitTimeout, func() bool { return !a.bridgeUp(viaProxy) }, func() string {
						return fmt.Sprintf("cycle %d: A's bridge still up after the cut: %+v", cycle, a.bridges())
					})
				case "blackhole":
					gone := px.upstreamGone.Load()
					px.blackhole()
					eventually(t, waitTimeout, func() bool { return px.upstreamGone.Load() > gone }, func() string {
						return fmt.Sprintf("cycle %d: B did not give up on the silent bridge (amqp.idle_timeout 1s)", cycle)
					})
					eventually(t, waitTimeout, func() bool { return !a.bridgeUp(viaProxy) }, func() string {
						return fmt.Sprintf("cycle %d: A's bridge still up with a silent peer (cluster.network.idle_timeout 1s): %+v", cycle, a.bridges())
					})
				}
				// The producer goes on while the bridge is down.
				confirmed := l.confirmedCount() + 100
				eventually(t, waitTimeout, func() bool { return l.confirmedCount() >= confirmed }, func() string {
					return fmt.Sprintf("cycle %d: A confirmed %d, want %d while the bridge is down", cycle, l.confirmedCount(), confirmed)
				})
				px.heal()
				a.waitForwards(viaProxy, "queue://"+name)
			}
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, l.allConfirmedAcked, func() string {
				return fmt.Sprintf("B acknowledged %d of %d; missing %v; %s %s; bridges A %+v B %+v", l.ackedCount(), l.confirmedCount(),
					l.unacked(), a.queues(), b.queues(), a.bridges(), b.bridges())
			})
			l.checkExactlyOnce(t, false)
			if got := cons.received(); !slices.IsSorted(got) {
				t.Errorf("B received out of order: %v", outOfOrder(got))
			}
			a.waitDrained(name)
			t.Logf("%s: %d messages, %d bridge connections through the proxy", fault, l.confirmedCount(), px.accepted.Load())
		})
	}
}

// produceUntil sends persistent messages to dest on n as netProduce
// does, numbered from 0, until stop is closed; it returns the first
// failure. Any goroutine.
func produceUntil(n *netNode, dest, prefix string, stop <-chan struct{}, ls ...*crashLedger) error {
	const chunk = 20
	for i := 0; ; i += chunk {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := netProduce(n, dest, prefix, i, chunk, ls...); err != nil {
			return err
		}
	}
}

// bridgeUp reports whether n's bridge to peer is up.
func (n *netNode) bridgeUp(peer *netNode) bool {
	for _, b := range n.bridges() {
		if b.Peer == "amqp://"+peer.amqp {
			return b.Up
		}
	}
	return false
}

// outOfOrder describes the first places where ids go backwards.
func outOfOrder(ids []string) []string {
	var out []string
	for i := 1; i < len(ids) && len(out) < 10; i++ {
		if ids[i] < ids[i-1] {
			out = append(out, fmt.Sprintf("#%d %s after %s", i, ids[i], ids[i-1]))
		}
	}
	return out
}
