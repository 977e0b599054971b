// Package storetest is the conformance suite every store.Store passes:
// backend/memory, backend/disk and backend/redis run the same body, so the
// broker core can rely on one set of semantics (see Model).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mqgate/mqgate/backend/store"
)

// Opener opens a store in dir. Called again on the same dir after the
// previous store was closed, a persistent store must replay what was
// appended before. The suite closes every store it opens, exactly once.
type Opener func(t *testing.T, dir string) store.Store

// Options adapts the suite to one store implementation.
type Options struct {
	// Volatile marks a store that does not survive Close: the restart cases
	// are skipped.
	Volatile bool
	// OpenLimited opens a store that refuses growth past about maxBytes
	// with store.ErrFull. Nil skips the ErrFull case.
	OpenLimited func(t *testing.T, dir string, maxBytes int64) store.Store
}

// Run runs the whole suite against a persistent store.
func Run(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	RunOptions(t, open, Options{})
}

// RunVolatile runs the suite against a store without persistence, skipping
// the restart cases.
func RunVolatile(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	RunOptions(t, open, Options{Volatile: true})
}

// RunOptions runs the suite with opts.
func RunOptions(t *testing.T, open func(t *testing.T, dir string) store.Store, opts Options) {
	h := &harness{open: open, opts: opts}
	cases := []struct {
		name       string
		persistent bool
		fn         func(t *testing.T, h *harness)
	}{
		{"Empty", false, testEmpty},
		{"RoundTrip", false, testRoundTrip},
		{"AckRemoves", false, testAckRemoves},
		{"QueueDelete", false, testQueueDelete},
		{"DeliveredLatestWins", false, testDeliveredLatestWins},
		{"UnknownIgnored", false, testUnknownIgnored},
		{"ReenqueueReplaces", false, testReenqueueReplaces},
		{"RedefineKeepsOrder", false, testRedefineKeepsOrder},
		{"DataNotRetained", false, testDataNotRetained},
		{"OrderManyBatches", false, testOrderManyBatches},
		{"ConcurrentAppenders", false, testConcurrentAppenders},
		{"RecoverCallbackError", false, testRecoverCallbackError},
		{"ContextCanceled", false, testContextCanceled},
		{"Closed", false, testClosed},
		{"Full", false, testFull},
		{"Restart", true, testRestart},
		{"RestartAfterCompaction", true, testRestartAfterCompaction},
		{"RestartRandom", true, testRestartRandom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.persistent && opts.Volatile {
				t.Skip("volatile store")
			}
			c.fn(t, h)
		})
	}
}

type harness struct {
	open Opener
	opts Options
}

// openStore opens a store and closes it when the test ends unless the test
// closed it first (closeStore).
func (h *harness) openStore(t *testing.T, dir string) *handle {
	t.Helper()
	s := h.open(t, dir)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	hd := &handle{Store: s}
	t.Cleanup(func() { hd.close(t) })
	return hd
}

type handle struct {
	store.Store
	once sync.Once
}

func (hd *handle) close(t *testing.T) {
	t.Helper()
	hd.once.Do(func() {
		if err := hd.Store.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

var ctx = context.Background()

func mustAppend(t *testing.T, s store.Store, m *Model, recs ...store.Record) {
	t.Helper()
	if err := s.Append(ctx, recs); err != nil {
		t.Fatalf("Append(%d records): %v", len(recs), err)
	}
	if m != nil {
		m.Apply(recs)
	}
}

// recoverAll returns a deep copy of what Recover replays.
func recoverAll(t *testing.T, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	err := s.Recover(ctx, func(r store.Record) error {
		r.Data = bytes.Clone(r.Data)
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return out
}

func check(t *testing.T, s store.Store, m *Model) {
	t.Helper()
	if d := Diff(m.Records(), recoverAll(t, s)); d != "" {
		t.Fatalf("Recover differs from the model: %s", d)
	}
}

func enq(q string, id uint64, data string) store.Record {
	return store.Record{Op: store.OpEnqueue, Queue: q, ID: id, Data: []byte(data)}
}
func ack(q string, id uint64) store.Record { return store.Record{Op: store.OpAck, Queue: q, ID: id} }
func delivered(q string, id uint64, n uint32) store.Record {
	return store.Record{Op: store.OpDelivered, Queue: q, ID: id, Count: n}
}
func create(q, def string) store.Record {
	return store.Record{Op: store.OpQueueCreate, Queue: q, Data: []byte(def)}
}
func del(q string) store.Record { return store.Record{Op: store.OpQueueDelete, Queue: q} }

func body(id uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(id) + byte(i)
	}
	return b
}

func testEmpty(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	if got := recoverAll(t, s); len(got) != 0 {
		t.Fatalf("fresh store recovered %d records", len(got))
	}
	if err := s.Append(ctx, nil); err != nil {
		t.Fatalf("Append(nil): %v", err)
	}
	if got := recoverAll(t, s); len(got) != 0 {
		t.Fatalf("after an empty Append: recovered %d records", len(got))
	}
}

func testRoundTrip(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, create("queue://a", "def-a"), create("sub://c.s", "def-s"))
	mustAppend(t, s, &m, enq("queue://a", 1, "one"), enq("queue://b", 2, "two"), enq("sub://c.s", 3, ""))
	mustAppend(t, s, &m, delivered("queue://a", 1, 1))
	mustAppend(t, s, &m, enq("queue://a", 4, "four"), ack("queue://b", 2))
	mustAppend(t, s, &m, create("queue://gone", "x"), enq("queue://gone", 5, "five"))
	mustAppend(t, s, &m, del("queue://gone"))
	check(t, s, &m)
	want := []store.Record{
		create("queue://a", "def-a"), create("sub://c.s", "def-s"),
		enq("queue://a", 1, "one"), delivered("queue://a", 1, 1),
		enq("sub://c.s", 3, ""), enq("queue://a", 4, "four"),
	}
	if d := Diff(want, recoverAll(t, s)); d != "" {
		t.Fatalf("round trip: %s", d)
	}
}

func testAckRemoves(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	for i := uint64(1); i <= 10; i++ {
		mustAppend(t, s, &m, enq("queue://q", i, fmt.Sprint("m", i)))
	}
	mustAppend(t, s, &m, ack("queue://q", 1), ack("queue://q", 5), ack("queue://q", 10))
	mustAppend(t, s, &m, ack("queue://q", 2))
	check(t, s, &m)
	if got := len(m.Live("queue://q")); got != 6 {
		t.Fatalf("model has %d live messages, want 6", got)
	}
	// An enqueue and its ack in one batch leave nothing.
	mustAppend(t, s, &m, enq("queue://q", 11, "x"), ack("queue://q", 11))
	check(t, s, &m)
}

func testQueueDelete(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, create("queue://d", "v1"), create("queue://keep", "k"))
	mustAppend(t, s, &m, enq("queue://d", 1, "a"), enq("queue://keep", 2, "b"), enq("queue://d", 3, "c"))
	mustAppend(t, s, &m, delivered("queue://d", 1, 2))
	mustAppend(t, s, &m, del("queue://d"))
	check(t, s, &m)
	// Implicit queue: messages without a definition, then deleted.
	mustAppend(t, s, &m, enq("queue://implicit", 4, "d"))
	mustAppend(t, s, &m, del("queue://implicit"))
	check(t, s, &m)
	// Re-created after the delete: only what comes after counts.
	mustAppend(t, s, &m, create("queue://d", "v2"), enq("queue://d", 5, "e"))
	mustAppend(t, s, &m, delivered("queue://d", 1, 3)) // the old message is gone
	check(t, s, &m)
	want := []store.Record{
		create("queue://keep", "k"), create("queue://d", "v2"),
		enq("queue://keep", 2, "b"), enq("queue://d", 5, "e"),
	}
	if d := Diff(want, recoverAll(t, s)); d != "" {
		t.Fatalf("after delete and re-create: %s", d)
	}
}

func testDeliveredLatestWins(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, enq("queue://q", 1, "a"), enq("queue://q", 2, "b"))
	mustAppend(t, s, &m, delivered("queue://q", 1, 1))
	mustAppend(t, s, &m, delivered("queue://q", 1, 2), delivered("queue://q", 2, 1))
	mustAppend(t, s, &m, delivered("queue://q", 1, 5))
	mustAppend(t, s, &m, delivered("queue://q", 2, 3), delivered("queue://q", 2, 4))
	check(t, s, &m)
	want := []store.Record{
		enq("queue://q", 1, "a"), delivered("queue://q", 1, 5),
		enq("queue://q", 2, "b"), delivered("queue://q", 2, 4),
	}
	if d := Diff(want, recoverAll(t, s)); d != "" {
		t.Fatal(d)
	}
}

func testUnknownIgnored(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, ack("queue://none", 1), delivered("queue://none", 2, 1), del("queue://none"))
	mustAppend(t, s, &m, enq("queue://q", 1, "a"))
	mustAppend(t, s, &m, ack("queue://q", 99), delivered("queue://q", 98, 1), ack("queue://other", 1))
	check(t, s, &m)
}

func testReenqueueReplaces(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, enq("queue://q", 1, "old"), enq("queue://q", 2, "b"))
	mustAppend(t, s, &m, delivered("queue://q", 1, 3))
	mustAppend(t, s, &m, enq("queue://q", 1, "new"))
	check(t, s, &m)
	want := []store.Record{enq("queue://q", 2, "b"), enq("queue://q", 1, "new")}
	if d := Diff(want, recoverAll(t, s)); d != "" {
		t.Fatal(d)
	}
}

func testRedefineKeepsOrder(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	mustAppend(t, s, &m, create("queue://a", "a1"), create("queue://b", "b1"))
	mustAppend(t, s, &m, create("queue://a", "a2"))
	check(t, s, &m)
	want := []store.Record{create("queue://a", "a2"), create("queue://b", "b1")}
	if d := Diff(want, recoverAll(t, s)); d != "" {
		t.Fatal(d)
	}
}

func testDataNotRetained(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	data := []byte("payload")
	def := []byte("definition")
	recs := []store.Record{
		{Op: store.OpQueueCreate, Queue: "queue://q", Data: def},
		{Op: store.OpEnqueue, Queue: "queue://q", ID: 1, Data: data},
	}
	mustAppend(t, s, &m, recs...)
	copy(data, "XXXXXXX")
	copy(def, "XXXXXXXXXX")
	check(t, s, &m)
}

// randomBatch returns a batch of 1..maxRecs records against a few queues,
// acking and marking live messages of m (and some unknown ones).
func randomBatch(rng *rand.Rand, m *Model, nextID *uint64, maxRecs, maxBody int) []store.Record {
	queues := []string{"queue://q0", "queue://q1", "queue://q2", "topic://t.sub", "queue://q4"}
	n := 1 + rng.IntN(maxRecs)
	recs := make([]store.Record, 0, n)
	for range n {
		q := queues[rng.IntN(len(queues))]
		live := m.Live(q)
		switch p := rng.IntN(100); {
		case p < 45:
			*nextID++
			recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: q, ID: *nextID, Data: body(*nextID, rng.IntN(maxBody+1))})
		case p < 75 && len(live) > 0:
			// Mostly the oldest, as consumers do.
			i := min(rng.IntN(len(live)), rng.IntN(4))
			recs = append(recs, ack(q, live[i]))
		case p < 88 && len(live) > 0:
			recs = append(recs, delivered(q, live[rng.IntN(len(live))], uint32(1+rng.IntN(9))))
		case p < 92:
			recs = append(recs, ack(q, *nextID+1000)) // unknown
		case p < 97:
			recs = append(recs, create(q, fmt.Sprintf("def %s %d", q, rng.IntN(1000))))
		default:
			recs = append(recs, del(q))
		}
	}
	return recs
}

func testOrderManyBatches(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	var m Model
	rng := rand.New(rand.NewPCG(1, 2))
	var nextID uint64
	for i := range 400 {
		mustAppend(t, s, &m, randomBatch(rng, &m, &nextID, 8, 600)...)
		if i%100 == 99 {
			check(t, s, &m)
		}
	}
	check(t, s, &m)
}

func testConcurrentAppenders(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	const workers, perWorker = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("queue://w%d", w%4)
			for i := range perWorker {
				id := uint64(w*perWorker + i + 1)
				recs := []store.Record{{Op: store.OpEnqueue, Queue: q, ID: id, Data: body(id, 100)}}
				if i%3 == 2 { // ack the previous one in the same batch
					recs = append(recs, ack(q, id-1))
				}
				if err := s.Append(ctx, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Append: %v", err)
	}
	// Order across appenders is whatever the store chose; per appender it
	// is the append order.
	got := recoverAll(t, s)
	seen := make(map[uint64]bool)
	last := make(map[int]uint64)
	for _, r := range got {
		if r.Op != store.OpEnqueue {
			t.Fatalf("unexpected %s record", r.Op)
		}
		w := int(r.ID-1) / perWorker
		i := int(r.ID-1) % perWorker
		if i%3 == 1 {
			t.Fatalf("message %d was acked but recovered", r.ID)
		}
		if !bytes.Equal(r.Data, body(r.ID, 100)) {
			t.Fatalf("message %d: wrong data", r.ID)
		}
		if r.ID <= last[w] {
			t.Fatalf("appender %d: message %d recovered after %d", w, r.ID, last[w])
		}
		last[w] = r.ID
		seen[r.ID] = true
	}
	for w := range workers {
		for i := range perWorker {
			id := uint64(w*perWorker + i + 1)
			if i%3 != 1 && !seen[id] {
				t.Fatalf("message %d lost", id)
			}
		}
	}
}

func testRecoverCallbackError(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	mustAppend(t, s, nil, create("queue://q", "d"), enq("queue://q", 1, "a"), enq("queue://q", 2, "b"))
	boom := errors.New("boom")
	calls := 0
	err := s.Recover(ctx, func(store.Record) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Recover returned %v, want the callback's error", err)
	}
	if calls != 2 {
		t.Fatalf("callback called %d times after failing, want it to stop", calls)
	}
}

func testContextCanceled(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Append(cctx, []store.Record{enq("queue://q", 1, "a")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a canceled context: %v, want context.Canceled", err)
	}
	if err := s.Recover(cctx, func(store.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recover with a canceled context: %v, want context.Canceled", err)
	}
}

func testClosed(t *testing.T, h *harness) {
	s := h.openStore(t, t.TempDir())
	mustAppend(t, s, nil, enq("queue://q", 1, "a"))
	s.close(t)
	if err := s.Append(ctx, []store.Record{enq("queue://q", 2, "b")}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := s.Append(ctx, []store.Record{ack("queue://q", 1)}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append(ack) after Close: %v, want ErrClosed", err)
	}
	if err := s.Recover(ctx, func(store.Record) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Recover after Close: %v, want ErrClosed", err)
	}
}

func testFull(t *testing.T, h *harness) {
	if h.opts.OpenLimited == nil {
		t.Skip("no OpenLimited")
	}
	const limit = 64 << 10
	s := h.opts.OpenLimited(t, t.TempDir(), limit)
	hd := &handle{Store: s}
	t.Cleanup(func() { hd.close(t) })
	var m Model
	mustAppend(t, s, &m, create("queue://full", "d"))
	var ids []uint64
	full := false
	for id := uint64(1); id <= 4*limit/1024; id++ {
		err := s.Append(ctx, []store.Record{{Op: store.OpEnqueue, Queue: "queue://full", ID: id, Data: body(id, 1024)}})
		if errors.Is(err, store.ErrFull) {
			full = true
			break
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		m.Apply([]store.Record{{Op: store.OpEnqueue, Queue: "queue://full", ID: id, Data: body(id, 1024)}})
		ids = append(ids, id)
	}
	if !full {
		t.Fatalf("%d KiB stored in a %d KiB store without ErrFull", len(ids), limit>>10)
	}
	if len(ids) < limit/1024/4 {
		t.Fatalf("ErrFull after only %d KiB of a %d KiB store", len(ids), limit>>10)
	}
	check(t, s, &m) // the refused message was not written
	// A new queue is growth too.
	big := store.Record{Op: store.OpQueueCreate, Queue: "queue://more", Data: body(0, 2048)}
	if err := s.Append(ctx, []store.Record{big}); !errors.Is(err, store.ErrFull) {
		t.Fatalf("queue create on a full store: %v, want ErrFull", err)
	}
	// Consumers drain a full store: delivered marks and acks are accepted.
	mustAppend(t, s, &m, delivered("queue://full", ids[0], 1))
	for _, id := range ids {
		mustAppend(t, s, &m, ack("queue://full", id))
	}
	check(t, s, &m)
	// And once drained, producers get room again.
	mustAppend(t, s, &m, enq("queue://full", 1<<20, "again"))
	check(t, s, &m)
}

func testRestart(t *testing.T, h *harness) {
	dir := t.TempDir()
	var m Model
	s := h.openStore(t, dir)
	mustAppend(t, s, &m, create("queue://a", "def-a"), create("sub://c.s", "def-s"))
	mustAppend(t, s, &m, enq("queue://a", 1, "one"), enq("queue://a", 2, "two"), enq("sub://c.s", 3, "three"))
	mustAppend(t, s, &m, delivered("queue://a", 2, 1), ack("queue://a", 1))
	s.close(t)

	s = h.openStore(t, dir)
	check(t, s, &m)
	mustAppend(t, s, &m, enq("queue://a", 4, "four"), delivered("queue://a", 2, 2), del("sub://c.s"))
	mustAppend(t, s, &m, create("queue://b", "def-b"))
	s.close(t)

	s = h.openStore(t, dir)
	check(t, s, &m)
	s.close(t)
	// Opened and closed without appending: still the same.
	s = h.openStore(t, dir)
	check(t, s, &m)
}

// testRestartAfterCompaction writes long-lived state first (definitions, a
// message with a delivered count, a deleted queue), then enough churn that a
// store reclaiming fully consumed log space does so, and checks that the
// long-lived state survives a restart.
func testRestartAfterCompaction(t *testing.T, h *harness) {
	dir := t.TempDir()
	var m Model
	s := h.openStore(t, dir)
	mustAppend(t, s, &m, create("queue://keep", "keep-v1"), create("sub://c.durable", "sub-def"))
	mustAppend(t, s, &m, create("queue://dropped", "x"), enq("queue://dropped", 1, "gone"))
	mustAppend(t, s, &m, enq("queue://keep", 2, "long-lived"))
	mustAppend(t, s, &m, delivered("queue://keep", 2, 1))
	mustAppend(t, s, &m, del("queue://dropped"))
	// Each churn round enqueues 1 KiB and acks the previous round's message.
	var id uint64 = 100
	churn := func(rounds int) {
		for range rounds {
			id++
			recs := []store.Record{{Op: store.OpEnqueue, Queue: "queue://churn", ID: id, Data: body(id, 1024)}}
			if id > 101 {
				recs = append(recs, ack("queue://churn", id-1))
			}
			mustAppend(t, s, &m, recs...)
		}
	}
	churn(600)
	mustAppend(t, s, &m, create("queue://keep", "keep-v2"), delivered("queue://keep", 2, 2))
	churn(600)
	// Acked across the churn: its enqueue is old, its ack new.
	mustAppend(t, s, &m, enq("queue://late-ack", 3, "acked later"), enq("queue://late-ack", 4, "stays"))
	churn(400)
	mustAppend(t, s, &m, ack("queue://late-ack", 3))
	churn(600)
	check(t, s, &m)
	s.close(t)

	s = h.openStore(t, dir)
	check(t, s, &m)
	churn(300)
	s.close(t)
	s = h.openStore(t, dir)
	check(t, s, &m)
}

func testRestartRandom(t *testing.T, h *harness) {
	dir := t.TempDir()
	var m Model
	rng := rand.New(rand.NewPCG(3, 4))
	var nextID uint64
	for round := range 5 {
		s := h.openStore(t, dir)
		check(t, s, &m)
		for range 200 {
			mustAppend(t, s, &m, randomBatch(rng, &m, &nextID, 6, 2000)...)
		}
		check(t, s, &m)
		s.close(t)
		t.Logf("round %d: %d live records", round, len(m.Records()))
	}
	s := h.openStore(t, dir)
	check(t, s, &m)
}
