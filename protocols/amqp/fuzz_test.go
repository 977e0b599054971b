package amqp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// fuzzSeeds returns byte streams that follow the AMQP header: a valid
// conversation touching every performative, and a few broken ones.
func fuzzSeeds(t testing.TB) [][]byte {
	zero, one, ten := uint32(0), uint32(1), uint32(10)
	frames := func(perfs ...wire.Performative) []byte {
		var b []byte
		for _, p := range perfs {
			var err error
			if b, err = wire.AppendPerformative(b, 0, p); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	msg, _ := (&wire.Message{Header: &wire.Header{Durable: true, Priority: 4}, Properties: &wire.Properties{MessageID: "m", ReplyTo: "temp-queue://r"},
		ApplicationProperties: wire.Map{{Key: "k", Value: int32(1)}}, Value: "hi"}).Marshal(nil)
	seq, _ := (&wire.Message{Sequence: [][]any{{"a", int64(1)}}}).Marshal(nil)
	declare, _ := (&wire.Message{Value: wire.Described{Descriptor: wire.DescDeclare, Value: []any{}}}).Marshal(nil)
	open := &wire.Open{ContainerID: "fuzz", MaxFrameSize: 512, ChannelMax: 4, IdleTimeOut: 0}
	begin := &wire.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 8}
	send := &wire.Attach{Name: "s", Handle: 0, Role: wire.RoleSender, Source: &wire.Source{}, Target: &wire.Target{Address: "q"}, InitialDeliveryCount: &zero}
	recv := &wire.Attach{Name: "r", Handle: 1, Role: wire.RoleReceiver, Source: &wire.Source{Address: "q", Filter: wire.Map{{Key: wire.Symbol("s"), Value: wire.SelectorFilter("k = 1")}}}, Target: &wire.Target{}}
	dyn := &wire.Attach{Name: "d", Handle: 2, Role: wire.RoleReceiver, Source: &wire.Source{Dynamic: true, Capabilities: []wire.Symbol{"temporary-topic"}}, Target: &wire.Target{}}
	coord := &wire.Attach{Name: "c", Handle: 3, Role: wire.RoleSender, Source: &wire.Source{}, Coordinator: &wire.Coordinator{}, InitialDeliveryCount: &zero}
	h1 := uint32(1)
	return [][]byte{
		frames(open, begin, send,
			&wire.Transfer{Handle: 0, DeliveryID: &zero, DeliveryTag: []byte{0}, MessageFormat: &zero, Payload: msg},
			&wire.Transfer{Handle: 0, DeliveryID: &one, DeliveryTag: []byte{1}, MessageFormat: &zero, More: true, Payload: seq[:3]},
			&wire.Transfer{Handle: 0, Payload: seq[3:]},
			recv, &wire.Flow{NextIncomingID: &zero, IncomingWindow: 1, OutgoingWindow: 9, Handle: &h1, DeliveryCount: &zero, LinkCredit: &ten, Drain: true},
			&wire.Disposition{Role: wire.RoleReceiver, First: 0, Last: &ten, Settled: true, State: &wire.Modified{DeliveryFailed: true}},
			dyn, coord,
			&wire.Transfer{Handle: 3, DeliveryID: &ten, DeliveryTag: []byte{2}, MessageFormat: &zero, Payload: declare},
			&wire.Detach{Handle: 1, Closed: true}, &wire.End{}, &wire.Close{}),
		frames(open, begin, &wire.Transfer{Handle: 9, Payload: []byte{1}}),
		frames(open, &wire.Close{Error: wire.Errorf(wire.CondInternalError, "bye")}),
		append(frames(open), 0, 0, 0, 9, 2, 0, 0, 0, 0),
		append(frames(open), emptyFrame...),
	}
}

// FuzzAMQPConnection feeds arbitrary bytes after a valid AMQP header to a
// connection: no panic, the connection ends, what it writes back is our
// header followed by well-formed frames, bounded by the input.
func FuzzAMQPConnection(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	s, _ := testServer(f, Options{IdleTimeout: -1, MaxFrameSize: 64 << 10, ConnectTimeout: 5 * time.Second}, nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := exchange(t, s, append(wire.HeaderAMQP.Append(nil), in...))
		if len(out) > 1<<20+64*len(in) {
			t.Fatalf("server wrote %d bytes for %d bytes of input", len(out), len(in))
		}
		if len(out) < 8 {
			t.Fatalf("server wrote %d bytes, not even a header", len(out))
		}
		if h, err := wire.ParseProtocolHeader(out[:8]); err != nil || h != wire.HeaderAMQP {
			t.Fatalf("server header %v %v", h, err)
		}
		fr := wire.NewFrameReader(bytes.NewReader(out[8:]), 1<<30)
		for {
			fm, err := fr.ReadFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("server output does not parse as frames: %v", err)
			}
			if fm.Type != wire.FrameAMQP {
				t.Fatalf("server wrote a frame of type %d", fm.Type)
			}
			if _, err := wire.DecodeFrameBody(fm); err != nil {
				t.Fatalf("server wrote an undecodable frame: %v", err)
			}
		}
	})
}

// exchange feeds in to a fresh TCP connection served by s, half-closes
// it and returns everything the server wrote until it closed.
func exchange(t testing.TB, s *Server, in []byte) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if sc, err := ln.Accept(); err == nil {
			s.ServeConn(sc)
		}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(client))
		out <- b
	}()
	_ = client.SetDeadline(time.Now().Add(waitTimeout))
	_, _ = client.Write(in)
	_ = client.(*net.TCPConn).CloseWrite()
	select {
	case b := <-out:
		return b
	case <-time.After(2 * waitTimeout):
		t.Fatal("the server did not close the connection")
	}
	return nil
}
