package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
)

// waitTimeout bounds every wait for something that should happen; it is
// generous because -race on a loaded machine is slow. Waits for something
// that should not happen use a barrier (a later frame that must arrive
// after it) instead wherever the protocol offers one.
const waitTimeout = 10 * time.Second

// testHeartbeatMin is stomp.heartbeat_min in every test broker.
const testHeartbeatMin = 100 * time.Millisecond

// broker is one embedded gateway serving STOMP on an ephemeral port.
type broker struct {
	gw     *gateway.Gateway
	cfg    *config.Config
	addr   string // STOMP host:port
	admin  string // admin HTTP host:port
	closed atomic.Bool
}

// testConfig returns the configuration of a test broker: loopback,
// ephemeral ports, memory store, no AMQP, short heart-beat minimum.
func testConfig() *config.Config {
	cfg := config.Default()
	cfg.Node.ID = "e2e"
	cfg.STOMP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.AMQP.Listen = ""
	cfg.Store.Type = config.StoreMemory
	cfg.STOMP.HeartbeatMin = testHeartbeatMin
	cfg.Log.Level = config.LevelDebug
	return cfg
}

// startBroker starts a gateway with testConfig changed by mutate, and
// closes it when the test ends. Its log goes to t.Log when the test fails
// or with -v.
func startBroker(t testing.TB, mutate ...func(*config.Config)) *broker {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(cfg)
	}
	lw := &testLogWriter{t: t}
	gw, err := gateway.New(cfg, gateway.WithLogger(zerolog.New(lw).Level(zerolog.DebugLevel).With().Timestamp().Logger()))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := gw.Start(ctx); err != nil {
		t.Fatalf("gateway.Start: %v", err)
	}
	b := &broker{gw: gw, cfg: cfg, addr: gw.STOMPAddr().String()}
	if a := gw.AdminAddr(); a != nil {
		b.admin = a.String()
	}
	t.Cleanup(func() {
		b.close(t)
		lw.stop()
	})
	return b
}

// close closes the gateway once, failing t if Close fails or hangs.
func (b *broker) close(t testing.TB) {
	t.Helper()
	if b.closed.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := b.gw.Close(ctx); err != nil {
		t.Errorf("gateway.Close: %v", err)
	}
}

// depth returns the ready and in-flight counts of /queue/name.
func (b *broker) depth(name string) (ready, inflight int) {
	return b.gw.Broker().QueueDepth(backend.Destination{Kind: backend.Queue, Name: name})
}

// waitDepth waits until /queue/name holds ready and inflight messages.
func (b *broker) waitDepth(t testing.TB, name string, ready, inflight int) {
	t.Helper()
	eventually(t, waitTimeout, func() bool {
		r, i := b.depth(name)
		return r == ready && i == inflight
	}, func() string {
		r, i := b.depth(name)
		return fmt.Sprintf("/queue/%s: ready %d inflight %d, want %d and %d", name, r, i, ready, inflight)
	})
}

// testLogWriter sends the gateway's log lines to t.Log until stop.
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

// eventually polls cond every 10ms until it holds, failing t after
// timeout with what describe (optional) says.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, describe ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(describe) > 0 {
				msg = describe[0]()
			}
			t.Fatalf("after %v: %s", timeout, msg)
		}
		<-tick.C
	}
}

// waitTick pauses one polling interval.
func waitTick() { time.Sleep(10 * time.Millisecond) }

// quietLogger silences go-stomp's client logging.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{})   {}
func (quietLogger) Debug(string)                    {}
func (quietLogger) Infof(string, ...interface{})    {}
func (quietLogger) Info(string)                     {}
func (quietLogger) Warningf(string, ...interface{}) {}
func (quietLogger) Warning(string)                  {}
func (quietLogger) Errorf(string, ...interface{})   {}
func (quietLogger) Error(string)                    {}

// dial connects a go-stomp client (default options: it offers every
// version and 60 s heart-beats each way, as its users get) and closes it
// when the test ends.
func (b *broker) dial(t testing.TB, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	c, err := b.tryDial(opts...)
	if err != nil {
		t.Fatalf("stomp.Dial %s: %v", b.addr, err)
	}
	t.Cleanup(func() { _ = c.MustDisconnect() })
	return c
}

func (b *broker) tryDial(opts ...func(*stomp.Conn) error) (*stomp.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	all := append([]func(*stomp.Conn) error{stomp.ConnOpt.Logger(quietLogger{}),
		stomp.ConnOpt.UnsubscribeReceiptTimeout(unsubscribeWait)}, opts...)
	return stomp.DialWithContext(ctx, "tcp", b.addr, all...)
}

// unsubscribeWait bounds go-stomp's wait for the RECEIPT of UNSUBSCRIBE
// (see unsubscribe).
const unsubscribeWait = 2 * time.Second

// unsubscribe sends UNSUBSCRIBE for s. go-stomp v3.1.3 waits for the
// RECEIPT on a sync.Cond that it waits on from a second goroutine, so a
// RECEIPT that comes back fast can be missed (a client bug, seen under
// load): a receipt timeout is tolerated here, because the broker handles a
// connection's frames in order and the test's next frames show the effect.
func unsubscribe(t testing.TB, s *stomp.Subscription, opts ...func(*frame.Frame) error) {
	t.Helper()
	if err := s.Unsubscribe(opts...); err != nil && !errors.Is(err, &stomp.ErrUnsubscribeReceiptTimeout) {
		t.Fatalf("UNSUBSCRIBE: %v", err)
	}
}

// subscribe subscribes c and waits (with a barrier) until the broker has
// the subscription, so messages published afterwards from any connection
// reach it. The destination must not hold more than a dozen messages:
// go-stomp stops reading the connection (receipts too) while 16 messages
// wait unread on a subscription.
func subscribe(t testing.TB, c *stomp.Conn, dest string, ack stomp.AckMode, opts ...func(*frame.Frame) error) *stomp.Subscription {
	t.Helper()
	s, err := c.Subscribe(dest, ack, opts...)
	if err != nil {
		t.Fatalf("SUBSCRIBE %s: %v", dest, err)
	}
	barrier(t, c)
	return s
}

// barrier returns once the broker has handled every frame c sent before
// it: it sends a SEND with a receipt to a queue nobody reads (frames of
// one connection are handled in order). go-stomp's receipt wait for
// SEND is bounded by RcvReceiptTimeout (30 s); its waits for the
// receipts of other frames are bounded by the server's heart-beat
// interval, far too short to rely on, so tests use this instead.
func barrier(t testing.TB, c *stomp.Conn) {
	t.Helper()
	if err := c.Send("/queue/e2e.barrier", "", nil, stomp.SendOpt.Receipt); err != nil {
		t.Fatalf("barrier SEND with receipt: %v", err)
	}
}

// backlogAck is the ack mode of test subscriptions made to a queue that
// already holds messages, when the test is not about ack modes: ack:auto
// there crashes the broker (TestQueueAutoAckSubscribeToBacklog), so they
// use client-individual and ack what they receive, or recvBodies does.
const backlogAck = stomp.AckClientIndividual

// send publishes body to dest and waits for the broker's receipt.
func send(t testing.TB, c *stomp.Conn, dest, body string, opts ...func(*frame.Frame) error) {
	t.Helper()
	opts = append(opts, stomp.SendOpt.Receipt)
	if err := c.Send(dest, "text/plain", []byte(body), opts...); err != nil {
		t.Fatalf("SEND %s %q: %v", dest, body, err)
	}
}

// recv returns the next message of s, failing t on timeout, error or
// closed subscription.
func recv(t testing.TB, s *stomp.Subscription) *stomp.Message {
	t.Helper()
	select {
	case m, ok := <-s.C:
		if !ok {
			t.Fatalf("subscription %s on %s closed", s.Id(), s.Destination())
		}
		if m.Err != nil {
			t.Fatalf("subscription %s on %s: %v", s.Id(), s.Destination(), m.Err)
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message on %s (subscription %s) within %v", s.Destination(), s.Id(), waitTimeout)
	}
	return nil
}

// recvBodies receives n messages from s, acks them if s needs acks, and
// returns their bodies.
func recvBodies(t testing.TB, s *stomp.Subscription, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		m := recv(t, s)
		if m.ShouldAck() {
			ack(t, m)
		}
		out = append(out, string(m.Body))
	}
	return out
}

// expectBody receives the next message of s and checks its body.
func expectBody(t testing.TB, s *stomp.Subscription, want string) *stomp.Message {
	t.Helper()
	m := recv(t, s)
	if got := string(m.Body); got != want {
		t.Fatalf("%s: got body %q, want %q (headers %s)", s.Destination(), got, want, dumpHeader(m.Header))
	}
	return m
}

// ack acknowledges m, failing t on error.
func ack(t testing.TB, m *stomp.Message) {
	t.Helper()
	if err := m.Conn.Ack(m); err != nil {
		t.Fatalf("ACK: %v", err)
	}
}

// dumpHeader renders h for failure messages.
func dumpHeader(h *frame.Header) string {
	if h == nil {
		return "{}"
	}
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range h.Len() {
		k, v := h.GetAt(i)
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s=%q", k, v)
	}
	sb.WriteByte('}')
	return sb.String()
}

// uniq returns a destination-safe name unique in this test process.
func uniq(prefix string) string {
	return fmt.Sprintf("%s.%d", prefix, nameSeq.Add(1))
}

var nameSeq atomic.Uint64

// itoa formats i in decimal.
func itoa(i int) string { return fmt.Sprint(i) }
