package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// duplexBridge is a's duplex bridge as the admin endpoint's /cluster
// shows it.
type duplexBridge struct {
	Peer       string
	Up         bool
	Duplex     bool
	Forwarding []string
	Pulling    []string
	Pulled     uint64
}

// duplexBridges reads n's bridges with their duplex fields.
func duplexBridges(n *netNode) []duplexBridge {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.admin + "/cluster")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Network struct{ Bridges []duplexBridge }
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	return body.Network.Bridges
}

// waitDuplex waits until n's duplex bridge is up and, as asked, pulls
// and forwards the destinations given.
func waitDuplex(t *testing.T, n *netNode, pulls, forwards string) {
	t.Helper()
	eventually(t, waitTimeout, func() bool {
		for _, b := range duplexBridges(n) {
			if b.Up && b.Duplex && (pulls == "" || slices.Contains(b.Pulling, pulls)) &&
				(forwards == "" || slices.Contains(b.Forwarding, forwards)) {
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("%s's duplex bridge does not pull %q and forward %q: %+v", n.name, pulls, forwards, duplexBridges(n))
	})
}

// TestNetworkDuplex: broker A dials B with a duplex bridge; B has no
// peers (no discovery) and never dials A. Over A's one connection,
// persistent messages produced on B reach A's consumer and messages
// produced on A reach B's, each exactly once and removed from the
// broker they were produced on; then B is SIGKILLed while its messages
// flow to A and restarted, and nothing confirmed is lost or delivered
// twice.
func TestNetworkDuplex(t *testing.T) {
	t.Parallel()
	ns := newNetwork(t, "duplex-a", "duplex-b")
	a, b := ns[0], ns[1]
	b.extra = []string{"--cluster-discovery", "none"}
	a.extra = []string{"--cluster-peers", "amqp://" + b.amqp + "?duplex=true"}
	b.start(1)
	a.start(1)
	waitDuplex(t, a, "", "")

	t.Run("b to a", func(t *testing.T) {
		name := uniq("net.duplex.toa")
		l := newCrashLedger()
		cons := startConsumer(t, a, "/queue/"+name, l)
		waitDuplex(t, a, "queue://"+name, "")
		const n = 200
		if err := netProduce(b, "/queue/"+name, "b", 0, n, l); err != nil {
			t.Fatal(err)
		}
		eventually(t, waitTimeout, func() bool { return l.ackedCount() == n }, func() string {
			return fmt.Sprintf("A acknowledged %d of %d; %s; bridges %+v", l.ackedCount(), n, b.queues(), duplexBridges(a))
		})
		l.checkExactlyOnce(t, false)
		if got := cons.received(); !slices.IsSorted(got) {
			t.Fatalf("A received out of order: %v", got)
		}
		b.waitDrained(name)
		a.waitDrained(name)
	})

	t.Run("a to b", func(t *testing.T) {
		name := uniq("net.duplex.tob")
		l := newCrashLedger()
		startConsumer(t, b, "/queue/"+name, l)
		waitDuplex(t, a, "", "queue://"+name)
		const n = 200
		if err := netProduce(a, "/queue/"+name, "a", 0, n, l); err != nil {
			t.Fatal(err)
		}
		eventually(t, waitTimeout, func() bool { return l.ackedCount() == n }, func() string {
			return fmt.Sprintf("B acknowledged %d of %d; %s; bridges %+v", l.ackedCount(), n, a.queues(), duplexBridges(a))
		})
		l.checkExactlyOnce(t, false)
		a.waitDrained(name)
		b.waitDrained(name)
	})

	t.Run("b killed", func(t *testing.T) {
		name := uniq("net.duplex.kill")
		dest := "/queue/" + name
		l := newCrashLedger()
		startConsumer(t, a, dest, l)
		waitDuplex(t, a, "queue://"+name, "")
		const n = 600
		done := make(chan error, 1)
		go func() { done <- produceThrough(b, dest, "k", n, l) }()
		eventually(t, waitTimeout, func() bool { return l.ackedCount() >= n/4 }, func() string {
			return fmt.Sprintf("A acknowledged %d, want %d before the kill", l.ackedCount(), n/4)
		})
		b.kill()
		b.start(1)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, l.allConfirmedAcked, func() string {
			return fmt.Sprintf("A acknowledged %d; missing %v; %s %s; bridges %+v", l.ackedCount(), l.unacked(),
				a.queues(), b.queues(), duplexBridges(a))
		})
		l.checkExactlyOnce(t, false)
		b.waitDrained(name)
		a.waitDrained(name)
	})
}
