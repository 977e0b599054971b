package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

var ctx = context.Background()

// logBuf collects a journal's log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// open opens a journal logging to t, closed when the test ends.
func open(t testing.TB, opts Options) *Journal {
	t.Helper()
	opts.Logger = testLogger(t)
	return openLogged(t, opts)
}

// openLogged is open with the caller's logger.
func openLogged(t testing.TB, opts Options) *Journal {
	t.Helper()
	j, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendOK(t testing.TB, j *Journal, m *storetest.Model, recs ...store.Record) {
	t.Helper()
	if err := j.Append(ctx, recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if m != nil {
		m.Apply(recs)
	}
}

func recoverAll(t testing.TB, j *Journal) []store.Record {
	t.Helper()
	var out []store.Record
	if err := j.Recover(ctx, func(r store.Record) error {
		r.Data = bytes.Clone(r.Data)
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return out
}

func checkModel(t testing.TB, j *Journal, m *storetest.Model) {
	t.Helper()
	if d := storetest.Diff(m.Records(), recoverAll(t, j)); d != "" {
		t.Fatalf("Recover differs from the model: %s", d)
	}
}

func enq(q string, id uint64, n int) store.Record {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(id + uint64(i))
	}
	return store.Record{Op: store.OpEnqueue, Queue: q, ID: id, Data: data}
}

func ack(q string, id uint64) store.Record { return store.Record{Op: store.OpAck, Queue: q, ID: id} }

// settle returns once the writer has finished what it does after the
// caller's last Append (reclaiming segments runs after Append returns): it
// goes through the writer with a no-op record.
func settle(t testing.TB, j *Journal) {
	t.Helper()
	appendOK(t, j, nil, ack("queue://settle", 0))
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// writeBatches writes n batches of 3 messages each, closing and reopening
// before the last one so that the caller learns where it starts and ends.
func writeBatches(t *testing.T, dir string, n int) (m storetest.Model, lastStart, lastEnd int64, seg string) {
	t.Helper()
	j := open(t, Options{Dir: dir, Fsync: FsyncNever})
	id := uint64(0)
	batch := func(j *Journal, m *storetest.Model) {
		recs := make([]store.Record, 3)
		for i := range recs {
			id++
			recs[i] = enq("queue://q", id, 200)
		}
		appendOK(t, j, m, recs...)
	}
	for range n - 1 {
		batch(j, &m)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	seg = segFiles(t, dir)[0]
	lastStart = fileSize(t, seg)
	j = open(t, Options{Dir: dir, Fsync: FsyncNever})
	batch(j, nil) // the model leaves it out: the test breaks it
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return m, lastStart, fileSize(t, seg), seg
}

func TestTornTailDropsLastBatch(t *testing.T) {
	for _, cut := range []int64{1, frameHeaderSize - 1, frameHeaderSize, frameHeaderSize + 1, -1} {
		t.Run(fmt.Sprint("cut", cut), func(t *testing.T) {
			dir := t.TempDir()
			m, start, end, seg := writeBatches(t, dir, 10)
			at := start + cut
			if cut < 0 {
				at = end + cut
			}
			if err := os.Truncate(seg, at); err != nil {
				t.Fatal(err)
			}
			var logs logBuf
			j := openLogged(t, Options{Dir: dir, Logger: zerolog.New(&logs)})
			checkModel(t, j, &m)
			if got := fileSize(t, seg); got != start {
				t.Fatalf("segment is %d bytes after repair, want %d", got, start)
			}
			if !strings.Contains(logs.String(), "torn tail truncated") ||
				!strings.Contains(logs.String(), fmt.Sprintf(`"dropped_bytes":%d`, at-start)) {
				t.Fatalf("repair not logged with the bytes dropped: %s", logs.String())
			}
			// The repaired journal takes appends and reopens cleanly.
			appendOK(t, j, &m, enq("queue://q", 1000, 10))
			j.Close()
			j = open(t, Options{Dir: dir})
			checkModel(t, j, &m)
		})
	}
}

func TestFlippedByteInLastBatchDropsIt(t *testing.T) {
	for _, where := range []string{"length", "crc", "type", "payload", "end"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			m, start, end, seg := writeBatches(t, dir, 10)
			off := map[string]int64{"length": start, "crc": start + 5, "type": start + 8, "payload": start + 40, "end": end - 1}[where]
			flipByte(t, seg, off)
			var logs logBuf
			j := openLogged(t, Options{Dir: dir, Logger: zerolog.New(&logs)})
			checkModel(t, j, &m)
			if !strings.Contains(logs.String(), "torn tail truncated") {
				t.Fatalf("repair not logged: %s", logs.String())
			}
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptionBeforeValidFramesIsAnError(t *testing.T) {
	dir := t.TempDir()
	_, start, _, seg := writeBatches(t, dir, 10)
	// A payload byte of the second-to-last batch: whole frames follow it,
	// so this is not a torn write but damage to acknowledged data.
	flipByte(t, seg, segHeaderSize+40)
	_, err := Open(Options{Dir: dir, Logger: testLogger(t)})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != seg || ce.Offset != segHeaderSize {
		t.Fatalf("Open: %v, want a CorruptError for %s at %d", err, seg, segHeaderSize)
	}
	if !strings.Contains(err.Error(), filepath.Base(seg)) || !strings.Contains(err.Error(), "offset 16") {
		t.Fatalf("error %q does not name the file and offset", err)
	}
	if got := fileSize(t, seg); got <= start {
		t.Fatalf("Open truncated the segment to %d bytes", got)
	}
}

func TestCorruptMiddleSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Options{Dir: dir, Fsync: FsyncNever, SegmentSize: 4 << 10})
	var m storetest.Model
	for id := uint64(1); id <= 40; id++ {
		appendOK(t, j, &m, enq("queue://q", id, 500))
	}
	j.Close()
	segs := segFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(segs))
	}
	victim := segs[1]
	// Second frame of the segment.
	off := int64(segHeaderSize)
	var hdr [frameHeaderSize]byte
	f, err := os.Open(victim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	off += frameHeaderSize + int64(hdr[0]) | int64(hdr[1])<<8
	flipByte(t, victim, off+frameHeaderSize+3)

	_, err = Open(Options{Dir: dir, Logger: testLogger(t)})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != victim || ce.Offset != off {
		t.Fatalf("Open: %v, want a CorruptError for %s at offset %d", err, victim, off)
	}
	if !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
		t.Fatalf("error %q does not name the file and offset", err)
	}
	t.Log(err)
	// A torn (short) middle segment is an error too: it was followed by a
	// roll, so its data had been acknowledged.
	flipByte(t, victim, off+frameHeaderSize+3)
	if err := os.Truncate(victim, fileSize(t, victim)-1); err != nil {
		t.Fatal(err)
	}
	if _, err = Open(Options{Dir: dir}); !errors.As(err, &ce) || ce.Path != victim {
		t.Fatalf("Open with a short middle segment: %v, want a CorruptError for %s", err, victim)
	}
}

func TestTornSegmentHeaderIsRepaired(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Options{Dir: dir, Fsync: FsyncNever})
	var m storetest.Model
	appendOK(t, j, &m, enq("queue://q", 1, 100))
	j.Close()
	// A crash right after a roll created the next file.
	next := filepath.Join(dir, "0000000002.log")
	if err := os.WriteFile(next, []byte("MQG"), 0o644); err != nil {
		t.Fatal(err)
	}
	j = open(t, Options{Dir: dir})
	checkModel(t, j, &m)
	appendOK(t, j, &m, enq("queue://q", 2, 100))
	j.Close()
	j = open(t, Options{Dir: dir})
	checkModel(t, j, &m)
}

func TestSegmentsReclaimedWhenAcked(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Fsync: FsyncNever, SegmentSize: 4 << 10}
	j := open(t, opts)
	var m storetest.Model
	appendOK(t, j, &m, store.Record{Op: store.OpQueueCreate, Queue: "queue://q", Data: []byte("def")})
	for id := uint64(1); id <= 100; id++ {
		appendOK(t, j, &m, enq("queue://q", id, 500))
	}
	if n := len(segFiles(t, dir)); n < 10 {
		t.Fatalf("%d segments before acking, want 10 or more", n)
	}
	for id := uint64(1); id <= 100; id++ {
		appendOK(t, j, &m, ack("queue://q", id))
	}
	settle(t, j)
	segs := segFiles(t, dir)
	if len(segs) > 2 {
		t.Fatalf("%d segments left after acking everything: %v", len(segs), segs)
	}
	checkModel(t, j, &m)
	j.Close()
	j = open(t, opts)
	checkModel(t, j, &m)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "LOCK" && !strings.HasSuffix(e.Name(), ".log") {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

// TestStuckMessageDoesNotPinLaterSegments: one message never acked keeps
// its own segment, but the acks of its neighbours are carried forward, so
// the segments after it are reclaimed (the KahaDB ack-chain problem).
func TestStuckMessageDoesNotPinLaterSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Fsync: FsyncNever, SegmentSize: 8 << 10}
	j := open(t, opts)
	var m storetest.Model
	appendOK(t, j, &m, enq("queue://dlq", 1, 100))
	appendOK(t, j, &m, store.Record{Op: store.OpDelivered, Queue: "queue://dlq", ID: 1, Count: 7})
	// A consumer a few messages behind its producer: each segment's acks
	// refer to the segment before.
	const lag = 10
	for id := uint64(2); id < 2000; id++ {
		recs := []store.Record{enq("queue://work", id, 700)}
		if id >= 2+lag {
			recs = append(recs, ack("queue://work", id-lag))
		}
		appendOK(t, j, &m, recs...)
	}
	for id := uint64(2000 - lag); id < 2000; id++ {
		appendOK(t, j, &m, ack("queue://work", id))
	}
	settle(t, j)
	segs := segFiles(t, dir)
	t.Logf("%d segments left, %+v", len(segs), j.Stats())
	if len(segs) > 4 {
		t.Fatalf("%d segments left: the stuck message pins the log", len(segs))
	}
	checkModel(t, j, &m)
	j.Close()
	j = open(t, opts)
	checkModel(t, j, &m)
	// And the stuck message's segment goes once it is acked.
	appendOK(t, j, &m, ack("queue://dlq", 1))
	for id := uint64(3000); id < 3100; id++ {
		appendOK(t, j, &m, enq("queue://work", id, 700), ack("queue://work", id))
	}
	settle(t, j)
	if segs := segFiles(t, dir); len(segs) > 2 {
		t.Fatalf("%d segments left after the last ack", len(segs))
	}
	checkModel(t, j, &m)
	j.Close()
	j = open(t, opts)
	checkModel(t, j, &m)
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Options{Dir: dir})
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second Open: %v, want ErrLocked naming the dir and the holder", err)
	}
	j.Close()
	j2 := open(t, Options{Dir: dir})
	j2.Close()
}

func TestOptionsValidated(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{},
		{Dir: dir, Fsync: 7},
		{Dir: dir, SegmentSize: 10},
		{Dir: dir, SegmentSize: 2 << 30},
		{Dir: dir, MaxSize: -1},
		{Dir: dir, FsyncInterval: -time.Second},
	} {
		if j, err := Open(o); err == nil {
			j.Close()
			t.Errorf("Open(%+v) succeeded", o)
		} else if !strings.Contains(err.Error(), "Options.") {
			t.Errorf("Open(%+v): %v does not name the option", o, err)
		}
	}
}

func TestInvalidBatchRejected(t *testing.T) {
	j := open(t, Options{Dir: t.TempDir(), Fsync: FsyncNever})
	if err := j.Append(ctx, []store.Record{enq("queue://q", 1, 10), {Op: 9, Queue: "q"}}); err == nil {
		t.Fatal("Append with an unknown op succeeded")
	}
	long := strings.Repeat("x", maxQueueLen+1)
	if err := j.Append(ctx, []store.Record{{Op: store.OpAck, Queue: long}}); err == nil {
		t.Fatal("Append with a huge queue name succeeded")
	}
	if got := recoverAll(t, j); len(got) != 0 {
		t.Fatalf("rejected batches left %d records", len(got))
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	j := open(t, Options{Dir: t.TempDir(), Fsync: FsyncAlways})
	const workers, per = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := j.Append(ctx, []store.Record{enq("queue://q", uint64(w*per+i+1), 1024)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	syncs := j.syncs.Load()
	t.Logf("%d appends, %d syncs", workers*per, syncs)
	if syncs >= workers*per {
		t.Fatalf("%d syncs for %d appends: no group commit", syncs, workers*per)
	}
}

func TestFsyncIntervalSyncs(t *testing.T) {
	j := open(t, Options{Dir: t.TempDir(), Fsync: FsyncInterval, FsyncInterval: 5 * time.Millisecond})
	appendOK(t, j, nil, enq("queue://q", 1, 100))
	deadline := time.Now().Add(5 * time.Second)
	for j.syncs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sync within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	j := open(t, Options{Dir: dir, Fsync: FsyncAlways})
	var m storetest.Model
	appendOK(t, j, &m, enq("queue://q", 1, 10))
	// Make the active segment unwritable behind the writer's back: the
	// next write fails as a full or broken disk would.
	j.closeMu.Lock()
	bad, err := os.Open(j.file.Name()) // read-only
	if err != nil {
		t.Fatal(err)
	}
	good := j.file
	j.file = bad
	j.closeMu.Unlock()
	err = j.Append(ctx, []store.Record{enq("queue://q", 2, 10)})
	if err == nil {
		t.Fatal("Append on a failing disk succeeded")
	}
	if err2 := j.Append(ctx, []store.Record{ack("queue://q", 1)}); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("later Append: %v, want the sticky %v", err2, err)
	}
	good.Close()
	j.Close()
	j = open(t, Options{Dir: dir})
	checkModel(t, j, &m)
}
