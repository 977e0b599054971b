package stomp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// TestAckBatchAppliedOnClose: ACKs that arrive together are settled
// together; ACKs of two subscriptions interleaved, followed by a frame the
// client never finishes and a closed socket, are all applied: nothing
// comes back for redelivery.
func TestAckBatchAppliedOnClose(t *testing.T) {
	s, b := testServer(t, Options{})
	for _, q := range []string{"ack-a", "ack-b"} {
		for i := range 3 {
			m := &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: q}, Body: []byte{byte('0' + i)}}
			if err := b.Publish(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
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
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.Write([]byte("CONNECT\naccept-version:1.2\nhost:/\n\n\x00" +
		"SUBSCRIBE\nid:a\ndestination:/queue/ack-a\nack:client-individual\n\n\x00" +
		"SUBSCRIBE\nid:b\ndestination:/queue/ack-b\nack:client-individual\n\n\x00")); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(bufio.NewReader(cl), wire.Limits{})
	r.SetVersion(wire.V12)
	var acks []string
	for len(acks) < 6 {
		f, err := r.Read()
		if err != nil {
			t.Fatalf("reading: %v (after %d messages)", err, len(acks))
		}
		if f == nil || f.Command == "CONNECTED" {
			continue
		}
		if f.Command != "MESSAGE" {
			t.Fatalf("got %s: %v", f.Command, f.Header)
		}
		acks = append(acks, "ACK\nid:"+f.Header.Get("ack")+"\n\n\x00")
	}
	// a, b, a, b, ... then half a SEND, then the socket closes.
	var in strings.Builder
	for i := range 3 {
		in.WriteString(acks[i])
		in.WriteString(acks[3+i])
	}
	in.WriteString("SEND\ndestination:/queue/never\n")
	if _, err := cl.Write([]byte(in.String())); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ra, ia := b.QueueDepth(backend.Destination{Kind: backend.Queue, Name: "ack-a"})
		rb, ib := b.QueueDepth(backend.Destination{Kind: backend.Queue, Name: "ack-b"})
		if ra+ia+rb+ib == 0 && s.Connections() == 0 {
			return
		}
		if s.Connections() == 0 && ia+ib == 0 {
			t.Fatalf("acknowledged messages came back: ready %d and %d", ra, rb)
		}
		if time.Now().After(deadline) {
			t.Fatalf("ready %d/%d inflight %d/%d after the close", ra, rb, ia, ib)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
