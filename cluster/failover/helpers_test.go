package failover

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
)

// waitTimeout bounds every wait for something that should happen; it is
// generous because -race on a loaded machine is slow.
const waitTimeout = 30 * time.Second

// TestMain runs the tests, then checks that no goroutine of this package
// outlived them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of cluster/failover still running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks waits until no goroutine runs code of this package (other
// than tests), returning the stacks of those that still do.
func waitNoLeaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "cluster/failover.(*") && !strings.Contains(g, "_test.go") && !strings.Contains(g, "testing.tRunner") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond every 10ms until it holds, failing t after
// waitTimeout with what describe says.
func eventually(t testing.TB, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitTimeout, describe())
		}
		<-tick.C
	}
}

// testCtx returns a context bounded by waitTimeout, cancelled when the
// test ends.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger writes to t.Log until the test ends.
func testLogger(t testing.TB, level zerolog.Level) zerolog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(w.stop)
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

type testLogWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

var nodeSeq atomic.Int64

// testBroker is one embedded mqgate serving STOMP and AMQP on loopback.
type testBroker struct {
	t     testing.TB
	cfg   config.Config
	gw    *gateway.Gateway
	stomp string // host:port
	amqp  string // host:port
}

// startBroker starts a broker with a memory store, or with disk a journal
// in a temporary directory, and closes it when the test ends.
func startBroker(t testing.TB, disk bool) *testBroker {
	t.Helper()
	cfg := config.Default()
	cfg.Node.ID = fmt.Sprintf("failover-test-%d", nodeSeq.Add(1))
	cfg.Node.DataDir = t.TempDir()
	cfg.STOMP.Listen = "127.0.0.1:0"
	cfg.AMQP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = ""
	cfg.Log.Level = config.LevelInfo
	cfg.Store.Type = config.StoreMemory
	if disk {
		cfg.Store.Type = config.StoreDisk
		cfg.Store.Disk.Fsync = config.FsyncNever // Close flushes; the process outlives it
	}
	b := &testBroker{t: t, cfg: *cfg}
	b.start()
	t.Cleanup(b.close)
	return b
}

// start starts the gateway on b.cfg, recording the ports it got so that
// a restart reuses them.
func (b *testBroker) start() {
	b.t.Helper()
	cfg := b.cfg
	gw, err := gateway.New(&cfg, gateway.WithLogger(testLogger(b.t, zerolog.WarnLevel).With().Str("node", cfg.Node.ID).Logger()))
	if err != nil {
		b.t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := gw.Start(ctx); err != nil {
		b.t.Fatalf("gateway.Start: %v", err)
	}
	b.gw = gw
	b.stomp, b.amqp = gw.STOMPAddr().String(), gw.AMQPAddr().String()
	b.cfg.STOMP.Listen, b.cfg.AMQP.Listen = b.stomp, b.amqp
}

// close closes the gateway, if running.
func (b *testBroker) close() {
	if b.gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := b.gw.Close(ctx); err != nil {
		b.t.Errorf("gateway.Close: %v", err)
	}
	b.gw = nil
}

// restart starts the broker again on the same ports and data directory.
func (b *testBroker) restart() {
	b.t.Helper()
	b.close()
	b.start()
}

// addr returns the listener of protocol p.
func (b *testBroker) addr(p Protocol) string {
	if p == AMQP {
		return b.amqp
	}
	return b.stomp
}

// uri returns the broker's URI in protocol p.
func (b *testBroker) uri(p Protocol) string { return string(p) + "://" + b.addr(p) }

// depth returns the ready and in-flight counts of the queue name.
func (b *testBroker) depth(name string) (int, int) {
	return b.gw.Broker().QueueDepth(backend.Destination{Kind: backend.Queue, Name: name})
}

// durableConsumers returns the consumers of the durable subscription name
// of client, or -1 if the broker does not hold it.
func (b *testBroker) durableConsumers(client, name string) int {
	for _, s := range b.gw.Broker().Stats() {
		if s.Name == "sub://"+client+":"+name {
			return s.Consumers
		}
	}
	return -1
}

// proxyMode is what a proxy does with connections.
type proxyMode int32

const (
	forward proxyMode = iota // pass bytes both ways
	reject                   // accept and close at once, counting
)

// proxy is a TCP proxy in front of a broker that injects faults: it can
// kill its connections, refuse new ones (accepting and closing them, so
// that every connection attempt is counted), and drop what clients send
// while still relaying what the broker sends.
type proxy struct {
	t        testing.TB
	ln       net.Listener
	target   string
	mode     atomic.Int32
	drop     atomic.Bool  // discard client-to-broker bytes
	mute     atomic.Bool  // discard broker-to-client bytes
	rejected atomic.Int64 // connections accepted and closed in reject mode
	accepted atomic.Int64 // connections forwarded

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu
	wg    sync.WaitGroup
}

// startProxy starts a proxy to target, closed when the test ends.
func startProxy(t testing.TB, target string, mode proxyMode) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.mode.Store(int32(mode))
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// addr returns the proxy's address.
func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if proxyMode(p.mode.Load()) == reject {
			p.rejected.Add(1)
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c, true)
		go p.pipe(c, up, false)
	}
}

// pipe copies src to dst until either fails, then closes both.
func (p *proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !(fromClient && p.drop.Load()) && !(!fromClient && p.mute.Load()) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	p.mu.Lock()
	delete(p.conns, src)
	delete(p.conns, dst)
	p.mu.Unlock()
}

// kill closes every connection through the proxy.
func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// setMode sets what the proxy does with new connections.
func (p *proxy) setMode(m proxyMode) { p.mode.Store(int32(m)) }

func (p *proxy) close() {
	p.ln.Close()
	p.kill()
	p.wg.Wait()
}

// eventLog collects a Conn's failover events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// dialTest dials uri with opts (logging to t, events into the returned
// log) and closes the Conn when the test ends.
func dialTest(t testing.TB, uri string, opts Options) (*Conn, *eventLog) {
	t.Helper()
	log := &eventLog{}
	user := opts.OnFailover
	opts.OnFailover = func(e Event) {
		log.add(e)
		if user != nil {
			user(e)
		}
	}
	opts.Logger = testLogger(t, zerolog.InfoLevel)
	c, err := Dial(testCtx(t), uri, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, log
}

// fastURI is a failover URI over addrs in protocol p with quick,
// deterministic reconnection, plus extra options.
func fastURI(p Protocol, extra string, addrs ...string) string {
	ms := make([]string, len(addrs))
	for i, a := range addrs {
		ms[i] = string(p) + "://" + a
	}
	u := "failover:(" + strings.Join(ms, ",") + ")?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50"
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// protocols runs f as a subtest for each protocol.
func protocols(t *testing.T, f func(t *testing.T, p Protocol)) {
	for _, p := range []Protocol{STOMP, AMQP} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			f(t, p)
		})
	}
}
