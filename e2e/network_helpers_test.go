package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// netNode is one mqgate process of a network of brokers: fixed loopback
// addresses and a data directory that survive a restart, so that a
// SIGKILLed node comes back as the same peer with the same store.
type netNode struct {
	t       *testing.T
	name    string
	stomp   string
	amqp    string
	admin   string
	dataDir string
	peers   []*netNode
	extra   []string
	p       *proc
}

// newNetwork makes nodes named names (not started). Link them with
// connect, start them with start.
func newNetwork(t *testing.T, names ...string) []*netNode {
	var ns []*netNode
	for _, name := range names {
		ns = append(ns, &netNode{t: t, name: name, stomp: netFreeAddr(t), amqp: netFreeAddr(t), admin: netFreeAddr(t), dataDir: t.TempDir()})
	}
	return ns
}

// netPorts are the ports netFreeAddr handed out in this process.
var (
	netPortsMu sync.Mutex
	netPorts   = map[int]bool{}
)

// netFreeAddr returns a loopback address whose port was free a moment
// ago, below the usual ephemeral range (32768 and up), so that the
// kernel does not give it to an outgoing connection before the node
// binds it, and never one it returned before.
func netFreeAddr(t *testing.T) string {
	t.Helper()
	netPortsMu.Lock()
	defer netPortsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if netPorts[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		netPorts[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port found")
	return ""
}

// connect makes a and b peers of each other (static discovery both ways).
func connect(a, b *netNode) {
	a.peers = append(a.peers, b)
	b.peers = append(b.peers, a)
}

// netArgs are the network settings of the tests: short replay delay,
// advertisements and reconnects, so that the tests are quick.
var netArgs = []string{
	"--cluster-network-replay-delay", "1s",
	"--cluster-network-advertise-interval", "500ms",
	"--cluster-network-reconnect-delay", "50ms",
	"--cluster-network-max-reconnect-delay", "500ms",
}

// start runs the node's process (again, after a kill) and waits until it
// serves with its network started.
func (n *netNode) start(ttl int) {
	n.t.Helper()
	var peers []string
	for _, p := range n.peers {
		peers = append(peers, "amqp://"+p.amqp)
	}
	args := append([]string{"serve", "--node-id", n.name,
		"--stomp-listen", n.stomp, "--admin-listen", n.admin, "--amqp-listen", n.amqp,
		"--log-format", "json", "--log-level", "debug", "--shutdown-timeout", "5s",
		"--store-type", "disk", "--node-data-dir", n.dataDir,
		"--cluster-discovery", "static", "--cluster-peers", strings.Join(peers, ","),
		"--cluster-advertise", "amqp://" + n.amqp,
		"--cluster-network-ttl", fmt.Sprint(ttl)}, netArgs...)
	args = append(args, n.extra...)
	n.p = startMQGate(n.t, nil, args...)
	n.p.logField("network of brokers started", "message")
}

// kill SIGKILLs the node's process and waits for it to die.
func (n *netNode) kill() {
	n.t.Helper()
	if err := n.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	n.p.wait(waitTimeout)
}

// bridgeStatus is a bridge as the admin endpoint's /cluster shows it.
type bridgeStatus struct {
	Peer       string
	Node       string
	Up         bool
	Forwarding []string
	Forwarded  uint64
}

// bridges reads the node's bridges; nil when it does not answer.
func (n *netNode) bridges() []bridgeStatus {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.admin + "/cluster")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Network struct{ Bridges []bridgeStatus }
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	return body.Network.Bridges
}

// forwards reports whether n's bridge to peer forwards dest
// ("queue://x", "topic://x").
func (n *netNode) forwards(peer *netNode, dest string) bool {
	for _, b := range n.bridges() {
		if b.Peer == "amqp://"+peer.amqp && b.Up && slices.Contains(b.Forwarding, dest) {
			return true
		}
	}
	return false
}

// waitForwards waits until n's bridge to peer forwards dest.
func (n *netNode) waitForwards(peer *netNode, dest string) {
	n.t.Helper()
	eventually(n.t, waitTimeout, func() bool { return n.forwards(peer, dest) }, func() string {
		return fmt.Sprintf("%s does not forward %s to %s; bridges: %+v", n.name, dest, peer.name, n.bridges())
	})
}

// waitDrained waits until the node holds no message of queue name.
func (n *netNode) waitDrained(name string) {
	n.t.Helper()
	eventually(n.t, waitTimeout, func() bool { return crashDepth(n.t, n.admin, "queue://"+name) == 0 }, func() string {
		return fmt.Sprintf("%s still holds %d messages of %s", n.name, crashDepth(n.t, n.admin, "queue://"+name), name)
	})
}

// netProduce sends count persistent messages to dest on the node,
// numbered from first, each body its id "<prefix>-<i>" and each with a
// receipt that the ledgers record as confirmed; it stops at the first
// failure and returns it. Any goroutine.
func netProduce(n *netNode, dest, prefix string, first, count int, ls ...*crashLedger) error {
	_, err := netProduceN(n, dest, prefix, first, count, ls...)
	return err
}

// netProduceN is netProduce that also returns how many messages were
// confirmed.
func netProduceN(n *netNode, dest, prefix string, first, count int, ls ...*crashLedger) (int, error) {
	c, err := crashDial(n.stomp)
	if err != nil {
		return 0, err
	}
	defer c.nc.Close()
	for i := first; i < first+count; i++ {
		id := fmt.Sprintf("%s-%06d", prefix, i)
		for _, l := range ls {
			l.mu.Lock()
			l.sent[id] = true
			l.mu.Unlock()
		}
		f := frame.New("SEND", "destination", dest, "persistent", "true", "receipt", id, "content-type", "text/plain")
		f.Body = []byte(id)
		if err := c.send(f, wire.V12); err != nil {
			return i - first, fmt.Errorf("SEND %s: %w", id, err)
		}
		r, err := c.read()
		if err != nil || r.Command != "RECEIPT" || r.Header.Get("receipt-id") != id {
			return i - first, fmt.Errorf("SEND %s: got %v, %v", id, r, err)
		}
		for _, l := range ls {
			l.mu.Lock()
			l.confirmed[id] = true
			l.mu.Unlock()
		}
	}
	return count, nil
}

// produceThrough sends count messages as netProduce does, reconnecting
// (for up to 30 s each time) when the node goes away: the message in
// doubt at a failure is skipped (it may or may not be stored; it is
// sent, not confirmed, in the ledger).
func produceThrough(n *netNode, dest, prefix string, count int, ls ...*crashLedger) error {
	for i := 0; i < count; {
		k, err := netProduceN(n, dest, prefix, i, count-i, ls...)
		i += k
		if err == nil {
			continue
		}
		i++ // in doubt
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := crashDial(n.stomp)
			if err == nil {
				c.nc.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not come back: %w", n.name, err)
			}
			time.Sleep(20 * time.Millisecond) // polling for the restarted node
		}
	}
	return nil
}

// netConsumer is a STOMP consumer (client-individual acks, each with a
// receipt) recording into a ledger, and the order it received in.
type netConsumer struct {
	c          *crashConn
	l          *crashLedger
	done       chan struct{}
	subscribed chan struct{} // closed at the SUBSCRIBE's receipt

	wmu     sync.Mutex // serializes writes: the run goroutine's ACKs, leave's DISCONNECT
	leaving bool       // DISCONNECT sent; guarded by wmu

	mu    sync.Mutex
	order []string // bodies (ids) as received
}

// startConsumer subscribes to dest on the node and consumes until stop.
// It returns once the broker has the subscription.
func startConsumer(t *testing.T, n *netNode, dest string, l *crashLedger) *netConsumer {
	t.Helper()
	c, err := crashDial(n.stomp)
	if err != nil {
		t.Fatal(err)
	}
	nc := &netConsumer{c: c, l: l, done: make(chan struct{}), subscribed: make(chan struct{})}
	sub := frame.New("SUBSCRIBE", "id", "0", "destination", dest, "ack", "client-individual",
		"activemq.prefetchSize", "10", "receipt", "subscribed")
	if err := c.send(sub, wire.V12); err != nil {
		t.Fatal(err)
	}
	go func() { defer close(nc.done); nc.run() }()
	t.Cleanup(nc.stop)
	select {
	case <-nc.subscribed:
	case <-nc.done:
		t.Fatalf("SUBSCRIBE %s: the connection ended", dest)
	case <-time.After(waitTimeout):
		t.Fatalf("SUBSCRIBE %s: no receipt", dest)
	}
	return nc
}

func (nc *netConsumer) run() {
	l := nc.l
	for {
		f, err := nc.c.read()
		if err != nil {
			return
		}
		switch f.Command {
		case "MESSAGE":
			id := string(f.Body)
			nc.mu.Lock()
			nc.order = append(nc.order, id)
			nc.mu.Unlock()
			l.mu.Lock()
			if !l.sent[id] {
				l.bad = append(l.bad, "received a message that was never sent: "+id)
			}
			if l.acked[id] {
				l.bad = append(l.bad, "received again after its ACK was confirmed: "+id)
			}
			l.received[id]++
			l.mu.Unlock()
			nc.wmu.Lock()
			var err error
			if !nc.leaving {
				// Nothing is sent after DISCONNECT: the broker would not
				// read it, and unread input makes its close a reset that
				// can destroy the receipts on their way.
				err = nc.c.send(frame.New("ACK", "id", f.Header.Get("ack"), "receipt", "ack:"+id), wire.V12)
			}
			nc.wmu.Unlock()
			if err != nil {
				return
			}
		case "RECEIPT":
			switch f.Header.Get("receipt-id") {
			case "bye":
				return
			case "subscribed":
				close(nc.subscribed)
				continue
			}
			id := strings.TrimPrefix(f.Header.Get("receipt-id"), "ack:")
			l.mu.Lock()
			l.acked[id] = true
			l.mu.Unlock()
		default:
			l.mu.Lock()
			l.bad = append(l.bad, fmt.Sprintf("consumer got %s %v", f.Command, f.Header))
			l.mu.Unlock()
			return
		}
	}
}

// received returns the ids received so far, in order.
func (nc *netConsumer) received() []string {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	return slices.Clone(nc.order)
}

// leave disconnects the consumer gracefully: DISCONNECT with a receipt,
// so that every ACK sent before it was handled and its receipt read; the
// messages it received and had not acknowledged go back to the queue.
func (nc *netConsumer) leave() {
	nc.wmu.Lock()
	nc.leaving = true
	_ = nc.c.send(frame.New("DISCONNECT", "receipt", "bye"), wire.V12)
	nc.wmu.Unlock()
	select {
	case <-nc.done:
	case <-time.After(waitTimeout):
	}
	nc.stop()
}

// stop disconnects the consumer (its unacknowledged messages go back to
// the queue) and waits for its goroutine.
func (nc *netConsumer) stop() {
	nc.c.nc.Close()
	<-nc.done
}

// ackedCount returns how many messages the ledger saw acknowledged.
func (l *crashLedger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// checkExactlyOnce fails t unless every confirmed message was
// acknowledged, nothing unsent arrived, nothing came back after its ACK
// was confirmed and, unless redelivery is allowed (a consumer went away
// with messages unacknowledged), nothing was received twice.
func (l *crashLedger) checkExactlyOnce(t *testing.T, allowRedelivery bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		t.Fatalf("violations: %v", l.bad[:min(len(l.bad), 10)])
	}
	var missing, dups []string
	for id := range l.confirmed {
		if !l.acked[id] {
			missing = append(missing, id)
		}
	}
	for id, n := range l.received {
		if n > 1 && !allowRedelivery {
			dups = append(dups, fmt.Sprintf("%s×%d", id, n))
		}
	}
	slices.Sort(missing)
	slices.Sort(dups)
	if len(missing) > 0 || len(dups) > 0 {
		t.Fatalf("%d confirmed messages never acknowledged (%v), %d delivered more than once (%v)",
			len(missing), missing[:min(len(missing), 10)], len(dups), dups[:min(len(dups), 10)])
	}
}

// queues returns the node's /queues listing as text, for failure messages.
func (n *netNode) queues() string {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.admin + "/queues")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = io.Copy(&sb, resp.Body)
	return n.name + ": " + sb.String()
}

// unacked lists the confirmed messages not acknowledged yet.
func (l *crashLedger) unacked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id := range l.confirmed {
		if !l.acked[id] {
			out = append(out, fmt.Sprintf("%s(received %d)", id, l.received[id]))
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

// allConfirmedAcked reports whether every confirmed message was
// acknowledged (messages in doubt may be too, or not).
func (l *crashLedger) allConfirmedAcked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.confirmed {
		if !l.acked[id] {
			return false
		}
	}
	return true
}
