package amqp

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// TestAMQPSASLPlainThenOpenClose: SASL header, mechanisms, PLAIN, outcome;
// AMQP header; open answered with ours; close answered and the socket
// closed.
func TestAMQPSASLPlainThenOpenClose(t *testing.T) {
	s, _ := testServer(t, Options{ContainerID: "broker-1", Version: "1.2.3"}, nil)
	p := dial(t, s)
	p.write(wire.HeaderSASL.Append(nil))
	if h := p.header(); h != wire.HeaderSASL {
		t.Fatalf("header %v, want SASL", h)
	}
	mechs := expect[*wire.SASLMechanisms](p)
	if !slices.Equal(mechs.Mechanisms, []wire.Symbol{"PLAIN", "ANONYMOUS"}) {
		t.Fatalf("mechanisms %v", mechs.Mechanisms)
	}
	p.send(0, &wire.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00secret")})
	if o := expect[*wire.SASLOutcome](p); o.Code != wire.SASLOK {
		t.Fatalf("sasl outcome %v", o.Code)
	}
	open := p.open(&wire.Open{ContainerID: "c1", MaxFrameSize: 4096, ChannelMax: 7, IdleTimeOut: 30000})
	if open.ContainerID != "broker-1" || open.MaxFrameSize != 256<<10 || open.ChannelMax != 1023 || open.IdleTimeOut != 60000 {
		t.Fatalf("server open %+v", open)
	}
	if v, _ := open.Properties.Get(wire.Symbol("product")); v != "mqgate" {
		t.Errorf("product property %v", v)
	}
	if v, _ := open.Properties.Get(wire.Symbol("version")); v != "1.2.3" {
		t.Errorf("version property %v", v)
	}
	if v, _ := open.Properties.Get(wire.Symbol("queue-prefix")); v != "queue://" {
		t.Errorf("queue-prefix property %v", v)
	}
	if !slices.Contains(open.OfferedCapabilities, wire.Symbol("ANONYMOUS-RELAY")) {
		t.Errorf("offered capabilities %v", open.OfferedCapabilities)
	}
	p.send(0, &wire.Close{})
	p.expectClose("")
	p.expectEOF()
}

// TestAMQPHeaderWithoutSASL: a client may skip SASL.
func TestAMQPHeaderWithoutSASL(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.send(0, &wire.Close{})
	p.expectClose("")
}

// TestAMQPSASLAnonymousAndUnknownMechanism: ANONYMOUS succeeds; a mechanism
// not offered gets the auth outcome and the connection ends.
func TestAMQPSASLAnonymousAndUnknownMechanism(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.write(wire.HeaderSASL.Append(nil))
	p.header()
	expect[*wire.SASLMechanisms](p)
	p.send(0, &wire.SASLInit{Mechanism: "ANONYMOUS"})
	if o := expect[*wire.SASLOutcome](p); o.Code != wire.SASLOK {
		t.Fatalf("anonymous outcome %v", o.Code)
	}

	q := dial(t, s)
	q.write(wire.HeaderSASL.Append(nil))
	q.header()
	expect[*wire.SASLMechanisms](q)
	q.send(0, &wire.SASLInit{Mechanism: "SCRAM-SHA-256"})
	if o := expect[*wire.SASLOutcome](q); o.Code != wire.SASLAuth {
		t.Fatalf("unknown mechanism outcome %v, want auth", o.Code)
	}
	q.expectEOF()
}

// TestAMQPBadProtocolHeader: anything but a supported header is answered with
// ours and the socket closed. AMQP 1.0 §2.2.
func TestAMQPBadProtocolHeader(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	for _, in := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		[]byte("AMQP\x00\x00\x09\x01"), // AMQP 0-9-1
		[]byte("AMQP\x02\x01\x00\x00"), // TLS
		[]byte("AMQP\x00\x01\x01\x00"), // 1.1
	} {
		p := dial(t, s)
		p.write(in)
		if h := p.header(); h != wire.HeaderSASL {
			t.Errorf("%q: answered %v, want the SASL header", in, h)
		}
		p.expectEOF()
	}
}

// TestAMQPIdleTimeout: a silent peer is closed with
// amqp:resource-limit-exceeded once our idle-time-out passes; the server
// sends empty frames at half the peer's.
func TestAMQPIdleTimeout(t *testing.T) {
	s, _ := testServer(t, Options{IdleTimeout: 300 * time.Millisecond}, nil)
	p := dial(t, s)
	open := p.open(&wire.Open{ContainerID: "idle", MaxFrameSize: 1 << 20, ChannelMax: 1, IdleTimeOut: 100})
	if open.IdleTimeOut != 300 {
		t.Fatalf("idle-time-out %d, want 300", open.IdleTimeOut)
	}
	empties := 0
	for {
		f, err := p.frame()
		if err != nil {
			t.Fatalf("reading: %v (after %d empty frames)", err, empties)
		}
		if f.Empty() {
			empties++
			continue
		}
		perf, err := wire.DecodeFrameBody(f)
		if err != nil {
			t.Fatal(err)
		}
		cl, ok := perf.(*wire.Close)
		if !ok {
			t.Fatalf("got %T", perf)
		}
		if cl.Error == nil || cl.Error.Condition != wire.CondResourceLimitExceeded {
			t.Fatalf("close %+v, want amqp:resource-limit-exceeded", cl.Error)
		}
		break
	}
	if empties < 2 {
		t.Errorf("%d empty frames before the idle close, want at least 2 (every 50ms over 300ms)", empties)
	}
	p.send(0, &wire.Close{})
	p.expectEOF()
}

// TestAMQPHeartbeatsKeepAlive: empty frames from the peer keep the connection
// open past the idle-time-out.
func TestAMQPHeartbeatsKeepAlive(t *testing.T) {
	s, _ := testServer(t, Options{IdleTimeout: 200 * time.Millisecond}, nil)
	p := dial(t, s)
	p.open(nil)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		p.write(emptyFrame)
		time.Sleep(40 * time.Millisecond) // the peer's heartbeat interval, not a synchronisation
	}
	p.begin(0) // still open
	p.send(0, &wire.Close{})
	p.expectClose("")
}

// TestAMQPFrameTooLarge: a frame over our max-frame-size closes the
// connection with amqp:connection:framing-error.
func TestAMQPFrameTooLarge(t *testing.T) {
	s, _ := testServer(t, Options{MaxFrameSize: 4096}, nil)
	p := dial(t, s)
	p.open(nil)
	hdr := binary.BigEndian.AppendUint32(nil, 1<<20)
	p.write(append(hdr, 2, 0, 0, 0))
	p.expectClose(wire.CondFramingError)
	p.send(0, &wire.Close{})
	p.expectEOF()
}

// TestAMQPUndecodableFrame: a frame body that is no performative closes the
// connection with amqp:decode-error.
func TestAMQPUndecodableFrame(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.write(wire.AppendFrame(nil, wire.FrameAMQP, 0, []byte{0x00, 0x53, 0x11, 0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9}))
	p.expectClose(wire.CondDecodeError)
}

// TestAMQPDecodeErrorBeforeOpen: a bad open is answered with our open and a
// close carrying amqp:decode-error.
func TestAMQPDecodeErrorBeforeOpen(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.write(wire.HeaderAMQP.Append(nil))
	p.header()
	p.write(wire.AppendFrame(nil, wire.FrameAMQP, 0, []byte{0x00, 0x53, 0x10, 0x45})) // open with no container-id
	expect[*wire.Open](p)
	p.expectClose(wire.CondDecodeError)
}

// TestAMQPUnattachedHandle: a transfer on a handle that is not attached ends
// the session with amqp:session:unattached-handle; the connection lives.
func TestAMQPUnattachedHandle(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.transfer(0, 5, 0, true, textMessage("x"))
	end := expect[*wire.End](p)
	if end.Error == nil || end.Error.Condition != wire.CondUnattachedHandle {
		t.Fatalf("end %+v, want amqp:session:unattached-handle", end.Error)
	}
	p.send(0, &wire.End{})
	p.begin(1) // the connection is fine
	p.send(0, &wire.Close{})
	p.expectClose("")
}

// TestAMQPHandleInUse: attaching a used handle ends the session with
// amqp:session:handle-in-use.
func TestAMQPHandleInUse(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachSender(0, 1, "a", "queue://inuse")
	zero := uint32(0)
	p.send(0, &wire.Attach{Name: "b", Handle: 1, Role: wire.RoleSender, Target: &wire.Target{Address: "q"}, InitialDeliveryCount: &zero})
	end := expect[*wire.End](p)
	if end.Error == nil || end.Error.Condition != wire.CondHandleInUse {
		t.Fatalf("end %+v, want amqp:session:handle-in-use", end.Error)
	}
}

// TestAMQPCreditViolation: a transfer without link credit detaches the link
// with amqp:link:transfer-limit-exceeded; the session goes on. Credit is
// withheld while publishes wait for the store.
func TestAMQPCreditViolation(t *testing.T) {
	st := newBlockingStore()
	s, _ := testServer(t, Options{LinkCredit: 1, MaxPendingPublishes: 1}, st)
	t.Cleanup(st.unblock) // before the server's cleanup: let pending publishes finish
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	_, fl := p.attachSender(0, 0, "c", "queue://credit")
	if fl.LinkCredit == nil || *fl.LinkCredit != 1 {
		t.Fatalf("first flow %+v, want credit 1", fl)
	}
	durable := func(s string) *wire.Message {
		return &wire.Message{Header: &wire.Header{Durable: true, Priority: 4}, Value: s}
	}
	p.transfer(0, 0, 0, false, durable("a"))
	if fl := expect[*wire.Flow](p); *fl.LinkCredit != 1 || *fl.DeliveryCount != 1 {
		t.Fatalf("refill %+v, want credit 1 at delivery-count 1", fl)
	}
	p.transfer(0, 0, 1, false, durable("b")) // takes the last credit; one publish is pending: no refill
	p.transfer(0, 0, 2, false, durable("c"))
	d := expect[*wire.Detach](p)
	if d.Error == nil || d.Error.Condition != wire.CondTransferLimitExceeded || !d.Closed {
		t.Fatalf("detach %+v, want closed with amqp:link:transfer-limit-exceeded", d)
	}
	p.send(0, &wire.Detach{Handle: 0, Closed: true})
	zero := uint32(0)
	p.send(0, &wire.Attach{Name: "c2", Handle: 0, Role: wire.RoleSender, Target: &wire.Target{Address: "credit"}, InitialDeliveryCount: &zero})
	if a := expect[*wire.Attach](p); a.Target == nil {
		t.Fatalf("attach after the violation refused: %+v", a) // the session works
	}
	st.unblock()
	// The two stored publishes are accepted, in order.
	got := 0
	for got < 2 {
		perf, _ := p.next()
		if disp, ok := perf.(*wire.Disposition); ok {
			last := disp.First
			if disp.Last != nil {
				last = *disp.Last
			}
			if _, ok := disp.State.(*wire.Accepted); !ok || !disp.Settled {
				t.Fatalf("disposition %+v", disp)
			}
			got += int(last-disp.First) + 1
		}
	}
}

// TestAMQPBadFramesBeforeSession: a session frame on a channel with no
// session closes the connection with amqp:illegal-state.
func TestAMQPBadFramesBeforeSession(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.send(3, &wire.End{})
	p.expectClose(wire.CondIllegalState)
}

// TestAMQPLargePeerOpen: an open larger than 512 bytes (before any max-frame-size
// is agreed) is accepted.
func TestAMQPLargePeerOpen(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	props := wire.Map{{Key: wire.Symbol("padding"), Value: string(bytes.Repeat([]byte("x"), 2000))}}
	p.open(&wire.Open{ContainerID: "big", MaxFrameSize: 1 << 20, ChannelMax: 1, Properties: props})
	p.send(0, &wire.Close{})
	p.expectClose("")
}

// TestAMQPShutdownForcesClose: Server.Close closes open connections with
// amqp:connection:forced.
func TestAMQPShutdownForcesClose(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout(waitTimeout)
		defer cancel()
		done <- s.Close(ctx)
	}()
	p.expectClose(wire.CondConnectionForced)
	p.send(0, &wire.Close{})
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.Connections(); n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
}

// TestAMQPFrameSizeTooSmall: when our answer cannot fit the peer's
// max-frame-size (an attach echoing a large source), the connection is
// closed with amqp:frame-size-too-small instead of breaking the limit.
func TestAMQPFrameSizeTooSmall(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(&wire.Open{ContainerID: "small", MaxFrameSize: 512, ChannelMax: 1})
	p.begin(0)
	src := &wire.Source{Address: "q", Capabilities: []wire.Symbol{wire.Symbol(bytes.Repeat([]byte("c"), 600))}}
	p.send(0, &wire.Attach{Name: "r", Handle: 0, Role: wire.RoleReceiver, Source: src, Target: &wire.Target{}})
	p.expectClose(wire.CondFrameSizeTooSmall)
	p.send(0, &wire.Close{})
	p.expectEOF()
}
