package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// haRedisGroup starts a redis-server and two mqgate nodes sharing it.
func haRedisGroup(t *testing.T, ttl string) (*haGroup, *redisServer) {
	srv := startRedis(t)
	args := []string{"--store-type", "redis", "--store-redis-url", "redis://" + srv.addr + "/0",
		"--store-redis-group", "ha", "--ha-lease-ttl", ttl, "--node-data-dir", t.TempDir()}
	g := &haGroup{t: t}
	for _, name := range []string{"a", "b"} {
		n := newHANode(t, name, nil, args...)
		n.start()
		g.nodes = append(g.nodes, n)
	}
	return g, srv
}

// TestHARedisFailover: two nodes on one Redis, the master SIGKILLed in a
// loop under producers and consumers with receipts, each killed node
// restarted as a slave.
func TestHARedisFailover(t *testing.T) {
	kills := 10
	if testing.Short() {
		kills = 3
	}
	g, _ := haRedisGroup(t, "1s")
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

// TestHARedisFencing stops the master (SIGSTOP) until the slave has taken
// over, then lets it run again: the old master writes nothing more (a SEND
// it reads after waking gets an ERROR, not a RECEIPT, and never reaches a
// consumer) and steps down, closing its listeners.
func TestHARedisFencing(t *testing.T) {
	g, _ := haRedisGroup(t, "1s")
	old := g.master(30 * time.Second)
	c, err := crashDial(old.stomp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	send := func(id string) {
		f := frame.New("SEND", "destination", "/queue/fence", "persistent", "true", "receipt", id)
		f.Body = []byte(id)
		if err := c.send(f, wire.V12); err != nil {
			t.Fatal(err)
		}
	}
	send("before")
	if f, err := c.read(); err != nil || f.Command != "RECEIPT" {
		t.Fatalf("before the pause: %v %v", f, err)
	}

	old.kill(syscall.SIGSTOP)
	stopped := time.Now()
	// The signal is delivered asynchronously: wait until the process is
	// really stopped, so that its admin endpoint cannot answer any more.
	eventually(t, waitTimeout, func() bool { return procState(old.p.cmd.Process.Pid) == 'T' },
		func() string { return fmt.Sprintf("state %c after SIGSTOP", procState(old.p.cmd.Process.Pid)) })
	send("while-stopped") // sits in the socket until the process runs again
	var next *haNode
	for _, n := range g.nodes {
		if n != old {
			next = n
		}
	}
	eventually(t, 30*time.Second, func() bool { _, ready := next.readyz(); return ready },
		func() string { return "the slave did not take over from the stopped master" })
	t.Logf("take-over after SIGSTOP: %v", time.Since(stopped).Round(time.Millisecond))
	old.kill(syscall.SIGCONT)

	// The old master answers the SEND it finds with an ERROR, or closes the
	// connection; never a RECEIPT.
	if f, err := c.read(); err == nil && f.Command == "RECEIPT" {
		t.Fatalf("a fenced master confirmed a write: %v", f.Header)
	}
	// It steps down: its listener closes, its admin endpoint says slave.
	eventually(t, 30*time.Second, func() bool {
		role, ready := old.readyz()
		return role == "slave" && !ready
	}, func() string { r, ok := old.readyz(); return fmt.Sprintf("old master: role %q ready %v", r, ok) })
	if cc, err := net.DialTimeout("tcp", old.stomp, time.Second); err == nil {
		cc.Close()
		t.Fatal("the stepped-down master still accepts STOMP connections")
	}
	if !strings.Contains(old.p.stderrText(), "lost the master lease") {
		t.Errorf("no step-down log line:\n%s", old.p.stderrText())
	}

	// The new master has "before" and not "while-stopped".
	cons, err := crashDial(next.stomp)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.nc.Close()
	if err := cons.send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/fence", "ack", "auto"), wire.V12); err != nil {
		t.Fatal(err)
	}
	f, err := cons.read()
	if err != nil || string(f.Body) != "before" {
		t.Fatalf("first message on the new master: %v %v", f, err)
	}
	_ = cons.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if f, err := cons.read(); err == nil {
		t.Fatalf("the new master has a message the fenced one tried to write: %q", f.Body)
	}
}

// procState returns the state letter of /proc/PID/stat ('T' when
// stopped), or 0.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// TestHARedisRestart kills redis-server under a master with producers:
// the master stops confirming while Redis is gone (no RECEIPT for a write
// Redis did not take), and confirms again once Redis is back on its
// append-only file; nothing confirmed is lost.
func TestHARedisRestart(t *testing.T) {
	g, srv := haRedisGroup(t, "2s")
	const dest = "/queue/rr"
	cl := &haClients{l: newCrashLedger()}
	g.master(30 * time.Second)
	cl.run(g.stompAddrs(), dest, 2, 0)
	eventually(t, 30*time.Second, func() bool { return cl.l.confirmedCount() >= 100 }, func() string {
		return fmt.Sprintf("%d confirmed", cl.l.confirmedCount())
	})
	srv.kill()
	// Writes Redis acknowledged before the kill may still be confirmed;
	// after that, nothing can be while Redis is down.
	time.Sleep(time.Second)
	before := cl.l.confirmedCount()
	time.Sleep(2 * time.Second) // an observation window: nothing is awaited here
	if during := cl.l.confirmedCount(); during != before {
		t.Fatalf("%d writes confirmed while Redis was down", during-before)
	}
	srv.restart()
	eventually(t, 60*time.Second, func() bool { return cl.l.confirmedCount() >= before+100 }, func() string {
		return fmt.Sprintf("after the Redis restart: %d confirmed, want %d", cl.l.confirmedCount(), before+100)
	})
	cl.stop.Store(true)
	m := g.master(30 * time.Second)
	m.kill(syscall.SIGKILL)
	m.p.wait(waitTimeout)
	cl.wg.Wait()
	m = g.master(60 * time.Second)

	c, err := crashDial(m.stomp)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); crashConsume(c, dest, cl.l) }()
	eventually(t, 60*time.Second, func() bool { return crashDepth(t, m.admin, "queue://rr") == 0 })
	c.nc.Close()
	<-done
	cl.l.mu.Lock()
	defer cl.l.mu.Unlock()
	for id := range cl.l.confirmed {
		if cl.l.received[id] == 0 {
			t.Errorf("confirmed message %s lost", id)
		}
	}
	for _, b := range cl.l.bad {
		t.Error(b)
	}
}

// TestHARedisRedeliveredAfterTakeOver: a message delivered and not
// acknowledged on the old master comes back from the new one flagged
// redelivered, before newer messages.
func TestHARedisRedeliveredAfterTakeOver(t *testing.T) {
	g, _ := haRedisGroup(t, "1s")
	old := g.master(30 * time.Second)
	p, err := crashDial(old.stomp)
	if err != nil {
		t.Fatal(err)
	}
	defer p.nc.Close()
	sendReceipted := func(body string) {
		t.Helper()
		f := frame.New("SEND", "destination", "/queue/redl", "persistent", "true", "receipt", body)
		f.Body = []byte(body)
		if err := p.send(f, wire.V12); err != nil {
			t.Fatal(err)
		}
		if r, err := p.read(); err != nil || r.Command != "RECEIPT" {
			t.Fatalf("send %s: %v %v", body, r, err)
		}
	}
	sendReceipted("first")
	c, err := crashDial(old.stomp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	// Prefetch 1: "second" is not delivered while "first" is unacknowledged.
	if err := c.send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/redl", "ack", "client-individual",
		"activemq.prefetchSize", "1"), wire.V12); err != nil {
		t.Fatal(err)
	}
	if m, err := c.read(); err != nil || string(m.Body) != "first" || m.Header.Get("redelivered") == "true" {
		t.Fatalf("first delivery: %v %v", m, err)
	}
	// A later receipted write is committed after the delivered mark.
	sendReceipted("second")

	old.kill(syscall.SIGKILL)
	old.p.wait(waitTimeout)
	next := g.master(30 * time.Second)
	c2, err := crashDial(next.stomp)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.nc.Close()
	if err := c2.send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/redl", "ack", "auto"), wire.V12); err != nil {
		t.Fatal(err)
	}
	m, err := c2.read()
	if err != nil || string(m.Body) != "first" || m.Header.Get("redelivered") != "true" {
		t.Fatalf("after take-over, first message: %v %v; want first, redelivered:true", m, err)
	}
	if m, err := c2.read(); err != nil || string(m.Body) != "second" || m.Header.Get("redelivered") == "true" {
		t.Fatalf("after take-over, second message: %v %v", m, err)
	}
}
