package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// haFreeAddr returns a loopback address with a port that was free a moment
// ago. Master/slave nodes need fixed client ports: a slave opens its
// listeners only when it becomes master, on the address clients know.
func haFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// haNode is one mqgate process of a master/slave group, restartable on the
// same addresses.
type haNode struct {
	t     *testing.T
	name  string
	stomp string
	admin string
	args  []string
	env   []string
	p     *proc
}

func newHANode(t *testing.T, name string, env []string, args ...string) *haNode {
	n := &haNode{t: t, name: name, stomp: haFreeAddr(t), admin: haFreeAddr(t), env: env}
	n.args = append([]string{"serve", "--node-id", name, "--stomp-listen", n.stomp, "--admin-listen", n.admin,
		"--amqp-listen", "", "--log-format", "json"}, args...)
	return n
}

func (n *haNode) start() {
	n.p = startMQGate(n.t, n.env, n.args...)
	n.p.logField("admin HTTP listening", "addr")
}

// readyz returns the role the admin endpoint reports and whether it is
// ready; "" when the node does not answer.
func (n *haNode) readyz() (role string, ready bool) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.admin + "/readyz")
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var body struct {
		Ready bool
		Role  string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", false
	}
	return body.Role, body.Ready && resp.StatusCode == http.StatusOK
}

func (n *haNode) kill(sig syscall.Signal) {
	if err := n.p.cmd.Process.Signal(sig); err != nil {
		n.t.Fatal(err)
	}
}

// haGroup is a master/slave group of nodes on one shared store.
type haGroup struct {
	t     *testing.T
	nodes []*haNode
}

// master waits until exactly one node is ready and returns it.
func (g *haGroup) master(timeout time.Duration) *haNode {
	var m *haNode
	eventually(g.t, timeout, func() bool {
		m = nil
		for _, n := range g.nodes {
			if _, ready := n.readyz(); ready {
				if m != nil {
					g.t.Fatalf("%s and %s are both master", m.name, n.name)
				}
				m = n
			}
		}
		return m != nil
	}, func() string { return "no master" })
	return m
}

// stompAddrs lists the nodes' client addresses, for clients that try them
// in turn.
func (g *haGroup) stompAddrs() []string {
	var addrs []string
	for _, n := range g.nodes {
		addrs = append(addrs, n.stomp)
	}
	return addrs
}

// haClients runs producers and consumers that reconnect to whichever node
// accepts them, each connection with its own id prefix, until stop.
type haClients struct {
	l    *crashLedger
	stop atomic.Bool
	wg   sync.WaitGroup
}

func (c *haClients) run(addrs []string, dest string, producers, consumers int) {
	for i := range producers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for conn := 0; !c.stop.Load(); conn++ {
				crashProduce(addrs[conn%len(addrs)], dest, fmt.Sprintf("p%d-c%d", i, conn), c.l)
				time.Sleep(20 * time.Millisecond) // reconnect back-off, as a client would
			}
		}()
	}
	for i := range consumers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for conn := i; !c.stop.Load(); conn++ {
				if cc, err := crashDial(addrs[conn%len(addrs)]); err == nil {
					crashConsume(cc, dest, c.l)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
}

// haFailoverLoop SIGKILLs the master of g kills times while clients
// produce and consume through the failovers, restarting each killed node
// as a slave, then drains the queue and checks by message id: no confirmed
// message lost, nothing redelivered after its ACK was confirmed, nothing
// unknown. It reports the take-over times.
func haFailoverLoop(t *testing.T, g *haGroup, kills int) {
	const dest = "/queue/ha"
	cl := &haClients{l: newCrashLedger()}
	m := g.master(30 * time.Second)
	cl.run(g.stompAddrs(), dest, 2, 2)
	var takeovers []time.Duration
	for k := range kills {
		target := cl.l.confirmedCount() + 50
		eventually(t, 60*time.Second, func() bool { return cl.l.confirmedCount() >= target }, func() string {
			return fmt.Sprintf("kill %d: %d confirmed, want %d", k, cl.l.confirmedCount(), target)
		})
		m.kill(syscall.SIGKILL)
		killed := time.Now()
		m.p.wait(waitTimeout)
		next := g.master(60 * time.Second)
		takeovers = append(takeovers, time.Since(killed))
		if next == m {
			t.Fatalf("kill %d: %s is master again", k, m.name)
		}
		m.start() // back as a slave
		if role, ready := m.readyz(); ready || role != "slave" {
			t.Fatalf("restarted %s: role %q ready %v, want a slave", m.name, role, ready)
		}
		m = next
	}
	// Stop the clients: they give up when their connections break, so one
	// last SIGKILL ends them, and the drain runs on the node that takes over.
	cl.stop.Store(true)
	m.kill(syscall.SIGKILL)
	m.p.wait(waitTimeout)
	cl.wg.Wait()
	m = g.master(60 * time.Second)

	// Drain on the last master.
	c, err := crashDial(m.stomp)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); crashConsume(c, dest, cl.l) }()
	eventually(t, 60*time.Second, func() bool {
		return crashDepth(t, m.admin, "queue://ha") == 0
	}, func() string { return fmt.Sprintf("drain: depth %d", crashDepth(t, m.admin, "queue://ha")) })
	c.nc.Close()
	<-done

	l := cl.l
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost []string
	for id := range l.confirmed {
		if l.received[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("%d confirmed messages never delivered, e.g. %v", len(lost), lost[:min(10, len(lost))])
	}
	for _, b := range l.bad {
		t.Error(b)
	}
	if len(l.unflagged) > 0 {
		t.Errorf("%d messages delivered again without redelivered:true, e.g. %v", len(l.unflagged), l.unflagged[:min(5, len(l.unflagged))])
	}
	if len(l.confirmed) == 0 {
		t.Fatal("nothing was confirmed")
	}
	slices.Sort(takeovers)
	t.Logf("%d kills: %d sent, %d confirmed, %d delivered, %d again without redelivered:true; take-over (SIGKILL to the next master ready) median %v, max %v",
		kills, len(l.sent), len(l.confirmed), len(l.received), len(l.unflagged), takeovers[len(takeovers)/2].Round(time.Millisecond),
		takeovers[len(takeovers)-1].Round(time.Millisecond))
}

// TestHASharedDiskFailover is ActiveMQ's shared file system master/slave:
// two processes on one data directory; the one holding the lock file
// serves, the other waits with its listeners closed and takes over when
// the master is SIGKILLed.
func TestHASharedDiskFailover(t *testing.T) {
	kills := 10
	if testing.Short() {
		kills = 3
	}
	dir := t.TempDir()
	args := []string{"--node-data-dir", dir, "--store-type", "disk", "--ha-mode", "shared-store", "--ha-lease-ttl", "1s"}
	g := &haGroup{t: t}
	for _, name := range []string{"a", "b"} {
		n := newHANode(t, name, nil, args...)
		n.start()
		g.nodes = append(g.nodes, n)
	}
	m := g.master(30 * time.Second)
	for _, n := range g.nodes {
		if n == m {
			continue
		}
		if role, ready := n.readyz(); ready || role != "slave" {
			t.Fatalf("%s: role %q ready %v, want a slave", n.name, role, ready)
		}
		if c, err := net.DialTimeout("tcp", n.stomp, time.Second); err == nil {
			c.Close()
			t.Fatalf("slave %s accepts STOMP connections", n.name)
		}
	}
	haFailoverLoop(t, g, kills)
}
