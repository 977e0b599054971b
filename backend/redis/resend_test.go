package redis

import (
	"errors"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// TestAppendScriptResend runs append calls as go-redis and the network may
// deliver them: the same call twice (a resend after a lost reply) returns
// the first run's results and writes nothing; an older call arriving after
// a newer one (a request held by a broken network) is refused as STALE and
// writes nothing; a new call applies.
func TestAppendScriptResend(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	admin := srv.Client(t)
	s := open(t, srv.URL(), "resend", 100)
	b1 := encodeBatch([]store.Record{enq("queue://r", 1, "sixty-bytes-of-data-sixty-bytes-of-data-sixty-bytes-of-data!")})
	b2 := encodeBatch([]store.Record{enq("queue://r", 2, "also-sixty-bytes-also-sixty-bytes-also-sixty-bytes-also-six")})
	run := func(seq uint64, batches ...*batch) (string, error) {
		return appendScript.Run(ctx, s.client, s.keys, s.callArgs("", seq, batches)...).Text()
	}
	state := func() string {
		return fmt.Sprint(admin.Get(ctx, s.prefix+"seq").Val(), admin.Get(ctx, s.prefix+"bytes").Val(),
			admin.ZRangeWithScores(ctx, s.prefix+"pos", 0, -1).Val())
	}

	first, err := run(5, &b1, &b2)
	if err != nil || first != ".F" {
		t.Fatalf("first run = %q, %v; want .F (the second batch is past the max size)", first, err)
	}
	before := state()
	again, err := run(5, &b1, &b2)
	if err != nil || again != first {
		t.Fatalf("resent call = %q, %v; want %q", again, err, first)
	}
	if after := state(); after != before {
		t.Fatalf("the resent call wrote: %s, was %s", after, before)
	}
	if _, err := run(4, &b1); err == nil || !goredis.HasErrorPrefix(err, "STALE") {
		t.Fatalf("an older call = %v, want STALE", err)
	}
	if after := state(); after != before {
		t.Fatalf("the stale call wrote: %s, was %s", after, before)
	}
	// A new call applies again: message 1 moves to the end of the log.
	ack := encodeBatch([]store.Record{ack("queue://r", 1)})
	if res, err := run(6, &ack, &b1); err != nil || res != ".." {
		t.Fatalf("new call = %q, %v", res, err)
	}
	if after := state(); after == before {
		t.Fatal("a new call was taken for a resend")
	}
	// Another store's calls have their own numbering.
	other := open(t, srv.URL(), "resend", 0)
	mustAppend(t, other, nil, enq("queue://r", 3, "x"))
	var m storetest.Model
	m.Apply([]store.Record{enq("queue://r", 1, "sixty-bytes-of-data-sixty-bytes-of-data-sixty-bytes-of-data!"), enq("queue://r", 3, "x")})
	check(t, s, &m)
}

// TestLostReplyNotReapplied: an append call reaches Redis, but the
// connection is lost before its reply: go-redis sends the call again on a
// new connection. The store must answer the Append once, applied once
// (a second run would take new log positions and move the messages).
func TestLostReplyNotReapplied(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	px := newProxy(t, srv.Addr)
	s := open(t, "redis://"+px.Addr()+"/0", "lost", 0)
	admin := srv.Client(t)
	mustAppend(t, s, nil, store.Record{Op: store.OpQueueCreate, Queue: "queue://l", Data: []byte("d")}, enq("queue://l", 1, "one"))
	seq := admin.Get(ctx, s.prefix+"seq").Val()

	px.DropReply()
	if err := s.Append(ctx, []store.Record{ack("queue://l", 1), enq("queue://l", 2, "two"), enq("queue://l", 3, "three")}); err != nil {
		t.Fatalf("Append across a lost reply: %v", err)
	}
	if px.dropped.Load() != 1 {
		t.Fatalf("%d replies dropped, want 1", px.dropped.Load())
	}
	if got := admin.Get(ctx, s.prefix+"seq").Val(); got != fmt.Sprint(mustInt(t, seq)+2) {
		t.Fatalf("log position %s after two enqueues from %s: the call ran twice", got, seq)
	}
	got := recoverAll(t, s)
	if len(got) != 3 || got[1].ID != 2 || got[2].ID != 3 {
		t.Fatalf("recovered %+v", got)
	}
	// The store goes on.
	mustAppend(t, s, nil, ack("queue://l", 2))
	if got := recoverAll(t, s); len(got) != 2 || got[1].ID != 3 {
		t.Fatalf("recovered %+v", got)
	}
}

func mustInt(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(errors.New("not a number: " + s))
	}
	return n
}
