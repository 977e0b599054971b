package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// amqpRaw is a raw AMQP peer over TCP, for bad input.
type amqpRaw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	fr *wire.FrameReader
}

func amqpRawDial(t *testing.T, addr string) *amqpRaw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(nc)
	return &amqpRaw{t: t, nc: nc, br: br, fr: wire.NewFrameReader(br, 1<<20)}
}

func (p *amqpRaw) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *amqpRaw) send(ch uint16, perf wire.Performative) {
	p.t.Helper()
	b, err := wire.AppendPerformative(nil, ch, perf)
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(b)
}

// open exchanges headers (no SASL) and opens.
func (p *amqpRaw) open() {
	p.t.Helper()
	p.write(wire.HeaderAMQP.Append(nil))
	if h, err := wire.ReadProtocolHeader(p.br); err != nil || h != wire.HeaderAMQP {
		p.t.Fatalf("header %v %v", h, err)
	}
	p.send(0, &wire.Open{ContainerID: "raw", MaxFrameSize: 1 << 20, ChannelMax: 10})
	if _, ok := p.next().(*wire.Open); !ok {
		p.t.Fatal("no open")
	}
}

// next returns the next performative, skipping empty frames.
func (p *amqpRaw) next() wire.Performative {
	p.t.Helper()
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Fatalf("reading: %v", err)
		}
		if f.Empty() {
			continue
		}
		perf, err := wire.DecodeFrameBody(f)
		if err != nil {
			p.t.Fatal(err)
		}
		return perf
	}
}

// closedWith reads up to a close frame and returns its condition, then
// checks that the server closes the socket.
func (p *amqpRaw) closedWith() wire.Symbol {
	p.t.Helper()
	for {
		if cl, ok := p.next().(*wire.Close); ok {
			p.send(0, &wire.Close{})
			if _, err := io.Copy(io.Discard, p.br); err != nil {
				p.t.Fatalf("the server did not close the socket: %v", err)
			}
			if cl.Error == nil {
				return ""
			}
			return cl.Error.Condition
		}
	}
}

// TestAMQPBadInput: a wrong protocol header, an oversized frame, an
// undecodable performative and a transfer on an unattached handle each get
// their AMQP answer, and a client using the broker meanwhile notices
// nothing.
func TestAMQPBadInput(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.bystander")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, nil)
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 10})
	roundTrip := func(body string) {
		t.Helper()
		amqpSendText(t, snd, body)
		if got := amqpRecvText(t, r, 1); got[0] != body {
			t.Fatalf("bystander got %q, want %q", got[0], body)
		}
	}
	roundTrip("before")

	t.Run("protocol header", func(t *testing.T) {
		p := amqpRawDial(t, addr)
		p.write([]byte("STOMP\naccept-version:1.2\n\n\x00"))
		h, err := wire.ReadProtocolHeader(p.br)
		if err != nil || h.ID != wire.ProtocolSASL {
			t.Fatalf("answered %v %v, want our SASL header", h, err)
		}
		if _, err := io.Copy(io.Discard, p.br); err != nil {
			t.Fatalf("socket not closed: %v", err)
		}
	})
	roundTrip("after a wrong header")

	t.Run("oversized frame", func(t *testing.T) {
		p := amqpRawDial(t, addr)
		p.open()
		p.write(append(binary.BigEndian.AppendUint32(nil, 1<<30), 2, 0, 0, 0))
		if c := p.closedWith(); c != wire.CondFramingError {
			t.Fatalf("closed with %q, want amqp:connection:framing-error", c)
		}
	})
	roundTrip("after an oversized frame")

	t.Run("undecodable performative", func(t *testing.T) {
		p := amqpRawDial(t, addr)
		p.open()
		p.write(wire.AppendFrame(nil, wire.FrameAMQP, 0, []byte{0x00, 0x53, 0x12, 0xc0, 0x03, 0x01, 0x99, 0x99}))
		if c := p.closedWith(); c != wire.CondDecodeError {
			t.Fatalf("closed with %q, want amqp:decode-error", c)
		}
	})
	roundTrip("after an undecodable performative")

	t.Run("unattached handle", func(t *testing.T) {
		p := amqpRawDial(t, addr)
		p.open()
		p.send(0, &wire.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100})
		if _, ok := p.next().(*wire.Begin); !ok {
			t.Fatal("no begin")
		}
		id, zero := uint32(0), uint32(0)
		p.send(0, &wire.Transfer{Handle: 3, DeliveryID: &id, DeliveryTag: []byte{1}, MessageFormat: &zero, Payload: []byte{0x00, 0x53, 0x77, 0x40}})
		end, ok := p.next().(*wire.End)
		if !ok || end.Error == nil || end.Error.Condition != wire.CondUnattachedHandle {
			t.Fatalf("got %+v, want end with amqp:session:unattached-handle", end)
		}
		p.send(0, &wire.End{})
		p.send(0, &wire.Close{})
		if c := p.closedWith(); c != "" {
			t.Fatalf("close answered with %q", c)
		}
	})
	roundTrip("after a bad session")
	b.waitDepth(t, q, 0, 0)
}

// TestAMQPGatewayShutdown: closing the gateway closes AMQP connections
// with amqp:connection:forced after their publishes are stored.
func TestAMQPGatewayShutdown(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	c, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, uniq("amqp.shutdown"), nil)
	amqpSendText(t, snd, "stored")
	b.close(t)
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the connection is still open after the gateway closed")
	}
	if cond := amqpCondition(c.Err()); cond != amqp.ErrCondConnectionForced {
		t.Fatalf("connection ended with %v (condition %q), want amqp:connection:forced", c.Err(), cond)
	}
}
