package backend

import (
	"errors"
	"testing"

	"github.com/mqgate/mqgate/backend/memory"
)

// stamped returns a persistent message stamped as a failover producer's.
func stamped(dest Destination, id string, seq any) *Message {
	return &Message{Dest: dest, Persistent: true, Body: []byte("x"),
		Props: []Prop{{Name: AuditIDProp, Value: id}, {Name: AuditSeqProp, Value: seq}}}
}

// TestAuditDropsResends: a resend of a stamped message (STOMP's string
// sequence or AMQP's long) is confirmed without being stored again; the
// same stamp to another destination (a composite send) and unstamped
// messages are not affected.
func TestAuditDropsResends(t *testing.T) {
	b := New(Options{Store: memory.New(memory.Options{})})
	defer b.Close()
	for _, m := range []*Message{
		stamped(q("a"), "p1", "1"), stamped(q("a"), "p1", "2"),
		stamped(q("a"), "p1", "1"), stamped(q("a"), "p1", int64(2)), // resends
		stamped(q("b"), "p1", "2"), // another destination
		stamped(q("a"), "p2", "1"), // another producer
		{Dest: q("a"), Body: []byte("plain")}, {Dest: q("a"), Body: []byte("plain")},
		stamped(q("a"), "p1", "x"), stamped(q("a"), "p1", "x"), // not a sequence: not audited
	} {
		if err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := b.QueueDepth(q("a")); r != 7 {
		t.Fatalf("queue a holds %d, want 7 (2 of p1, 1 of p2, 4 unaudited)", r)
	}
	if r, _ := b.QueueDepth(q("b")); r != 1 {
		t.Fatalf("queue b holds %d, want 1", r)
	}
}

// TestAuditSurvivesRecovery: a broker that recovered a stamped message
// from the store (a restart, or a slave taking over) drops its resend, and
// also the resend of an earlier message of the stream (consumed before).
func TestAuditSurvivesRecovery(t *testing.T) {
	st := memory.New(memory.Options{})
	b1 := New(Options{Store: st})
	for _, seq := range []string{"1", "2", "3"} {
		if err := b1.Publish(ctx, stamped(q("a"), "p", seq)); err != nil {
			t.Fatal(err)
		}
	}
	s, c := sub(t, b1, SubscribeOptions{Dest: q("a"), Credit: 1})
	if err := s.Settle(c.next(t).Tag, Accepted); err != nil { // seq 1 consumed
		t.Fatal(err)
	}
	b2 := New(Options{Store: st}) // b1 abandoned, as by a crash
	defer b2.Close()
	if _, err := b2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	r0, i0 := b2.QueueDepth(q("a"))
	for _, seq := range []string{"1", "2", "3", "4"} {
		if err := b2.Publish(ctx, stamped(q("a"), "p", seq)); err != nil {
			t.Fatal(err)
		}
	}
	if r, i := b2.QueueDepth(q("a")); r+i != r0+i0+1 {
		t.Fatalf("after resending 1-3 and sending 4: %d messages, want %d (only 4 new)", r+i, r0+i0+1)
	}
}

// TestAuditFailedAndInFlight: a resend of a publish still in flight waits
// for its outcome; a failed publish is forgotten, so its resend is new.
func TestAuditFailedAndInFlight(t *testing.T) {
	var a audit
	if a.admit("k", 5, nil) {
		t.Fatal("the first publish of 5 counted as a resend")
	}
	var got []error
	if !a.admit("k", 5, func(err error) { got = append(got, err) }) {
		t.Fatal("a resend of 5 in flight was admitted")
	}
	if len(got) != 0 {
		t.Fatal("the resend was confirmed before the original's outcome")
	}
	boom := errors.New("store failed")
	a.settle("k", 5, boom)
	if len(got) != 1 || got[0] != boom {
		t.Fatalf("the waiting resend got %v, want the original's error", got)
	}
	if a.admit("k", 5, nil) {
		t.Fatal("a resend of a failed publish was dropped")
	}
	a.settle("k", 5, nil)
	got = nil
	if !a.admit("k", 5, func(err error) { got = append(got, err) }) || len(got) != 1 || got[0] != nil {
		t.Fatalf("a resend of a stored publish: dropped and confirmed expected, got %v", got)
	}
	if !a.admit("k", 3, nil) {
		t.Fatal("a resend of 3 (below the highest, never failed) was admitted")
	}
	if a.admit("k", 6, nil) {
		t.Fatal("6 counted as a resend")
	}
}
