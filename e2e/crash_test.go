package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// crashLedger records, by message id, what the clients of a crash test
// saw; the test checks it against the durability promises.
type crashLedger struct {
	mu        sync.Mutex
	sent      map[string]bool // SEND written
	confirmed map[string]bool // RECEIPT for the SEND received
	received  map[string]int  // MESSAGE frames
	acked     map[string]bool // RECEIPT for the ACK received: durably consumed
	bad       []string        // violations seen as they happen
	unflagged []string        // delivered again without redelivered:true
}

func newCrashLedger() *crashLedger {
	return &crashLedger{sent: map[string]bool{}, confirmed: map[string]bool{}, received: map[string]int{}, acked: map[string]bool{}}
}

func (l *crashLedger) confirmedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.confirmed)
}

// crashConn is a minimal STOMP 1.2 client on the codec, so that the test
// controls every frame (receipts on ACKs, no client-side buffering).
type crashConn struct {
	nc net.Conn
	r  *wire.Reader
	w  *bufio.Writer
}

func crashDial(addr string) (*crashConn, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	c := &crashConn{nc: nc, r: wire.NewReader(nc, wire.Limits{}), w: bufio.NewWriter(nc)}
	if err := c.send(frame.New("CONNECT", "accept-version", "1.2", "host", "/"), wire.V10); err != nil {
		nc.Close()
		return nil, err
	}
	f, err := c.read()
	if err != nil || f.Command != "CONNECTED" {
		nc.Close()
		return nil, fmt.Errorf("connect: %v %v", f, err)
	}
	c.r.SetVersion(wire.V12)
	return c, nil
}

func (c *crashConn) send(f *frame.Frame, v wire.Version) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.w.Write(wire.AppendFrame(nil, f, v)); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *crashConn) read() (*frame.Frame, error) {
	for {
		f, err := c.r.Read()
		if err != nil || f != nil {
			return f, err
		}
	}
}

// crashProduce sends persistent messages with a receipt each until the
// connection breaks.
func crashProduce(addr, dest, prefix string, l *crashLedger) {
	c, err := crashDial(addr)
	if err != nil {
		return
	}
	defer c.nc.Close()
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		l.mu.Lock()
		l.sent[id] = true
		l.mu.Unlock()
		f := frame.New("SEND", "destination", dest, "persistent", "true", "receipt", id, "content-type", "text/plain")
		f.Body = []byte(id)
		if err := c.send(f, wire.V12); err != nil {
			return
		}
		f, err := c.read()
		if err != nil {
			return
		}
		if f.Command == "ERROR" {
			return // not stored (the store is failing or full): not confirmed, nothing promised
		}
		if f.Command != "RECEIPT" || f.Header.Get("receipt-id") != id {
			l.mu.Lock()
			l.bad = append(l.bad, fmt.Sprintf("producer %s: got %s %v for %s", prefix, f.Command, f.Header, id))
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		l.confirmed[id] = true
		l.mu.Unlock()
	}
}

// crashConsume receives with client-individual acks, each with a receipt,
// until the connection breaks. The message body is the id.
func crashConsume(c *crashConn, dest string, l *crashLedger) {
	defer c.nc.Close()
	if err := c.send(frame.New("SUBSCRIBE", "id", "0", "destination", dest, "ack", "client-individual", "activemq.prefetchSize", "10"), wire.V12); err != nil {
		return
	}
	for {
		f, err := c.read()
		if err != nil {
			return
		}
		switch f.Command {
		case "MESSAGE":
			id := string(f.Body)
			l.mu.Lock()
			if !l.sent[id] {
				l.bad = append(l.bad, "received a message that was never sent: "+id)
			}
			if l.acked[id] {
				l.bad = append(l.bad, "received again after its ACK was confirmed: "+id)
			}
			if l.received[id] > 0 && f.Header.Get("redelivered") != "true" {
				l.unflagged = append(l.unflagged, id)
			}
			l.received[id]++
			l.mu.Unlock()
			if c.send(frame.New("ACK", "id", f.Header.Get("ack"), "receipt", "ack:"+id), wire.V12) != nil {
				return
			}
		case "RECEIPT":
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

// crashStart runs the binary on dataDir with a small segment size (so
// segments roll and are reclaimed during the test) and returns it with its
// STOMP and admin addresses.
func crashStart(t *testing.T, dataDir string, extra ...string) (*proc, string, string) {
	args := append([]string{"serve", "--stomp-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--amqp-listen", "", "--log-format", "json", "--node-data-dir", dataDir,
		"--store-type", "disk", "--store-disk-segment-size", "1MiB"}, extra...)
	p := startMQGate(t, nil, args...)
	return p, p.logField("STOMP listening", "addr"), p.logField("admin HTTP listening", "addr")
}

// crashDepth reads ready+inflight of a queue from the admin endpoint.
func crashDepth(t *testing.T, admin, name string) int {
	resp, err := http.Get("http://" + admin + "/queues")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var qs []struct {
		Name            string
		Ready, Inflight int
	}
	if err := json.NewDecoder(resp.Body).Decode(&qs); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q.Ready + q.Inflight
		}
	}
	return 0
}

// TestCrashSIGKILLLosesNothingConfirmed drives producers (a receipt per
// persistent SEND) and consumers (a receipt per ACK) against the real
// binary, SIGKILLs it at a random point, restarts it on the same data, and
// repeats. At the end it drains the queue and checks by message id: every
// confirmed message was delivered at least once, no message came back
// after its ACK was confirmed, and nothing arrived that was never sent.
func TestCrashSIGKILLLosesNothingConfirmed(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dataDir := t.TempDir()
	const dest = "/queue/crash"
	l := newCrashLedger()
	for r := range rounds {
		p, addr, _ := crashStart(t, dataDir)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); crashProduce(addr, dest, fmt.Sprintf("r%d-p%d", r, i), l) }()
		}
		for range 2 {
			c, err := crashDial(addr)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() { defer wg.Done(); crashConsume(c, dest, l) }()
		}
		// Kill at a random point: after a random number of confirmations.
		target := l.confirmedCount() + 20 + rng.IntN(400)
		eventually(t, 60*time.Second, func() bool { return l.confirmedCount() >= target }, func() string {
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Sprintf("round %d: %d confirmed, want %d; problems: %v", r, len(l.confirmed), target, l.bad)
		})
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(waitTimeout)
		wg.Wait()
	}

	// Drain what is left after one more restart.
	_, addr, admin := crashStart(t, dataDir)
	c, err := crashDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); crashConsume(c, dest, l) }()
	// Drained when the broker holds nothing, ready or in flight: every
	// delivery of this last run was acknowledged. (A message received
	// before a kill whose ACK receipt never came may or may not come back:
	// the ACK may have been stored.)
	eventually(t, 60*time.Second, func() bool {
		return crashDepth(t, admin, "queue://crash") == 0
	}, func() string {
		return fmt.Sprintf("drain: depth %d", crashDepth(t, admin, "queue://crash"))
	})
	c.nc.Close()
	<-done

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
	redelivered := 0
	for _, n := range l.received {
		if n > 1 {
			redelivered++
		}
	}
	t.Logf("%d rounds: %d sent, %d confirmed, %d delivered, %d delivered more than once (unconfirmed ACKs at a kill), %d of them without redelivered:true",
		rounds, len(l.sent), len(l.confirmed), len(l.received), redelivered, len(l.unflagged))
	if len(l.confirmed) == 0 {
		t.Fatal("nothing was confirmed: the test did not test anything")
	}
}

// TestCrashTornTailRecovers cuts the last journal segment inside its last
// batch and flips a byte in a copy: the broker starts, logs what it
// dropped, and delivers every message before the damage.
func TestCrashTornTailRecovers(t *testing.T) {
	for _, mode := range []string{"truncate", "corrupt"} {
		t.Run(mode, func(t *testing.T) {
			dataDir := t.TempDir()
			p, addr, _ := crashStart(t, dataDir)
			c, err := crashDial(addr)
			if err != nil {
				t.Fatal(err)
			}
			const n = 50
			for i := range n {
				id := fmt.Sprint(i)
				if err := c.send(frame.New("SEND", "destination", "/queue/torn", "persistent", "true", "receipt", id), wire.V12); err != nil {
					t.Fatal(err)
				}
				if f, err := c.read(); err != nil || f.Command != "RECEIPT" {
					t.Fatalf("send %d: %v %v", i, f, err)
				}
			}
			c.nc.Close()
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.wait(waitTimeout)

			segs, _ := filepath.Glob(filepath.Join(dataDir, "journal", "*.log"))
			sort.Strings(segs)
			if len(segs) == 0 {
				t.Fatal("no journal segment")
			}
			last := segs[len(segs)-1]
			st, err := os.Stat(last)
			if err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "truncate":
				if err := os.Truncate(last, st.Size()-3); err != nil {
					t.Fatal(err)
				}
			case "corrupt":
				f, err := os.OpenFile(last, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				f.ReadAt(b, st.Size()-2)
				b[0] ^= 0xff
				f.WriteAt(b, st.Size()-2)
				f.Close()
			}

			p2, addr, _ := crashStart(t, dataDir)
			c, err = crashDial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.nc.Close()
			c.send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/torn", "ack", "auto"), wire.V12)
			// The damaged batch was the last message's: the 49 before it
			// arrive, in order.
			for i := range n - 1 {
				_ = c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
				f, err := c.read()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if f.Command != "MESSAGE" {
					t.Fatalf("got %s", f.Command)
				}
			}
			found := false
			p2.mu.Lock()
			for _, line := range p2.stderr {
				if strings.Contains(line, "dropped_bytes") {
					found = true
				}
			}
			p2.mu.Unlock()
			if !found {
				t.Error("the repair of the torn tail was not logged with dropped_bytes")
			}
		})
	}
}

// TestCrashStoreFull fills a small store: the producer gets an ERROR
// saying the store is full, nothing stored is lost, and once consumers
// drain the queue producers can send again.
func TestCrashStoreFull(t *testing.T) {
	dataDir := t.TempDir()
	_, addr, admin := crashStart(t, dataDir, "--store-disk-max-size", "2MiB", "--store-disk-segment-size", "1MiB")
	c, err := crashDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 16<<10)
	sent := 0
	var errFrame *frame.Frame
	for i := 0; i < 1000; i++ {
		f := frame.New("SEND", "destination", "/queue/full", "persistent", "true", "receipt", fmt.Sprint(i))
		f.Body = []byte(body)
		if err := c.send(f, wire.V12); err != nil {
			break
		}
		r, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		if r.Command == "ERROR" {
			errFrame = r
			break
		}
		sent++
	}
	c.nc.Close()
	if errFrame == nil {
		t.Fatalf("sent %d × 16 KiB to a 2 MiB store without an ERROR", sent)
	}
	if !strings.Contains(errFrame.Header.Get("message")+string(errFrame.Body), "full") {
		t.Fatalf("ERROR does not say the store is full: %v %q", errFrame.Header, errFrame.Body)
	}
	if got := crashDepth(t, admin, "queue://full"); got != sent {
		t.Fatalf("queue holds %d, %d were confirmed", got, sent)
	}
	// Drain, then sending works again.
	cons, err := crashDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.nc.Close()
	cons.send(frame.New("SUBSCRIBE", "id", "0", "destination", "/queue/full", "ack", "auto"), wire.V12)
	for i := range sent {
		_ = cons.nc.SetReadDeadline(time.Now().Add(waitTimeout))
		if f, err := cons.read(); err != nil || f.Command != "MESSAGE" {
			t.Fatalf("draining %d: %v %v", i, f, err)
		}
	}
	eventually(t, waitTimeout, func() bool {
		p, err := crashDial(addr)
		if err != nil {
			return false
		}
		defer p.nc.Close()
		f := frame.New("SEND", "destination", "/queue/full2", "persistent", "true", "receipt", "again")
		f.Body = []byte(body)
		if p.send(f, wire.V12) != nil {
			return false
		}
		r, err := p.read()
		return err == nil && r.Command == "RECEIPT"
	})
}

// TestCrashRecoveryMillion stores a million small persistent messages,
// kills the broker, and reports how long the restart takes until STOMP
// listens with all of them recovered.
func TestCrashRecoveryMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: sends a million messages")
	}
	const n = 1_000_000
	dataDir := t.TempDir()
	p, addr, _ := crashStart(t, dataDir, "--store-disk-segment-size", "64MiB")
	c, err := crashDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Pipelined sends, a receipt every 10,000 (the broker answers it once
	// every earlier send is stored).
	reader := make(chan error, 1)
	receipts := make(chan string, 128)
	go func() {
		for {
			f, err := c.read()
			if err != nil {
				reader <- err
				return
			}
			if f.Command != "RECEIPT" {
				reader <- fmt.Errorf("got %s %v", f.Command, f.Header)
				return
			}
			receipts <- f.Header.Get("receipt-id")
		}
	}()
	start := time.Now()
	var buf []byte
	body := []byte("0123456789abcdef")
	for i := 1; i <= n; i++ {
		f := frame.New("SEND", "destination", "/queue/million", "persistent", "true")
		if i%10000 == 0 {
			f.Header.Add("receipt", fmt.Sprint(i))
		}
		f.Body = body
		buf = wire.AppendFrame(buf, f, wire.V12)
		if len(buf) > 64<<10 || i == n {
			_ = c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	for {
		select {
		case id := <-receipts:
			if id != fmt.Sprint(n) {
				continue
			}
		case err := <-reader:
			t.Fatal(err)
		case <-time.After(5 * time.Minute):
			t.Fatal("no final receipt")
		}
		break
	}
	t.Logf("stored %d messages in %v", n, time.Since(start))
	c.nc.Close()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(waitTimeout)

	restart := time.Now()
	// Recovery is measured, not bounded: under the race detector on a busy
	// machine it can take far longer than the 2–4 s it takes alone.
	p2 := startMQGate(t, nil, "serve", "--stomp-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--amqp-listen", "", "--log-format", "json", "--node-data-dir", dataDir, "--store-type", "disk")
	p2.logFieldWithin("STOMP listening", "addr", 5*time.Minute)
	admin := p2.logField("admin HTTP listening", "addr")
	listening := time.Since(restart)
	if got := crashDepth(t, admin, "queue://million"); got != n {
		t.Fatalf("recovered %d messages, want %d", got, n)
	}
	took := func(msg string) any {
		p2.mu.Lock()
		defer p2.mu.Unlock()
		for _, l := range p2.logs {
			if l["message"] == msg {
				return l["took"]
			}
		}
		return "?"
	}
	t.Logf("restart with %d pending: STOMP listening after %v (journal open %v ms, recovery into queues %v ms, as logged)",
		n, listening, took("journal opened"), took("store recovered"))
}
