package disk

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// crashState is a copy of the journal directory taken inside the writer,
// as a crash at that point would leave it.
type crashState struct {
	dir    string
	event  string
	issued int64 // Appends issued when it was taken: state is after issued-1 or issued
}

// copyDir copies the segment files of src into a new directory.
func copyDir(t *testing.T, src string, skip map[string]bool) string {
	t.Helper()
	dst := t.TempDir()
	names, err := filepath.Glob(filepath.Join(src, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !skip[name] {
			copyFile(t, name, filepath.Join(dst, filepath.Base(name)))
		}
	}
	return dst
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringCompaction takes copies of the directory at every write,
// carry and unlink of a random workload with tiny segments (including
// copies where a random subset of the last round's unlinks did not reach
// the disk) and checks that each copy opens to a state the appender saw.
func TestCrashDuringCompaction(t *testing.T) {
	steps := 600
	if testing.Short() {
		steps = 200
	}
	defer func(n int) { carryFrameBytes = n }(carryFrameBytes)
	carryFrameBytes = 200 // several carry frames per compaction
	dir := t.TempDir()
	j := open(t, Options{Dir: dir, Fsync: FsyncNever, SegmentSize: 2 << 10})
	rng := rand.New(rand.NewPCG(7, 8))      // the appender's
	hookRng := rand.New(rand.NewPCG(9, 10)) // the writer goroutine's
	var issued atomic.Int64
	var states []crashState
	var before map[string]string // the last "removing" round's files, copied
	j.testHook = func(event string, paths []string) {
		switch event {
		case "removing":
			before = make(map[string]string)
			keep := t.TempDir()
			for _, p := range paths {
				before[p] = filepath.Join(keep, filepath.Base(p))
				copyFile(t, p, before[p])
			}
			return
		case "removed":
			// Unlinks of one round are synced together: any subset may be
			// lost in a crash.
			d := copyDir(t, dir, nil)
			for p, saved := range before {
				if hookRng.IntN(2) == 0 {
					copyFile(t, saved, filepath.Join(d, filepath.Base(p)))
				}
			}
			states = append(states, crashState{d, "removed-partly", issued.Load()})
		}
		if hookRng.IntN(3) == 0 || event != "written" {
			states = append(states, crashState{copyDir(t, dir, nil), event, issued.Load()})
		}
	}

	var m storetest.Model
	models := [][]store.Record{m.Records()}
	queues := []string{"queue://a", "queue://b", "topic://t.s"}
	var nextID uint64
	live := func(q string) []uint64 { return m.Live(q) }
	for range steps {
		var recs []store.Record
		for range 1 + rng.IntN(4) {
			q := queues[rng.IntN(len(queues))]
			ids := live(q)
			switch p := rng.IntN(100); {
			case p < 45:
				nextID++
				recs = append(recs, enq(q, nextID, rng.IntN(600)))
			case p < 80 && len(ids) > 0:
				recs = append(recs, ack(q, ids[min(rng.IntN(len(ids)), rng.IntN(3))]))
			case p < 90 && len(ids) > 0:
				recs = append(recs, store.Record{Op: store.OpDelivered, Queue: q, ID: ids[rng.IntN(len(ids))], Count: uint32(rng.IntN(9))})
			case p < 96:
				recs = append(recs, store.Record{Op: store.OpQueueCreate, Queue: q, Data: fmt.Appendf(nil, "def-%d", rng.IntN(100))})
			default:
				recs = append(recs, store.Record{Op: store.OpQueueDelete, Queue: q})
			}
		}
		issued.Add(1)
		appendOK(t, j, &m, recs...)
		models = append(models, m.Records())
	}
	j.Close()
	t.Logf("%d crash states", len(states))
	if len(states) < 50 {
		t.Fatalf("only %d crash states: the workload does not compact", len(states))
	}
	events := make(map[string]int)
	for _, st := range states {
		events[st.event]++
		cj, err := Open(Options{Dir: st.dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("crash state %s after append %d: Open: %v", st.event, st.issued, err)
		}
		got := recoverAll(t, cj)
		cj.Close()
		dNew := storetest.Diff(models[st.issued], got)
		dOld := storetest.Diff(models[st.issued-1], got)
		if dNew != "" && dOld != "" {
			t.Fatalf("crash state %s during append %d: neither before (%s) nor after (%s)", st.event, st.issued, dOld, dNew)
		}
	}
	t.Logf("events: %v", events)
}
