package disk

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// BenchmarkAppend appends 1 KiB records, one per Append, from 1 and 16
// goroutines. With FsyncAlways the 16 appenders share syncs (group
// commit): compare records/s and records/sync with the single appender.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncNever} {
		for _, appenders := range []int{1, 16} {
			b.Run(fmt.Sprintf("fsync=%s/appenders=%d", policy, appenders), func(b *testing.B) {
				j := openLogged(b, Options{Dir: b.TempDir(), Fsync: policy, Logger: zerolog.Nop()})
				data := make([]byte, 1024)
				var next atomic.Uint64
				var wg sync.WaitGroup
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				for w := range appenders {
					n := b.N / appenders
					if w < b.N%appenders {
						n++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						recs := []store.Record{{Op: store.OpEnqueue, Queue: "queue://bench", Data: data}}
						for range n {
							recs[0].ID = next.Add(1)
							if err := j.Append(ctx, recs); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
				if s := j.syncs.Load(); s > 0 {
					b.ReportMetric(float64(b.N)/float64(s), "records/sync")
				}
			})
		}
	}
}

// TestRecoverMillion writes a million 256-byte messages (a quarter of them
// acked), then reports how long Open (the index rebuild) and Recover (the
// bodies read back) take, and the index's memory per message.
func TestRecoverMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300 MB: skipped in -short")
	}
	n := 1_000_000
	if raceEnabled {
		n = 100_000 // same code paths, race-checked, in reasonable time
	}
	dir := t.TempDir()
	opts := Options{Dir: dir, Fsync: FsyncNever, Logger: zerolog.Nop()}
	j := openLogged(t, opts)
	data := make([]byte, 256)
	const batch = 1000
	recs := make([]store.Record, 0, batch+batch/4)
	start := time.Now()
	for id := 1; id <= n; id += batch {
		recs = recs[:0]
		for k := id; k < id+batch && k <= n; k++ {
			recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: fmt.Sprintf("queue://q%d", k%8), ID: uint64(k), Data: data})
			if k%4 == 0 {
				recs = append(recs, store.Record{Op: store.OpAck, Queue: fmt.Sprintf("queue://q%d", (k-2)%8), ID: uint64(k - 2)})
			}
		}
		appendOK(t, j, nil, recs...)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	written := time.Since(start)

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start = time.Now()
	j = openLogged(t, opts)
	opened := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)

	start = time.Now()
	got := 0
	if err := j.Recover(ctx, func(r store.Record) error {
		if r.Op == store.OpEnqueue {
			got++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recovered := time.Since(start)
	if want := n - n/4; got != want {
		t.Fatalf("recovered %d messages, want %d", got, want)
	}
	t.Logf("%d messages (%d live, %d MB of segments): write %v, Open %v (%.0f msgs/s), Recover %v (%.0f msgs/s), index %.0f bytes/live message",
		n, got, j.Stats().Bytes>>20, written.Round(time.Millisecond),
		opened.Round(time.Millisecond), float64(n)/opened.Seconds(),
		recovered.Round(time.Millisecond), float64(got)/recovered.Seconds(),
		float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(got))
}
