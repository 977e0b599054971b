package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// startAMQPGatewayWith starts an embedded in-memory broker with AMQP
// enabled, after mod adjusts its configuration, and returns its AMQP
// address.
func startAMQPGatewayWith(tb testing.TB, mod func(*config.Config)) string {
	tb.Helper()
	return startGatewayWith(tb, mod).AMQPAddr().String()
}

// startGatewayWith starts an embedded in-memory broker with STOMP and AMQP
// on ephemeral loopback ports, after mod adjusts its configuration.
func startGatewayWith(tb testing.TB, mod func(*config.Config)) *gateway.Gateway {
	tb.Helper()
	cfg := config.Default()
	cfg.STOMP.Listen = "127.0.0.1:0"
	cfg.AMQP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = ""
	cfg.Store.Type = "memory"
	if mod != nil {
		mod(cfg)
	}
	g, err := gateway.New(cfg, gateway.WithLogger(zerolog.Nop()))
	if err != nil {
		tb.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		tb.Fatalf("gateway.Start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			tb.Errorf("gateway.Close: %v", err)
		}
	})
	return g
}

func leanAMQPConfig(addr string) benchConfig {
	return benchConfig{
		target: stompTarget{Addr: addr}, url: "amqp://" + addr, protocol: "amqp", client: benchAMQPLeanClient,
		producers: 1, consumers: 1, messages: 1000, size: 100,
		ack: "client-individual", prefetch: 100, idleTimeout: 10 * time.Second,
	}
}

func TestRunBenchAMQPLean(t *testing.T) {
	addr := startAMQPGatewayWith(t, nil)
	for _, tc := range []struct {
		name string
		mod  func(*benchConfig)
	}{
		{"queue 1/1", func(*benchConfig) {}},
		{"queue 3/2", func(c *benchConfig) { c.producers, c.consumers, c.messages = 3, 2, 3001 }},
		{"queue 2/2 persistent", func(c *benchConfig) {
			c.producers, c.consumers, c.persistent, c.receiptEvery = 2, 2, true, 50
		}},
		{"window of one", func(c *benchConfig) { c.persistent, c.receiptEvery, c.messages = true, 1, 200 }},
		{"queue auto ack", func(c *benchConfig) { c.ack = "auto" }},
		{"credit of one", func(c *benchConfig) { c.prefetch, c.messages = 1, 300 }},
		{"empty bodies", func(c *benchConfig) { c.size = 0 }},
		{"multi-frame messages", func(c *benchConfig) { c.size, c.messages, c.receiptEvery = 300<<10, 40, 5 }},
		{"topic 1->2", func(c *benchConfig) { c.topic, c.consumers = true, 2 }},
		{"topic 1->2 persistent", func(c *benchConfig) {
			c.topic, c.consumers, c.persistent, c.receiptEvery = true, 2, true, 100
		}},
		{"rate and duration", func(c *benchConfig) {
			c.messages, c.duration, c.warmup, c.rate, c.producers = 0, 300*time.Millisecond, 100*time.Millisecond, 2000, 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := leanAMQPConfig(addr)
			tc.mod(&cfg)
			res, err := runBench(context.Background(), cfg)
			if err != nil {
				t.Fatalf("runBench: %v (result %+v)", err, res)
			}
			if !res.OK || res.Check.Lost != 0 || res.Check.Duplicates != 0 || res.Check.Unexpected != 0 || res.Check.OutOfOrder != 0 {
				t.Fatalf("check: %+v", res.Check)
			}
			wantSent := cfg.messages
			if cfg.duration > 0 {
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
			if res.Deliveries != wantDeliveries || res.Latency.Samples != uint64(wantDeliveries) {
				t.Fatalf("deliveries %d (latency samples %d), want %d", res.Deliveries, res.Latency.Samples, wantDeliveries)
			}
			if res.Client != benchAMQPLeanClient {
				t.Fatalf("client %q", res.Client)
			}
		})
	}
}

// TestAMQPLeanSenderRejected: a broker error on the link (here a message
// over the broker's max-message-size) fails the send with the broker's
// reason instead of hanging.
func TestAMQPLeanSenderRejected(t *testing.T) {
	addr := startAMQPGatewayWith(t, func(c *config.Config) { c.AMQP.MaxMessageSize = 4 << 10 })
	cfg := leanAMQPConfig(addr)
	cfg.size, cfg.persistent, cfg.receiptEvery = 8<<10, true, 10
	s, err := newAMQPLeanSender(context.Background(), cfg, "queue://rejected", make([]byte, cfg.size), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for seq := int64(0); seq < 100 && err == nil; seq++ {
		err = s.send(seq, 1, false)
	}
	if err == nil {
		err = s.finish()
	}
	if err == nil || !strings.Contains(err.Error(), "max-message-size") {
		t.Fatalf("err = %v, want the broker's message-size-exceeded detach", err)
	}
}

// TestAMQPLeanAttachRefused: a broker that refuses a link (an invalid
// address) is reported with its reason.
func TestAMQPLeanAttachRefused(t *testing.T) {
	addr := startAMQPGatewayWith(t, nil)
	cfg := leanAMQPConfig(addr)
	_, err := newAMQPLeanReceiver(context.Background(), cfg, "queue://", 0)
	var le *amqpLeanError
	if !errors.As(err, &le) || le.what != "detach" || le.err == nil || le.err.Condition != wire.CondInvalidField {
		t.Fatalf("err = %v, want a detach with amqp:invalid-field", err)
	}
}

// TestAMQPLeanHeartbeats: against a peer that announces an idle-time-out,
// an idle connection sends empty frames (AMQP 1.0 §2.4.5). The peer is a
// scripted fake that counts them.
func TestAMQPLeanHeartbeats(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	result := make(chan error, 1)
	go func() { result <- fakeIdlePeer(ln, 100*time.Millisecond, 3) }()
	c, err := dialAMQPLean(context.Background(), stompTarget{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if c.heartbeatEvery != 50*time.Millisecond {
		t.Fatalf("heart-beat interval %v, want half the peer's idle-time-out", c.heartbeatEvery)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heart-beats")
	}
}

// fakeIdlePeer accepts one connection on ln, runs the server side of SASL
// ANONYMOUS, open (announcing idle) and begin, then waits for want empty
// frames.
func fakeIdlePeer(ln net.Listener, idle time.Duration, want int) error {
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fr := wire.NewFrameReader(nc, 1<<16)
	send := func(p wire.Performative) error {
		b, err := wire.AppendPerformative(nil, 0, p)
		if err == nil {
			_, err = nc.Write(b)
		}
		return err
	}
	expect := func() (wire.Performative, error) {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		return wire.DecodeFrameBody(f)
	}
	if _, err := wire.ReadProtocolHeader(nc); err != nil {
		return err
	}
	nc.Write(wire.HeaderSASL.Append(nil))
	if err := send(&wire.SASLMechanisms{Mechanisms: []wire.Symbol{"ANONYMOUS"}}); err != nil {
		return err
	}
	if _, err := expect(); err != nil {
		return err
	}
	if err := send(&wire.SASLOutcome{Code: wire.SASLOK}); err != nil {
		return err
	}
	if _, err := wire.ReadProtocolHeader(nc); err != nil {
		return err
	}
	nc.Write(wire.HeaderAMQP.Append(nil))
	if _, err := expect(); err != nil {
		return err
	}
	if err := send(&wire.Open{ContainerID: "fake", MaxFrameSize: 1 << 16, ChannelMax: 0, IdleTimeOut: uint32(idle.Milliseconds())}); err != nil {
		return err
	}
	if _, err := expect(); err != nil {
		return err
	}
	zero := uint16(0)
	if err := send(&wire.Begin{RemoteChannel: &zero, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 0}); err != nil {
		return err
	}
	for n := 0; n < want; {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		if !f.Empty() {
			return errors.New("a frame other than a heart-beat from an idle client")
		}
		n++
	}
	return nil
}

func TestAMQPBenchTemplate(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		body := bytes.Repeat([]byte("x"), 1000)
		tm, err := newAMQPBenchTemplate(body, persistent, 3)
		if err != nil {
			t.Fatal(err)
		}
		tm.stamp(1234567, math.MaxInt64-1)
		m, err := wire.UnmarshalMessage(tm.b)
		if err != nil {
			t.Fatal(err)
		}
		if persistent != (m.Header != nil && m.Header.Durable) || len(m.Data) != 1 || !bytes.Equal(m.Data[0], body) {
			t.Fatalf("persistent %v: message %+v", persistent, m)
		}
		for k, want := range map[string]int64{amqpPropProducer: 3, amqpPropSeq: 1234567, amqpPropTS: math.MaxInt64 - 1} {
			if v, _ := m.ApplicationProperties.Get(k); v != want {
				t.Errorf("%s = %v, want %d", k, v, want)
			}
		}
		if p, seq, ts := amqpBenchFields(tm.b); p != 3 || seq != 1234567 || ts != math.MaxInt64-1 {
			t.Errorf("amqpBenchFields = %d %d %d", p, seq, ts)
		}
	}
}

func TestAMQPBenchFields(t *testing.T) {
	seqs := uint32(7)
	for _, tc := range []struct {
		name         string
		m            wire.Message
		p, seq, ts   int64
		wantAbsentTS bool
	}{
		{
			name: "a broker's message: annotations and properties first, narrow integers",
			m: wire.Message{
				Header:             &wire.Header{Durable: true, Priority: 4, DeliveryCount: 2},
				MessageAnnotations: wire.Map{{Key: wire.Symbol("x-opt-jms-dest"), Value: int8(0)}},
				Properties:         &wire.Properties{MessageID: "ID:x", To: "queue://q", GroupSequence: &seqs},
				ApplicationProperties: wire.Map{
					{Key: "other", Value: "v"}, {Key: amqpPropProducer, Value: int32(1)},
					{Key: amqpPropSeq, Value: uint32(99)}, {Key: amqpPropTS, Value: int64(1 << 40)},
				},
				Data: [][]byte{[]byte("body")},
			},
			p: 1, seq: 99, ts: 1 << 40,
		},
		{
			name: "missing and mistyped properties",
			m: wire.Message{
				ApplicationProperties: wire.Map{{Key: amqpPropProducer, Value: "1"}, {Key: amqpPropSeq, Value: int64(5)}},
				Value:                 "text",
			},
			p: -1, seq: 5, ts: -1,
		},
		{name: "no application-properties", m: wire.Message{Data: [][]byte{{1}}}, p: -1, seq: -1, ts: -1},
	} {
		b, err := tc.m.Marshal(nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p, seq, ts := amqpBenchFields(b); p != tc.p || seq != tc.seq || ts != tc.ts {
			t.Errorf("%s: got %d %d %d, want %d %d %d", tc.name, p, seq, ts, tc.p, tc.seq, tc.ts)
		}
	}
	if p, seq, ts := amqpBenchFields([]byte{0x00, 0x53}); p != -1 || seq != -1 || ts != -1 {
		t.Errorf("truncated input: %d %d %d", p, seq, ts)
	}
}

func TestAMQPBrokerAddress(t *testing.T) {
	mqgate := map[string]any{"queue-prefix": "queue://", "topic-prefix": "topic://"}
	for _, tc := range []struct {
		in    string
		props map[string]any
		want  string
	}{
		{"queue://bench.x", mqgate, "queue://bench.x"},
		{"topic://bench.y", mqgate, "topic://bench.y"},
		{"queue://bench.x", nil, "/queue/bench.x"},
		{"topic://bench.y", map[string]any{"product": "RabbitMQ"}, "/topic/bench.y"},
		{"queue://bench.x", map[string]any{"queue-prefix": "jms.queue."}, "jms.queue.bench.x"},
		{"other", nil, "other"},
	} {
		if got := amqpBrokerAddress(tc.in, tc.props); got != tc.want {
			t.Errorf("amqpBrokerAddress(%q, %v) = %q, want %q", tc.in, tc.props, got, tc.want)
		}
	}
}

// TestAMQPLeanReadFrame checks the in-place frame reader against hostile
// headers and a stream cut inside a frame.
func TestAMQPLeanReadFrame(t *testing.T) {
	frame := func(size uint32, doff byte) []byte {
		b := []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size), doff, 0, 0, 1}
		return append(b, make([]byte, max(int(size)-8, 0))...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
		eof  error
	}{
		{"heart-beat", frame(8, 2), true, nil},
		{"body", frame(20, 2), true, nil},
		{"size below the header", frame(7, 2), false, nil},
		{"size over our max-frame-size", frame(amqpLeanMaxFrame+1, 2), false, nil},
		{"data offset below 2", frame(16, 1), false, nil},
		{"data offset past the end", frame(16, 5), false, nil},
		{"cut inside the frame", frame(40, 2)[:30], false, io.ErrUnexpectedEOF},
		{"cut inside the header", []byte{0, 0, 0}, false, io.ErrUnexpectedEOF},
	} {
		a, b := net.Pipe()
		go func() { b.Write(tc.in); b.Close() }()
		c := &amqpLeanConn{nc: a, r: newAMQPLeanReader(a)}
		_, ch, body, err := c.readFrame()
		a.Close()
		switch {
		case tc.ok && (err != nil || ch != 1 || len(body) != len(tc.in)-8):
			t.Errorf("%s: channel %d, %d body bytes, err %v", tc.name, ch, len(body), err)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.eof != nil && !errors.Is(err, tc.eof):
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.eof)
		}
	}
}

// BenchmarkGatewayLean runs the lean clients against an in-process
// broker (memory store) over STOMP and over AMQP, 1 KiB messages, each
// delivery acknowledged, prefetch/credit 1000: the two front-ends side by
// side with the same core. `go test -run '^$' -bench GatewayLean
// -cpuprofile cpu.out .` profiles the front-ends and the clients together.
func BenchmarkGatewayLean(b *testing.B) {
	g := startGatewayWith(b, nil)
	for _, proto := range []string{"stomp", "amqp"} {
		for _, pc := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/%dx%d", proto, pc, pc), func(b *testing.B) {
				cfg := leanAMQPConfig(g.AMQPAddr().String())
				if proto == "stomp" {
					cfg.target, cfg.protocol, cfg.client = stompTarget{Addr: g.STOMPAddr().String(), Host: "/"}, "stomp", "lean"
				}
				cfg.size, cfg.prefetch, cfg.producers, cfg.consumers = 1024, 1000, pc, pc
				cfg.messages = int64(max(b.N, pc))
				b.SetBytes(1024)
				b.ResetTimer()
				res, err := runBench(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.ReceiveRate, "msgs/s")
			})
		}
	}
}

// BenchmarkAMQPLeanSend measures encoding and writing pre-settled 1 KiB
// transfers to a TCP peer that discards them: the producer-side ceiling of
// the lean AMQP client.
func BenchmarkAMQPLeanSend(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, nc)
		nc.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg, err := newAMQPBenchTemplate(make([]byte, 1024), false, 0)
	if err != nil {
		b.Fatal(err)
	}
	c := &amqpLeanConn{nc: nc, r: newAMQPLeanReader(nc), w: bufio.NewWriterSize(nc, amqpLeanWriteBuf), peerMaxFrame: 1 << 16}
	s := &amqpLeanSender{c: c, msg: msg, sendMax: amqpLeanWriteBuf, framesPerMsg: 1}
	s.creditLimit.Store(math.MaxUint32 / 2)
	s.sessLimit.Store(math.MaxUint32 / 2)
	b.SetBytes(int64(len(msg.b)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.send(int64(i), time.Now().UnixNano(), false); err != nil {
			b.Fatal(err)
		}
	}
	c.flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAMQPLeanReceive measures parsing and accepting transfers of
// 1 KiB messages as mqgate encodes them (header, annotations, properties,
// application-properties, data) from a TCP peer that writes them as fast
// as it can: the consumer-side ceiling of the lean AMQP client.
func BenchmarkAMQPLeanReceive(b *testing.B) {
	seq := uint32(3)
	payload, err := (&wire.Message{
		Header:             &wire.Header{Priority: 4, FirstAcquirer: true},
		MessageAnnotations: wire.Map{{Key: wire.Symbol("x-opt-jms-msg-type"), Value: int8(3)}, {Key: wire.Symbol("x-opt-jms-dest"), Value: int8(0)}},
		Properties:         &wire.Properties{MessageID: "ID:vm-mwvsx5jd-amqp-1:1:1:1:1", To: "queue://bench.20261125T080000.0123abcd", GroupSequence: &seq},
		ApplicationProperties: wire.Map{{Key: amqpPropProducer, Value: int64(0)}, {Key: amqpPropSeq, Value: int64(123456)},
			{Key: amqpPropTS, Value: int64(1795574946417000000)}},
		Data: [][]byte{bytes.Repeat([]byte("x"), 1024)},
	}).Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	n := b.N
	frameSize := 0
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		go io.Copy(io.Discard, nc) // dispositions and flows
		w := bufio.NewWriterSize(nc, 64<<10)
		var buf []byte
		format := uint32(0)
		for i := 0; i < n; i++ {
			id := uint32(i)
			buf, _ = wire.AppendPerformative(buf[:0], 0, &wire.Transfer{Handle: 0, DeliveryID: &id,
				DeliveryTag: []byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}, MessageFormat: &format, Payload: payload})
			w.Write(buf)
		}
		w.Flush()
		io.Copy(io.Discard, nc) // until the consumer closes
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &amqpLeanConn{nc: nc, r: newAMQPLeanReader(nc), w: bufio.NewWriterSize(nc, amqpLeanWriteBuf)}
	r := &amqpLeanReceiver{c: c, accept: true, credit: 1000, creditLimit: 1000, windowLeft: amqpLeanWindow}
	tally := newConsumerTally(1, 0)
	var fresh atomic.Int64 // the same message every time: counted once
	b.ReportAllocs()
	b.ResetTimer()
	for range n {
		if c.r.Buffered() == 0 {
			if err := r.flushAcks(); err != nil {
				b.Fatal(err)
			}
		}
		_, _, body, err := c.readFrame()
		if err != nil {
			b.Fatal(err)
		}
		frameSize = len(body) + 8
		if err := r.onTransfer(body, tally, &fresh); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(frameSize))
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
