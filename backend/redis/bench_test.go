package redis

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
)

// BenchmarkAppend appends one 1 KiB record per Append from 16 goroutines:
// they share script calls (group commit).
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	st := open(b, srv.URL(), "bench", 0)
	data := make([]byte, 1024)
	var id atomic.Uint64
	b.SetBytes(1024)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1)
			if err := st.Append(ctx, []store.Record{{Op: store.OpEnqueue, Queue: "queue://b", ID: n, Data: data}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCommitter appends as the broker's committer does (one batch at
// a time: depth 1), each batch carrying messages' lives in steps: the
// enqueues of new 1 KiB messages, the delivered marks of the previous
// batch's messages and the acks of the batch before. An op is one
// message's three records, on Redis with appendfsync always. With depth 2
// the next batch is queued while the previous one is in flight, as a
// committer that kept two Appends going would.
//
// Besides msgs/s it reports Redis's CPU time and script time per message,
// which a shared machine disturbs less than the wall clock.
func BenchmarkCommitter(b *testing.B) {
	for _, depth := range []int{1, 2} {
		for _, per := range []int{50, 250} {
			b.Run(fmt.Sprintf("depth=%d/msgs=%d", depth, per), func(b *testing.B) {
				benchCommitter(b, depth, per)
			})
		}
	}
}

func benchCommitter(b *testing.B, depth, per int) {
	srv := redistest.Start(b, redistest.Options{AppendFsync: "always"})
	st := open(b, srv.URL(), "bench", 0)
	data := make([]byte, 1024)
	b.SetBytes(int64(len(data)))
	cpu0, script0 := usage(b, srv)
	b.ResetTimer()
	var inFlight []*request
	calls := 0
	for first := 1; first <= b.N+2*per; first += per {
		recs := make([]store.Record, 0, 3*per)
		for id := max(first-2*per, 1); id < first-per; id++ {
			recs = append(recs, ack("queue://bench", uint64(id)))
		}
		for id := max(first-per, 1); id < first; id++ {
			recs = append(recs, store.Record{Op: store.OpDelivered, Queue: "queue://bench", ID: uint64(id), Count: 1})
		}
		for id := first; id < first+per && id <= b.N; id++ {
			recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: "queue://bench", ID: uint64(id), Data: data})
		}
		if len(inFlight) == depth {
			if err := <-inFlight[0].done; err != nil {
				b.Fatal(err)
			}
			inFlight = inFlight[1:]
		}
		req, err := st.submit(ctx, recs)
		if err != nil {
			b.Fatal(err)
		}
		inFlight = append(inFlight, req)
		calls++
	}
	for _, r := range inFlight {
		if err := <-r.done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu1, script1 := usage(b, srv)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "redis-cpu-µs/msg")
	b.ReportMetric(float64((script1-script0).Microseconds())/float64(b.N), "script-µs/msg")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(calls), "µs/append")
}

// BenchmarkEncode folds and encodes a committer's batch of 250 messages'
// steps (see BenchmarkCommitter) on the appender's goroutine.
func BenchmarkEncode(b *testing.B) {
	const per, first = 250, 1000
	data := make([]byte, 1024)
	var recs []store.Record
	for id := first - 2*per; id < first-per; id++ {
		recs = append(recs, ack("queue://bench", uint64(id)))
	}
	for id := first - per; id < first; id++ {
		recs = append(recs, store.Record{Op: store.OpDelivered, Queue: "queue://bench", ID: uint64(id), Count: 1})
	}
	for id := first; id < first+per; id++ {
		recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: "queue://bench", ID: uint64(id), Data: data})
	}
	b.ReportAllocs()
	for b.Loop() {
		encodeBatch(recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/msg")
}

// usage returns the server's CPU time so far (Linux) and the time it
// spent running scripts (INFO commandstats).
func usage(b *testing.B, srv *redistest.Server) (cpu, script time.Duration) {
	b.Helper()
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", srv.Pid())); err == nil {
		// utime and stime are fields 14 and 15; the name before them is
		// parenthesized.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(u+k) * 10 * time.Millisecond // USER_HZ 100
	}
	info, err := srv.Client(b).Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		for _, kv := range strings.Split(line, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				script += time.Duration(n) * time.Microsecond
			}
		}
	}
	return cpu, script
}
