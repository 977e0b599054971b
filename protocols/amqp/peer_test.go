package amqp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// waitTimeout bounds every wait for something that should happen.
const waitTimeout = 10 * time.Second

// testLogger sends the server's log to t.Log with -v.
func testLogger(t testing.TB) zerolog.Logger {
	if !testing.Verbose() {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// testServer returns a server on a fresh broker with opts (store nil: in
// memory) and closes both when the test ends.
func testServer(t testing.TB, opts Options, st store.Store) (*Server, *backend.Broker) {
	t.Helper()
	b := backend.New(backend.Options{NodeID: "unit", MaxRedeliveries: -1, Store: st})
	opts.Logger = testLogger(t)
	s := NewServer(b, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Server.Close: %v", err)
		}
		b.Close()
	})
	return s, b
}

// peer is a raw AMQP client written with the wire package.
type peer struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	fr *wire.FrameReader
}

// dial connects a raw peer to s over loopback TCP.
func dial(t testing.TB, s *Server) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- sc
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	s.ServeConn(sc)
	t.Cleanup(func() { nc.Close() })
	br := bufio.NewReader(nc)
	return &peer{t: t, nc: nc, br: br, fr: wire.NewFrameReader(br, 1<<30)}
}

// write sends raw bytes.
func (p *peer) write(b []byte) {
	p.t.Helper()
	_ = p.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// send sends one performative on channel ch.
func (p *peer) send(ch uint16, perf wire.Performative) {
	p.t.Helper()
	b, err := wire.AppendPerformative(nil, ch, perf)
	if err != nil {
		p.t.Fatalf("encoding %T: %v", perf, err)
	}
	p.write(b)
}

// header reads a protocol header.
func (p *peer) header() wire.ProtocolHeader {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	h, err := wire.ReadProtocolHeader(p.br)
	if err != nil {
		p.t.Fatalf("reading a protocol header: %v", err)
	}
	return h
}

// frame reads the next frame, empty ones included.
func (p *peer) frame() (wire.Frame, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	return p.fr.ReadFrame()
}

// next reads the next non-empty frame and decodes it; ch is its channel.
func (p *peer) next() (perf wire.Performative, ch uint16) {
	p.t.Helper()
	for {
		f, err := p.frame()
		if err != nil {
			p.t.Fatalf("reading a frame: %v", err)
		}
		if f.Empty() {
			continue
		}
		perf, err := wire.DecodeFrameBody(f)
		if err != nil {
			p.t.Fatalf("decoding a frame: %v", err)
		}
		return perf, f.Channel
	}
}

// expect reads the next performative and checks its type.
func expect[T wire.Performative](p *peer) T {
	p.t.Helper()
	perf, _ := p.next()
	v, ok := perf.(T)
	if !ok {
		var want T
		p.t.Fatalf("got %T %+v, want %T", perf, perf, want)
	}
	return v
}

// expectEOF reads until the server closes the connection.
func (p *peer) expectEOF() {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.Copy(io.Discard, p.br); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatalf("the server did not close the connection: %v", err)
		}
	}
}

// expectClose reads frames up to a close, checks its condition ("" for
// none) and answers it.
func (p *peer) expectClose(cond wire.Symbol) *wire.Close {
	p.t.Helper()
	for {
		perf, _ := p.next()
		cl, ok := perf.(*wire.Close)
		if !ok {
			continue
		}
		got := wire.Symbol("")
		if cl.Error != nil {
			got = cl.Error.Condition
		}
		if got != cond {
			p.t.Fatalf("close with %q (%v), want %q", got, cl.Error, cond)
		}
		return cl
	}
}

// open runs the AMQP header exchange (no SASL) and open, and returns the
// server's open.
func (p *peer) open(o *wire.Open) *wire.Open {
	p.t.Helper()
	p.write(wire.HeaderAMQP.Append(nil))
	if h := p.header(); h != wire.HeaderAMQP {
		p.t.Fatalf("server header %v, want %v", h, wire.HeaderAMQP)
	}
	if o == nil {
		o = &wire.Open{ContainerID: "peer", MaxFrameSize: 1 << 20, ChannelMax: 65535}
	}
	p.send(0, o)
	return expect[*wire.Open](p)
}

// begin begins a session on channel ch and returns the server's begin.
func (p *peer) begin(ch uint16) *wire.Begin {
	p.t.Helper()
	p.send(ch, &wire.Begin{NextOutgoingID: 0, IncomingWindow: 10000, OutgoingWindow: 10000, HandleMax: 1000})
	b := expect[*wire.Begin](p)
	if b.RemoteChannel == nil || *b.RemoteChannel != ch {
		p.t.Fatalf("begin answers channel %v, want %d", b.RemoteChannel, ch)
	}
	return b
}

// attachSender attaches a sender link (we send, the server receives) to
// address and returns the server's attach and its first flow.
func (p *peer) attachSender(ch uint16, handle uint32, name, address string) (*wire.Attach, *wire.Flow) {
	p.t.Helper()
	zero := uint32(0)
	p.send(ch, &wire.Attach{Name: name, Handle: handle, Role: wire.RoleSender, Source: &wire.Source{},
		Target: &wire.Target{Address: address}, InitialDeliveryCount: &zero})
	a := expect[*wire.Attach](p)
	return a, expect[*wire.Flow](p)
}

// attachReceiver attaches a receiver link (the server sends) to source
// and returns the server's attach.
func (p *peer) attachReceiver(ch uint16, handle uint32, name string, src *wire.Source, settled bool) *wire.Attach {
	p.t.Helper()
	a := &wire.Attach{Name: name, Handle: handle, Role: wire.RoleReceiver, Source: src, Target: &wire.Target{}}
	if settled {
		a.SndSettleMode = wire.SndSettled
	}
	p.send(ch, a)
	return expect[*wire.Attach](p)
}

// transfer sends one single-frame message.
func (p *peer) transfer(ch uint16, handle, id uint32, settled bool, m *wire.Message) {
	p.t.Helper()
	payload, err := m.Marshal(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	zero := uint32(0)
	p.send(ch, &wire.Transfer{Handle: handle, DeliveryID: &id, DeliveryTag: []byte{byte(id)}, MessageFormat: &zero,
		Settled: settled, Payload: payload})
}

// flow gives credit on a receiver link.
func (p *peer) flow(ch uint16, handle, deliveryCount, credit uint32, drain bool) {
	p.t.Helper()
	next := uint32(0)
	p.send(ch, &wire.Flow{NextIncomingID: &next, IncomingWindow: 10000, NextOutgoingID: 0, OutgoingWindow: 10000,
		Handle: &handle, DeliveryCount: &deliveryCount, LinkCredit: &credit, Drain: drain})
}

// recvMessage reads one whole delivery (possibly many transfer frames),
// skipping other frames, and returns its first transfer and message.
func (p *peer) recvMessage() (*wire.Transfer, *wire.Message) {
	p.t.Helper()
	var first *wire.Transfer
	var payload []byte
	for {
		perf, _ := p.next()
		t, ok := perf.(*wire.Transfer)
		if !ok {
			continue
		}
		if first == nil {
			first = t
		}
		payload = append(payload, t.Payload...)
		if !t.More {
			break
		}
	}
	m, err := wire.UnmarshalMessage(payload)
	if err != nil {
		p.t.Fatalf("decoding a delivered message: %v", err)
	}
	return first, m
}

// textMessage returns an amqp-value string message.
func textMessage(s string) *wire.Message { return &wire.Message{Value: s} }

// blockingStore is a store.Store whose Appends wait until release is
// closed: publishes stay pending.
type blockingStore struct {
	release chan struct{}
	once    sync.Once
}

func newBlockingStore() *blockingStore { return &blockingStore{release: make(chan struct{})} }

func (s *blockingStore) Append(ctx context.Context, _ []store.Record) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *blockingStore) Recover(context.Context, func(store.Record) error) error { return nil }

func (s *blockingStore) Close() error {
	s.unblock()
	return nil
}

func (s *blockingStore) unblock() { s.once.Do(func() { close(s.release) }) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
