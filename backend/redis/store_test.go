package redis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// groupOf names the group of a conformance directory: reopening the same
// directory reopens the same group.
func groupOf(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return "t" + hex.EncodeToString(h[:8])
}

// TestConformance runs the store suite on one redis-server, each test
// directory its own group.
func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendFsync: "everysec"})
	opener := func(t *testing.T, dir string, maxSize int64) store.Store {
		s, err := Open(ctx, Options{URL: srv.URL(), Group: groupOf(dir), MaxSize: maxSize, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	storetest.RunOptions(t, func(t *testing.T, dir string) store.Store { return opener(t, dir, 0) },
		storetest.Options{OpenLimited: opener})
}

// randomRecord returns a record on one of queues and a few ids, so that a
// batch enqueues, acks, marks and re-enqueues the same message many times,
// and creates and deletes queues in between.
func randomRecord(rng *rand.Rand, queues []string, ids int, tag string) store.Record {
	q := queues[rng.IntN(len(queues))]
	id := uint64(1 + rng.IntN(ids))
	switch p := rng.IntN(100); {
	case p < 40:
		return store.Record{Op: store.OpEnqueue, Queue: q, ID: id, Data: bytes.Repeat([]byte{'m'}, 1+rng.IntN(200))}
	case p < 65:
		return ack(q, id)
	case p < 90:
		return store.Record{Op: store.OpDelivered, Queue: q, ID: id, Count: uint32(rng.IntN(5))}
	case p < 96:
		return store.Record{Op: store.OpQueueCreate, Queue: q, Data: []byte("def" + tag)}
	default:
		return store.Record{Op: store.OpQueueDelete, Queue: q}
	}
}

// TestBigBatchesFold checks the fold of a batch into its net effect per
// message (encode.go) and the script's bookkeeping against the model,
// with batches of up to 300 records over a few ids, and the byte counter
// against the data stored.
func TestBigBatchesFold(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	s := open(t, srv.URL(), "fold", 0)
	var m storetest.Model
	rng := rand.New(rand.NewPCG(5, 6))
	queues := []string{"queue://a", "queue://b", "topic://t.s", "queue://with\x00nul"}
	for round := range 60 {
		recs := make([]store.Record, 1+rng.IntN(300))
		for i := range recs {
			recs[i] = randomRecord(rng, queues, 20, fmt.Sprint(round))
		}
		mustAppend(t, s, &m, recs...)
		check(t, s, &m)
	}
	checkBytes(t, srv, s, &m)
}

// TestAppendScriptManyBatches sends calls of up to 30 random batches, as
// the writer does under concurrent Appends, with a size limit that refuses
// some: the result must be the accepted batches applied one after the
// other, and the refused ones not at all.
func TestAppendScriptManyBatches(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	const limit = 4000
	s := open(t, srv.URL(), "many", limit)
	var m storetest.Model
	rng := rand.New(rand.NewPCG(7, 8))
	queues := []string{"queue://a", "queue://b", "queue://c"}
	refused, accepted := 0, 0
	for call := range 150 {
		nb := 1 + rng.IntN(30)
		recs := make([][]store.Record, nb)
		batches := make([]*batch, nb)
		for b := range nb {
			for range 1 + rng.IntN(12) {
				recs[b] = append(recs[b], randomRecord(rng, queues, 40, fmt.Sprint(call)))
			}
			eb := encodeBatch(recs[b])
			batches[b] = &eb
		}
		res, err := appendScript.Run(ctx, s.client, s.keys, s.callArgs("", uint64(1000+call), batches)...).Text()
		if err != nil || len(res) != nb {
			t.Fatalf("call %d: %q, %v", call, res, err)
		}
		for b := range nb {
			if res[b] == 'F' {
				refused++
				continue
			}
			accepted++
			m.Apply(recs[b])
		}
		check(t, s, &m)
	}
	checkBytes(t, srv, s, &m)
	t.Logf("%d batches applied, %d refused as full", accepted, refused)
	if refused == 0 || accepted < refused {
		t.Fatalf("%d batches applied, %d refused: the limit is not exercised", accepted, refused)
	}
}

// TestRecoverPages recovers more queues and messages than one page holds,
// over several queues, and stops at a callback error or a canceled
// context.
func TestRecoverPages(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	s := open(t, srv.URL(), "pages", 0)
	var m storetest.Model
	var recs []store.Record
	for i := range 2*recoverPage + 17 {
		recs = append(recs, store.Record{Op: store.OpQueueCreate, Queue: fmt.Sprintf("queue://q%04d", i%(recoverPage+3)), Data: []byte(fmt.Sprint("d", i))})
	}
	mustAppend(t, s, &m, recs...)
	for id := uint64(1); id <= 3*recoverPage+5; id += 100 {
		recs = recs[:0]
		for k := id; k < id+100; k++ {
			q := fmt.Sprintf("queue://q%d", k%3)
			recs = append(recs, enq(q, k, fmt.Sprint("m", k)))
			if k%7 == 0 {
				recs = append(recs, store.Record{Op: store.OpDelivered, Queue: q, ID: k, Count: uint32(k % 5)})
			}
			if k%11 == 0 {
				recs = append(recs, ack(q, k))
			}
		}
		mustAppend(t, s, &m, recs...)
	}
	check(t, s, &m)

	boom := errors.New("boom")
	calls := 0
	err := s.Recover(ctx, func(store.Record) error {
		if calls++; calls == recoverPage+recoverPage/2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != recoverPage+recoverPage/2 {
		t.Fatalf("Recover = %v after %d calls", err, calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	calls = 0
	err = s.Recover(cctx, func(store.Record) error {
		if calls++; calls == 2*recoverPage {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recover with a context canceled midway = %v", err)
	}
}

// TestGroupCommit: concurrent appenders share script calls, and each one's
// batches are applied in its order.
func TestGroupCommit(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, srv.URL(), "group", 0)
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprint("queue://w", w)
			for i := range each {
				if err := s.Append(ctx, []store.Record{enq(q, uint64(i+1), "x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	calls := s.calls.Load()
	t.Logf("%d appends in %d script calls", workers*each, calls)
	if calls >= workers*each {
		t.Fatalf("%d appends took %d calls: no group commit", workers*each, calls)
	}
	got := recoverAll(t, s)
	if len(got) != workers*each {
		t.Fatalf("recovered %d messages, want %d", len(got), workers*each)
	}
	next := map[string]uint64{}
	for _, r := range got {
		if r.ID != next[r.Queue]+1 {
			t.Fatalf("%s: message %d after %d", r.Queue, r.ID, next[r.Queue])
		}
		next[r.Queue] = r.ID
	}
}

// TestClientOption: a ready client is used and left open by Close.
func TestClientOption(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer c.Close()
	s, err := Open(ctx, Options{Client: c, Group: "client", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, nil, enq("queue://c", 1, "one"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.HLen(ctx, "{mqgate:client}:m:queue://c").Result(); err != nil || n != 1 {
		t.Fatalf("after Close, the caller's client: HLEN = %d, %v", n, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true})
	srv.Kill()
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s, err := Open(octx, Options{URL: srv.URL(), Logger: testLogger(t)}); err == nil {
		s.Close()
		t.Fatal("Open succeeded with Redis down")
	}
}
