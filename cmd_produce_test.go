package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/cluster/failover"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
)

// parseProduce parses args into fresh produce options and validates them.
func parseProduce(t *testing.T, args ...string) (*produceOptions, error) {
	t.Helper()
	o := &produceOptions{}
	cmd := newProduceCommand(o)
	if err := cmd.ParseFlags(args); err != nil {
		return o, err
	}
	return o, o.validate(cmd)
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if substr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error = %v, want one containing %q", err, substr)
	}
}

func TestProduceFlags(t *testing.T) {
	o, err := parseProduce(t)
	wantErr(t, err, "")
	if o.destination != "/queue/test" || o.count != 1 || o.receipt || o.target.Addr != "127.0.0.1:61613" || o.target.Host != "/" {
		t.Fatalf("defaults: %+v", o)
	}

	o, err = parseProduce(t, "--persistent")
	wantErr(t, err, "")
	if !o.receipt {
		t.Fatal("--persistent must imply --receipt")
	}
	o, err = parseProduce(t, "--persistent", "--receipt=false")
	wantErr(t, err, "")
	if o.receipt {
		t.Fatal("an explicit --receipt=false must win over --persistent")
	}

	o, err = parseProduce(t, "--header", "a=1", "--header", "b=x=y", "-d", "/topic/t", "--url", "tcp://h:2")
	wantErr(t, err, "")
	if len(o.headerPairs) != 2 || o.headerPairs[1] != [2]string{"b", "x=y"} || o.target.Addr != "h:2" {
		t.Fatalf("headers %v target %+v", o.headerPairs, o.target)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--count", "0"}, "--count"},
		{[]string{"--size", "-1"}, "--size"},
		{[]string{"--stdin", "--body", "x"}, "--body and --stdin"},
		{[]string{"--stdin", "-n", "3"}, "--count and --stdin"},
		{[]string{"--size", "10", "--body", "x"}, "--size"},
		{[]string{"--header", "novalue"}, "key=value"},
		{[]string{"--header", "=v"}, "empty key"},
		{[]string{"--header", "destination=/queue/x"}, "set by mqgate"},
		{[]string{"--header", "Content-Length=3"}, "set by mqgate"},
		{[]string{"-d", "queue/x"}, "--destination"},
		{[]string{"-d", ""}, "--destination"},
		{[]string{"--url", "amqps://h:5671"}, `"amqps"`},
		{[]string{"--url", "failover:(tcp://a:1)?timeout=soon"}, `timeout: invalid value "soon"`},
		{[]string{"--url", "failover:(tcp://a:1)?trackMessages=true"}, `unknown failover option "trackMessages"`},
		{[]string{"--url", "failover:(tcp://a:1,amqp://b:2)"}, "mixes stomp and amqp"},
		{[]string{"--url", "failover:(ssl://a:1)"}, `"ssl"`},
	} {
		_, err := parseProduce(t, tc.args...)
		wantErr(t, err, tc.err)
	}
}

// TestProduceFailoverFlags: a failover: or amqp:// --url selects the
// failover client; a plain STOMP URL keeps the go-stomp path.
func TestProduceFailoverFlags(t *testing.T) {
	o, err := parseProduce(t, "--url", "failover:(tcp://a:1,tcp://b:2)?randomize=false&maxReconnectAttempts=3")
	wantErr(t, err, "")
	if o.failover == nil || o.failover.Protocol != failover.STOMP || len(o.failover.Brokers) != 2 ||
		o.failover.Config.Randomize || o.failover.Config.MaxReconnectAttempts != 3 || o.hostSet {
		t.Fatalf("failover URI %+v", o.failover)
	}
	o, err = parseProduce(t, "--url", "amqp://u:p@h", "--host", "vh")
	wantErr(t, err, "")
	if o.failover == nil || o.failover.Protocol != failover.AMQP || o.failover.Failover || !o.hostSet ||
		o.failover.Brokers[0] != (failover.Broker{Protocol: failover.AMQP, Addr: "h:5672", Login: "u", Passcode: "p"}) {
		t.Fatalf("amqp URI %+v", o.failover)
	}
	opts := o.conn.failoverOptions(o.failover, o.hostSet, io.Discard)
	if opts.Host != "vh" || opts.OnFailover == nil {
		t.Fatalf("options %+v", opts)
	}
	o, err = parseProduce(t, "--url", "failover:(amqp://h)")
	wantErr(t, err, "")
	if opts := o.conn.failoverOptions(o.failover, o.hostSet, io.Discard); opts.Host != "" {
		t.Fatalf("AMQP without --host got host %q", opts.Host)
	}
	o, err = parseProduce(t, "--url", "tcp://h:1")
	wantErr(t, err, "")
	if o.failover != nil || o.target.Addr != "h:1" {
		t.Fatalf("plain URL: failover %+v target %+v", o.failover, o.target)
	}
}

// TestFailoverLogLine: one line per event, naming both brokers, or the
// reason for giving up.
func TestFailoverLogLine(t *testing.T) {
	var b strings.Builder
	log := failoverLogLine(&b)
	log(failover.Event{From: "stomp://a:1", To: "stomp://b:2", Err: errors.New("EOF"), Took: 1500 * time.Millisecond, Resent: 3})
	log(failover.Event{From: "stomp://b:2", Err: errors.New("no broker"), Took: time.Second})
	want := "failover: stomp://a:1 -> stomp://b:2 in 1.5s (EOF); resubscribed 0, resent 3\n" +
		"failover: lost stomp://b:2; giving up after 1s: no broker\n"
	if b.String() != want {
		t.Fatalf("log lines:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestProduceFailover: produce --stdin through a failover URL of two
// brokers; the first is closed after the first lines are stored; the rest
// go to the second, and standard error names the failover.
func TestProduceFailover(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			a, b := startCLIBroker(t), startCLIBroker(t)
			aAddr, bAddr := cliBrokerAddr(a, proto), cliBrokerAddr(b, proto)
			url := fmt.Sprintf("failover:(%s://%s,%s://%s)?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50",
				proto, aAddr, proto, bAddr)
			o, err := parseProduce(t, "--url", url, "-d", "/queue/cli.produce", "--stdin", "--persistent")
			wantErr(t, err, "")
			in, feed := io.Pipe()
			stderr := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- o.run(context.Background(), in, stderr) }()
			for i := 1; i <= 10; i++ {
				fmt.Fprintf(feed, "line %d\n", i)
			}
			waitFor(t, func() bool { r, _ := queueDepth(a, "cli.produce"); return r == 10 }, "10 messages on the first broker")
			closeCLIBroker(t, a)
			for i := 11; i <= 20; i++ {
				fmt.Fprintf(feed, "line %d\n", i)
			}
			feed.Close()
			select {
			case err := <-done:
				wantErr(t, err, "")
			case <-time.After(30 * time.Second):
				t.Fatal("produce did not finish")
			}
			out := stderr.String()
			for _, want := range []string{
				"connected to " + proto + "://" + aAddr,
				"failover: " + proto + "://" + aAddr + " -> " + proto + "://" + bAddr,
				"sent 20 messages to /queue/cli.produce",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("stderr lacks %q:\n%s", want, out)
				}
			}
			// Lines 11-20, and again any of 1-10 whose confirmation the
			// first broker had not sent when it closed (at least once).
			if r, _ := queueDepth(b, "cli.produce"); r < 10 || r > 20 {
				t.Fatalf("the second broker holds %d messages, want 10 to 20", r)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCLIBroker starts an embedded in-memory broker with STOMP and AMQP
// on loopback ports, closed when the test ends.
func startCLIBroker(t *testing.T) *gateway.Gateway {
	t.Helper()
	cfg := config.Default()
	cfg.Node.ID = fmt.Sprintf("cli-test-%d", cliNodeSeq.Add(1))
	cfg.Node.DataDir = t.TempDir()
	cfg.STOMP.Listen, cfg.AMQP.Listen, cfg.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Store.Type = config.StoreMemory
	g, err := gateway.New(cfg, gateway.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatalf("gateway.Start: %v", err)
	}
	t.Cleanup(func() { closeCLIBroker(t, g) })
	return g
}

var cliNodeSeq atomic.Int64

// closeCLIBroker closes g (again: Close is idempotent).
func closeCLIBroker(t *testing.T, g *gateway.Gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Errorf("gateway.Close: %v", err)
	}
}

// cliBrokerAddr returns g's listener for proto.
func cliBrokerAddr(g *gateway.Gateway, proto string) string {
	if proto == "amqp" {
		return g.AMQPAddr().String()
	}
	return g.STOMPAddr().String()
}

// queueDepth returns the ready and in-flight messages of queue name.
func queueDepth(g *gateway.Gateway, name string) (int, int) {
	return g.Broker().QueueDepth(backend.Destination{Kind: backend.Queue, Name: name})
}

// waitFor polls cond every 10ms for up to 30s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGeneratedBody(t *testing.T) {
	if got := string(generatedBody(3, 10, 0)); got != "message 3 of 10" {
		t.Fatalf("got %q", got)
	}
	if got := string(generatedBody(3, 10, 20)); got != "message 3 of 10....." {
		t.Fatalf("got %q", got)
	}
	if got := string(generatedBody(3, 10, 4)); got != "mess" {
		t.Fatalf("got %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := formatRate(29478.4); got != "29,478" {
		t.Errorf("formatRate = %q", got)
	}
}
