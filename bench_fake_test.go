package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBroker is a minimal in-process STOMP 1.2 broker for testing bench's
// clients and coordinator without a real broker: queues dispatch round-robin
// to their subscribers, topics to all; no prefetch, no persistence. Faults
// are injected with drop and dup (called with the broker's message number).
type fakeBroker struct {
	ln   net.Listener
	drop func(n int64) bool
	dup  func(n int64) bool

	mu   sync.Mutex // guards subs and rr
	subs map[string][]*fakeSub
	rr   map[string]int

	msgs atomic.Int64
	acks atomic.Int64
	wg   sync.WaitGroup
}

type fakeSub struct {
	id string
	c  *fakeConn
}

type fakeConn struct {
	nc   net.Conn
	out  chan []byte // frames for the writer goroutine
	done chan struct{}
}

func newFakeBroker(t testing.TB) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{ln: ln, subs: map[string][]*fakeSub{}, rr: map[string]int{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *fakeBroker) target() stompTarget {
	return stompTarget{Addr: b.ln.Addr().String(), Host: "/"}
}

func (b *fakeBroker) accept() {
	defer b.wg.Done()
	var conns sync.WaitGroup
	var open []net.Conn
	var mu sync.Mutex
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			mu.Lock()
			for _, c := range open {
				c.Close()
			}
			mu.Unlock()
			conns.Wait()
			return
		}
		mu.Lock()
		open = append(open, nc)
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			b.serve(nc)
		}()
	}
}

// readFakeFrame reads a frame: command, raw header lines, body.
func readFakeFrame(r *bufio.Reader) (cmd string, hdrs []string, body []byte, err error) {
	for cmd == "" {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", nil, nil, err
		}
		cmd = strings.TrimRight(l, "\r\n")
	}
	cl := -1
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", nil, nil, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		hdrs = append(hdrs, l)
		if v, ok := strings.CutPrefix(l, "content-length:"); ok && cl < 0 {
			cl, _ = strconv.Atoi(v)
		}
	}
	if cl >= 0 {
		body = make([]byte, cl+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return "", nil, nil, err
		}
		return cmd, hdrs, body[:cl], nil
	}
	body, err = r.ReadBytes(0)
	if err != nil {
		return "", nil, nil, err
	}
	return cmd, hdrs, body[:len(body)-1], nil
}

func header(hdrs []string, k string) string {
	for _, h := range hdrs {
		if v, ok := strings.CutPrefix(h, k+":"); ok {
			return v
		}
	}
	return ""
}

func (b *fakeBroker) serve(nc net.Conn) {
	c := &fakeConn{nc: nc, out: make(chan []byte, 4096), done: make(chan struct{})}
	go c.writeLoop()
	defer func() {
		b.mu.Lock()
		for d, subs := range b.subs {
			b.subs[d] = slicesDeleteFunc(subs, func(s *fakeSub) bool { return s.c == c })
		}
		b.mu.Unlock()
		close(c.out)
		<-c.done
		nc.Close()
	}()
	r := bufio.NewReaderSize(nc, 64*1024)
	receipt := func(hdrs []string) {
		if id := header(hdrs, "receipt"); id != "" {
			c.out <- []byte("RECEIPT\nreceipt-id:" + id + "\n\n\x00")
		}
	}
	for {
		cmd, hdrs, body, err := readFakeFrame(r)
		if err != nil {
			return
		}
		switch cmd {
		case "CONNECT", "STOMP":
			c.out <- []byte("CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:fake\n\n\x00\n")
		case "SUBSCRIBE":
			d := header(hdrs, "destination")
			b.mu.Lock()
			b.subs[d] = append(b.subs[d], &fakeSub{id: header(hdrs, "id"), c: c})
			b.mu.Unlock()
			receipt(hdrs)
		case "SEND":
			b.deliver(header(hdrs, "destination"), hdrs, body)
			receipt(hdrs)
		case "ACK", "NACK":
			b.acks.Add(1)
		case "DISCONNECT":
			receipt(hdrs)
			return
		default:
			c.out <- []byte("ERROR\nmessage:unknown command\n\n\x00")
			return
		}
	}
}

func (b *fakeBroker) deliver(dest string, hdrs []string, body []byte) {
	n := b.msgs.Add(1)
	if b.drop != nil && b.drop(n) {
		return
	}
	b.mu.Lock()
	subs := b.subs[dest]
	var targets []*fakeSub
	if strings.HasPrefix(dest, "/topic/") {
		targets = append(targets, subs...)
	} else if len(subs) > 0 {
		i := b.rr[dest] % len(subs)
		b.rr[dest]++
		targets = append(targets, subs[i])
	}
	b.mu.Unlock()
	for _, s := range targets {
		var m bytes.Buffer
		fmt.Fprintf(&m, "MESSAGE\nsubscription:%s\nmessage-id:m%d\nack:a%d\n", s.id, n, n)
		for _, h := range hdrs {
			if !strings.HasPrefix(h, "receipt:") {
				m.WriteString(h)
				m.WriteByte('\n')
			}
		}
		m.WriteByte('\n')
		m.Write(body)
		m.WriteString("\x00\n")
		s.c.out <- m.Bytes()
		if b.dup != nil && b.dup(n) {
			s.c.out <- m.Bytes()
		}
	}
}

// writeLoop flushes when its queue drains.
func (c *fakeConn) writeLoop() {
	defer close(c.done)
	w := bufio.NewWriterSize(c.nc, 64*1024)
	broken := false
	for f := range c.out {
		if broken {
			continue
		}
		if _, err := w.Write(f); err != nil {
			broken = true
			continue
		}
		if len(c.out) == 0 && w.Flush() != nil {
			broken = true
		}
	}
	w.Flush()
}

func slicesDeleteFunc(s []*fakeSub, del func(*fakeSub) bool) []*fakeSub {
	out := s[:0]
	for _, x := range s {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}

func baseBenchConfig(b *fakeBroker) benchConfig {
	return benchConfig{
		target: b.target(), url: "stomp://" + b.target().Addr,
		producers: 1, consumers: 1, messages: 1000, size: 100,
		ack: "client-individual", prefetch: 1000, idleTimeout: 5 * time.Second, client: "lean",
	}
}

func TestRunBenchFakeBroker(t *testing.T) {
	b := newFakeBroker(t)
	for _, tc := range []struct {
		name string
		mod  func(*benchConfig)
	}{
		{"queue 1/1", func(*benchConfig) {}},
		{"queue 3/2 receipts", func(c *benchConfig) {
			c.producers, c.consumers, c.messages, c.persistent, c.receiptEvery = 3, 2, 3001, true, 10
		}},
		{"queue client ack", func(c *benchConfig) { c.ack, c.prefetch = "client", 10 }},
		{"queue auto ack", func(c *benchConfig) { c.ack = "auto" }},
		{"topic 1->3", func(c *benchConfig) { c.topic, c.consumers = true, 3 }},
		{"rate and duration", func(c *benchConfig) {
			c.messages, c.duration, c.warmup, c.rate, c.producers = 0, 300*time.Millisecond, 100*time.Millisecond, 2000, 2
		}},
		{"go-stomp", func(c *benchConfig) { c.client, c.producers, c.consumers = "go-stomp", 2, 2 }},
		{"go-stomp topic", func(c *benchConfig) { c.client, c.topic, c.consumers = "go-stomp", true, 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseBenchConfig(b)
			tc.mod(&cfg)
			res, err := runBench(context.Background(), cfg)
			if err != nil {
				t.Fatalf("runBench: %v (result %+v)", err, res)
			}
			if !res.OK || res.Check.Lost != 0 || res.Check.Duplicates != 0 || res.Check.Unexpected != 0 {
				t.Fatalf("check: %+v", res.Check)
			}
			wantSent := cfg.messages
			if cfg.duration > 0 {
				// 2000 msgs/s for 0.3 s, give or take scheduling.
				if res.Sent < 300 || res.Sent > 900 || res.WarmupSent < 100 {
					t.Fatalf("rate mode sent %d (+%d warm-up)", res.Sent, res.WarmupSent)
				}
				wantSent = res.Sent
			} else if res.Sent != cfg.messages {
				t.Fatalf("sent %d, want %d", res.Sent, cfg.messages)
			}
			wantDeliveries := wantSent
			if cfg.topic {
				wantDeliveries *= int64(cfg.consumers)
			}
			if res.Deliveries != wantDeliveries {
				t.Fatalf("deliveries %d, want %d", res.Deliveries, wantDeliveries)
			}
			if res.Latency.Samples != uint64(wantDeliveries) || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
				t.Fatalf("latency %+v", res.Latency)
			}
			if res.SendRate <= 0 || res.ReceiveRate <= 0 {
				t.Fatalf("rates %v %v", res.SendRate, res.ReceiveRate)
			}
		})
	}
}

func TestRunBenchDetectsLoss(t *testing.T) {
	b := newFakeBroker(t)
	b.drop = func(n int64) bool { return n == 500 }
	cfg := baseBenchConfig(b)
	cfg.idleTimeout = 300 * time.Millisecond
	res, err := runBench(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "lost") && !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("runBench error = %v, want a loss", err)
	}
	if res == nil || res.OK || res.Check.Lost != 1 || res.Check.Expected != 1000 {
		t.Fatalf("result %+v", res)
	}
}

func TestRunBenchReportsDuplicates(t *testing.T) {
	b := newFakeBroker(t)
	b.dup = func(n int64) bool { return n%100 == 0 }
	cfg := baseBenchConfig(b)
	res, err := runBench(context.Background(), cfg)
	if err != nil {
		t.Fatalf("duplicates alone are reported, not fatal: %v", err)
	}
	if res.Check.Duplicates != 10 || res.Check.Lost != 0 || res.Check.Delivered != 1010 {
		t.Fatalf("check %+v", res.Check)
	}
	var out bytes.Buffer
	printBenchResult(&out, res)
	if !strings.Contains(out.String(), "10 duplicates") {
		t.Fatalf("report does not mention the duplicates:\n%s", out.String())
	}
}

func TestRunBenchBrokerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := benchConfig{target: stompTarget{Addr: addr, Host: "/"}, producers: 1, consumers: 1, messages: 1,
		ack: "auto", idleTimeout: time.Second, client: "lean"}
	_, err = runBench(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "connect to") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunBenchInterrupted(t *testing.T) {
	b := newFakeBroker(t)
	cfg := baseBenchConfig(b)
	cfg.messages, cfg.duration, cfg.rate = 0, time.Hour, 1000
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := runBench(ctx, cfg)
	if !errors.Is(err, errInterrupted) && (err == nil || !strings.Contains(err.Error(), "interrupted")) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second || res == nil {
		t.Fatalf("interrupt took %s, result %v", time.Since(start), res)
	}
}

// BenchmarkClientFakeBroker measures the bench clients end to end through
// the in-process fake broker (which is itself the bottleneck: the figure is
// a lower bound of what each client can drive).
func BenchmarkClientFakeBroker(b *testing.B) {
	for _, client := range []string{"lean", "go-stomp"} {
		b.Run(client, func(b *testing.B) {
			fb := newFakeBroker(b)
			cfg := baseBenchConfig(fb)
			cfg.client, cfg.size, cfg.messages = client, 1024, int64(max(b.N, 1000))
			b.ResetTimer()
			res, err := runBench(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.ReceiveRate, "msgs/s")
		})
	}
}
