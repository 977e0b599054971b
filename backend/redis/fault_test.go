package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// TestRedisKilled: appenders run while Redis is SIGKILLed and restarted on
// the same port (appendonly yes, appendfsync always). While it is down
// Append fails; every Append that succeeded, before or after, is
// recovered, in each appender's order; Append works again once Redis is
// back, and after a clean restart too.
func TestRedisKilled(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendFsync: "always"})
	s := open(t, srv.URL(), "killed", 0)
	mustAppend(t, s, nil, store.Record{Op: store.OpQueueCreate, Queue: "queue://k0", Data: []byte("def")})

	const workers = 8
	var (
		mu    sync.Mutex
		acked = make([][]uint64, workers)
		okN   atomic.Int64
		failN atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		down  atomic.Bool // from the kill's end to the restart's start
		wrong atomic.Int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprint("queue://k", w)
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uint64(w)<<32 | i
				wasDown := down.Load()
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := s.Append(actx, []store.Record{enq(q, id, fmt.Sprint("m", id))})
				cancel()
				if err != nil {
					failN.Add(1)
					continue
				}
				if wasDown && down.Load() {
					wrong.Add(1) // Redis was down for the whole call
				}
				okN.Add(1)
				mu.Lock()
				acked[w] = append(acked[w], id)
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 30*time.Second, func() bool { return okN.Load() >= 300 }, "300 appends before the kill")
	srv.Kill()
	down.Store(true)
	fails := failN.Load()
	waitFor(t, 30*time.Second, func() bool { return failN.Load() >= fails+workers }, "appends failing while Redis is down")
	if _, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		t.Fatal("something answers on the killed server's port")
	}
	if wrong.Load() != 0 {
		t.Fatalf("%d appends succeeded with Redis down", wrong.Load())
	}

	down.Store(false)
	srv.Restart()
	oks := okN.Load()
	waitFor(t, 60*time.Second, func() bool { return okN.Load() >= oks+300 }, "300 appends after the restart")
	close(stop)
	wg.Wait()
	t.Logf("%d appends acknowledged, %d failed", okN.Load(), failN.Load())

	got := recoverAll(t, s)
	if len(got) == 0 || got[0].Op != store.OpQueueCreate || string(got[0].Data) != "def" {
		t.Fatalf("queue definition lost: first record %+v", got[:min(1, len(got))])
	}
	seen := map[uint64]bool{}
	last := map[string]uint64{}
	for _, r := range got[1:] {
		if r.Op != store.OpEnqueue {
			t.Fatalf("unexpected %+v", r)
		}
		seen[r.ID] = true
		if r.ID <= last[r.Queue] {
			t.Fatalf("%s: message %x recovered after %x", r.Queue, r.ID, last[r.Queue])
		}
		last[r.Queue] = r.ID
	}
	for w := range workers {
		for _, id := range acked[w] {
			if !seen[id] {
				t.Fatalf("acknowledged message %x lost", id)
			}
		}
	}

	srv.Stop()
	srv.Restart()
	waitFor(t, 30*time.Second, func() bool {
		return s.Append(ctx, []store.Record{ack("queue://none", 1)}) == nil
	}, "Append after the second restart")
	if n := len(recoverAll(t, s)); n != len(got) {
		t.Fatalf("after a clean restart: %d records, was %d", n, len(got))
	}
}

// TestBlackHole: the network between the store and Redis drops everything
// without closing connections. Appends fail within the client's timeouts
// (they do not hang); once the network heals Appends work again, and what
// was acknowledged is there. The Append that failed may or may not have
// been applied (its request may reach Redis after the heal), but never
// after a later one: a late request is refused as stale.
func TestBlackHole(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	px := newProxy(t, srv.Addr)
	s := openClient(t, px.Addr(), "hole")
	mustAppend(t, s, nil, enq("queue://h", 1, "before"))

	px.Partition()
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	err := s.Append(actx, []store.Record{ack("queue://h", 1), enq("queue://h", 2, "cut off")})
	cancel()
	if err == nil {
		t.Fatal("Append succeeded with the network cut")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Append took %v to fail", d)
	}
	t.Logf("Append failed after %v: %v", time.Since(start).Round(time.Millisecond), err)

	px.Heal()
	waitFor(t, 30*time.Second, func() bool {
		return s.Append(ctx, []store.Record{enq("queue://h", 3, "after")}) == nil
	}, "Append after the heal")
	got := recoverAll(t, s)
	var ids []uint64
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	// [1 3]: the failed call did not apply; [2 3]: it did, before the
	// later one. [1 2 3] would break its atomicity, [3 2] the order.
	if r := fmt.Sprint(ids); r != "[1 3]" && r != "[2 3]" {
		t.Fatalf("recovered %v, want [1 3] or [2 3]", ids)
	}
}

// TestMaxmemoryIsFull: a Redis at its maxmemory (noeviction) refuses a
// growing batch at its first write: the producer gets store.ErrFull,
// nothing of the batch is stored, and acks still go through and drain it.
func TestMaxmemoryIsFull(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{NoPersistence: true, Args: []string{"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"}})
	s := open(t, srv.URL(), "oom", 0)
	var m storetest.Model
	data := bytes.Repeat([]byte("x"), 32<<10)
	var id uint64
	full := false
	for range 1000 {
		recs := make([]store.Record, 4)
		for k := range recs {
			id++
			recs[k] = store.Record{Op: store.OpEnqueue, Queue: "queue://oom", ID: id, Data: data}
		}
		err := s.Append(ctx, recs)
		if errors.Is(err, store.ErrFull) {
			full = true
			t.Logf("full after %d messages: %v", id-4, err)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Apply(recs)
	}
	if !full {
		t.Fatal("no ErrFull from a Redis at maxmemory")
	}
	check(t, s, &m) // the refused batch wrote nothing
	// Acks go through, also of unknown messages and with delivery marks,
	// and drain the store.
	live := m.Live("queue://oom")
	mustAppend(t, s, &m, ack("queue://oom", id+100), store.Record{Op: store.OpDelivered, Queue: "queue://oom", ID: live[0], Count: 1})
	for _, l := range live {
		mustAppend(t, s, &m, ack("queue://oom", l))
	}
	mustAppend(t, s, &m, enq("queue://oom", id+1, "room again"))
	check(t, s, &m)
	checkBytes(t, srv, s, &m)
}
