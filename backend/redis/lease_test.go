package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
)

// TestLeaseExclusiveAndFenced: one holder at a time; the token rises on
// every take-over; a master whose lease was taken over writes nothing and
// learns it lost the lease; Release hands the lease over at once.
func TestLeaseExclusiveAndFenced(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	a := open(t, srv.URL(), "lease", 0)
	b := open(t, srv.URL(), "lease", 0)
	la := acquire(t, a, "a", time.Second)
	if v := srv.Client(t).Get(ctx, a.lease).Val(); v != fmt.Sprintf("a %d", la.Token()) {
		t.Fatalf("lease key holds %q", v)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(short, "b", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b acquired a held lease: %v", err)
	}
	if _, err := a.Acquire(ctx, "a", time.Second); !errors.Is(err, errLeaseHeld) {
		t.Fatalf("a second Acquire on the holder = %v, want errLeaseHeld", err)
	}
	mustAppend(t, a, nil, enq("queue://f", 1, "by a"))

	// Take the lease from a behind its back, as a slave does once a paused
	// master's lease has lapsed: delete the key, then b acquires.
	if err := srv.Client(t).Del(ctx, a.lease).Err(); err != nil {
		t.Fatal(err)
	}
	lb := acquire(t, b, "b", time.Second)
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after take-over, was %d", lb.Token(), la.Token())
	}
	if err := a.Append(ctx, []store.Record{enq("queue://f", 2, "by a, fenced")}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("fenced Append = %v, want ErrFenced", err)
	}
	if !isClosed(la.Lost()) {
		t.Fatal("a fenced Append did not close Lost")
	}
	mustAppend(t, b, nil, enq("queue://f", 3, "by b"))
	got := recoverAll(t, b)
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 {
		t.Fatalf("recovered %+v, want messages 1 and 3: the fenced write must not be there", got)
	}

	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, []store.Record{enq("queue://f", 4, "after release")}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Append after Release = %v, want ErrFenced", err)
	}
	c := open(t, srv.URL(), "lease", 0)
	quick, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if _, err := c.Acquire(quick, "c", time.Minute); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

// TestLeaseRenewal: renewals keep the lease past many TTLs, and its key's
// expiry within one TTL.
func TestLeaseRenewal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	a := open(t, srv.URL(), "renew", 0)
	b := open(t, srv.URL(), "renew", 0)
	ttl := 300 * time.Millisecond
	la := acquire(t, a, "a", ttl)
	start := time.Now()
	// Every ttl/3: 15 renewals are 5 TTLs.
	waitFor(t, 60*time.Second, func() bool { return la.renewals.Load() >= 15 || isClosed(la.Lost()) }, "15 renewals")
	if isClosed(la.Lost()) {
		t.Fatalf("lease lost after %d renewals", la.renewals.Load())
	}
	t.Logf("15 renewals in %v", time.Since(start).Round(time.Millisecond))
	if pttl := srv.Client(t).PTTL(ctx, a.lease).Val(); pttl <= 0 || pttl > ttl {
		t.Fatalf("lease key PTTL %v", pttl)
	}
	short, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	if _, err := b.Acquire(short, "b", ttl); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took a renewed lease: %v", err)
	}
}

// TestLeaseTokenIncreases: every take-over, by release or by expiry,
// raises the token.
func TestLeaseTokenIncreases(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	a := open(t, srv.URL(), "token", 0)
	b := open(t, srv.URL(), "token", 0)
	ttl := 300 * time.Millisecond
	var tokens []uint64

	l := acquire(t, a, "a", ttl)
	tokens = append(tokens, l.Token())
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l = acquire(t, b, "b", ttl)
	tokens = append(tokens, l.Token())
	l.pause() // b stops renewing: its lease expires
	l = acquire(t, a, "a", ttl)
	tokens = append(tokens, l.Token())
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l = acquire(t, a, "a", ttl) // the same store again, after its release
	tokens = append(tokens, l.Token())
	if fmt.Sprint(tokens) != "[1 2 3 4]" {
		t.Fatalf("tokens %v, want [1 2 3 4]", tokens)
	}
}

// TestFencing: a master whose renewals stopped (a paused process: not even
// its deadline fires) loses the lease to another node; its next Append
// writes nothing, fails with ErrFenced and closes its Lost; so do all
// later ones, until it acquires again.
func TestFencing(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	a := open(t, srv.URL(), "fence", 0)
	b := open(t, srv.URL(), "fence", 0)
	ttl := 300 * time.Millisecond
	la := acquire(t, a, "a", ttl)
	mustAppend(t, a, nil, enq("queue://f", 1, "by a"))

	la.pause()
	lb := acquire(t, b, "b", ttl) // once a's key has expired
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after %d", lb.Token(), la.Token())
	}
	if isClosed(la.Lost()) {
		t.Fatal("a paused lease noticed it was lost before it was fenced")
	}
	recs := []store.Record{enq("queue://f", 2, "by a, fenced"), ack("queue://f", 1)}
	if err := a.Append(ctx, recs); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("fenced Append = %v, want ErrFenced", err)
	}
	if !isClosed(la.Lost()) {
		t.Fatal("a fenced Append did not close Lost")
	}
	calls := a.calls.Load()
	if err := a.Append(ctx, recs[:1]); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("second fenced Append = %v", err)
	}
	if a.calls.Load() != calls {
		t.Fatal("a fenced store sent another append call")
	}
	mustAppend(t, b, nil, enq("queue://f", 3, "by b"))
	got := recoverAll(t, b)
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 {
		t.Fatalf("b recovered %+v, want messages 1 and 3 only", got)
	}
	// The fenced store may acquire again once the lease is free.
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	la2 := acquire(t, a, "a", ttl)
	mustAppend(t, a, nil, enq("queue://f", 4, "by a again"))
	if la2.Token() <= lb.Token() {
		t.Fatalf("token %d after %d", la2.Token(), lb.Token())
	}
}

// TestLeaseLapsesBeforeTakeover: a master cut off from Redis by a network
// black hole closes Lost before another node can take the lease, even
// though its renewal call hangs longer than the lease lasts (the client's
// timeouts and retries); once the network heals its writes are fenced.
func TestLeaseLapsesBeforeTakeover(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	px := newProxy(t, srv.Addr)
	a := openClient(t, px.Addr(), "lapse")
	b := open(t, srv.URL(), "lapse", 0)
	// A renewal through the cut hangs about a second (the client's 500 ms
	// timeout, one retry): a renewer that checked its deadline only
	// between calls would notice the loss after b took over.
	ttl := 2 * time.Second
	la := acquire(t, a, "a", ttl)
	mustAppend(t, a, nil, enq("queue://l", 1, "by a"))
	waitFor(t, 30*time.Second, func() bool { return la.renewals.Load() >= 2 }, "two renewals")

	px.Partition()
	lb := acquire(t, b, "b", ttl)
	if !isClosed(la.Lost()) {
		t.Fatal("b took the lease while a, cut off, still believed it held it")
	}
	// a writes nothing more, wherever its requests are held.
	if err := a.Append(ctx, []store.Record{enq("queue://l", 2, "stale")}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Append after the lease was lost = %v, want ErrFenced", err)
	}
	px.Heal()
	if err := a.Append(ctx, []store.Record{enq("queue://l", 3, "after the heal")}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Append after the heal = %v, want ErrFenced", err)
	}
	mustAppend(t, b, nil, enq("queue://l", 4, "by b"))
	if got := recoverAll(t, b); len(got) != 2 || got[0].ID != 1 || got[1].ID != 4 {
		t.Fatalf("b recovered %+v, want messages 1 and 4", got)
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after %d", lb.Token(), la.Token())
	}
}
