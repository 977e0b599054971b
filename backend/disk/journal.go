package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// ErrLocked is returned by Open when another Journal, in this process or
// another, holds the directory.
var ErrLocked = errors.New("journal directory locked")

// ErrTooLarge is returned by Append for a batch whose encoding exceeds the
// frame limit (128 MiB).
var ErrTooLarge = errors.New("batch too large")

// Journal is the embedded store: a segmented append-only log with group
// commit and an in-memory index of the live records. See doc.go.
type Journal struct {
	opts  Options
	log   zerolog.Logger
	lock  *os.File
	reqs  chan *request // Append → writer; closed by Close
	done  chan struct{} // closed when the writer has exited
	fatal atomic.Pointer[error]

	// closeMu orders Append's send on reqs before Close closes it.
	closeMu  sync.RWMutex
	closed   bool
	closeErr error // set by the writer before done is closed

	// Owned by the writer goroutine (by Open before it starts).
	file     *os.File // the active segment, opened for appending
	wbuf     []byte   // frames staged for the next write(2)
	unsynced bool     // written since the last sync
	staged   []stagedFrame
	scratch  []rec
	carry    []carried

	// mu guards idx (see index), total and recovering: the writer changes
	// them with mu held and reads them without. No I/O under mu.
	mu         sync.Mutex
	idx        index
	total      int64 // bytes in all segment files
	recovering int   // Recover calls in progress: collect waits

	syncs atomic.Int64 // syncs of segment data, for benchmarks

	// testHook, set by tests before the first Append, is called by the
	// writer at the points where a crash is interesting.
	testHook func(event string, paths []string)
}

func (j *Journal) hook(event string, paths []string) {
	if j.testHook != nil {
		j.testHook(event, paths)
	}
}

var _ store.Store = (*Journal)(nil)

// request is one Append call on its way through the writer.
type request struct {
	frame []byte // the encoded batch; read by the writer until done
	grows bool   // adds messages or queues: subject to MaxSize
	done  chan error
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

func putRequest(r *request) {
	if cap(r.frame) > 1<<20 {
		r.frame = nil
	}
	requestPool.Put(r)
}

type stagedFrame struct {
	r   *request
	seq uint32
	off int64
}

const (
	// maxGroup bounds what one write takes from the queue.
	maxGroup      = 1024
	maxGroupBytes = 16 << 20
)

// Open opens (creating if needed) the journal in opts.Dir, locks it, scans
// every segment to rebuild the index, repairs a torn tail of the last
// segment, reclaims what it can, and starts the writer goroutine.
func Open(opts Options) (*Journal, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		opts: opts,
		log:  opts.Logger.With().Str("component", "journal").Str("dir", opts.Dir).Logger(),
		lock: lock,
		reqs: make(chan *request, maxGroup),
		done: make(chan struct{}),
		idx:  newIndex(),
	}
	j.idx.emptyRoll = opts.SegmentSize / 4
	if opts.MaxSize > 0 {
		j.idx.emptyRoll = min(j.idx.emptyRoll, opts.MaxSize/8)
	}
	if err := j.load(); err != nil {
		if j.file != nil {
			j.file.Close()
		}
		unlockDir(lock)
		return nil, err
	}
	go j.run()
	return j, nil
}

func (j *Journal) segPath(seq uint32) string {
	return filepath.Join(j.opts.Dir, fmt.Sprintf("%010d.log", seq))
}

// listSegments returns the sequence numbers of the segment files in dir.
func listSegments(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	var seqs []uint32
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(stem) != 10 || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(stem, 10, 32)
		if err != nil || n == 0 {
			continue
		}
		seqs = append(seqs, uint32(n))
	}
	slices.Sort(seqs)
	return seqs, nil
}

// load rebuilds the index from the segment files. Open's goroutine.
func (j *Journal) load() error {
	start := time.Now()
	seqs, err := listSegments(j.opts.Dir)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		j.idx.addSeg(&segment{seq: seq, path: j.segPath(seq)})
	}
	var sc scanner
	var frames int
	for i, s := range j.idx.list {
		last := i == len(j.idx.list)-1
		if err := j.loadSegment(&sc, s, last, &frames); err != nil {
			return err
		}
		j.total += s.size
	}
	if len(j.idx.list) == 0 {
		if err := j.createSegment(1); err != nil {
			return err
		}
	} else {
		act := j.idx.active()
		f, err := os.OpenFile(act.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		j.file = f
	}
	j.idx.dirty = true
	if err := j.collect(); err != nil {
		return err
	}
	j.log.Info().Int("segments", len(j.idx.list)).Int("frames", frames).
		Int("messages", j.idx.nmsgs).Int("queues", len(j.idx.queues)).
		Int64("bytes", j.total).Dur("took", time.Since(start)).
		Str("fsync", j.opts.Fsync.String()).Msg("journal opened")
	return nil
}

// loadSegment scans s into the index. A bad frame ends the last segment
// (torn tail: truncated and logged); anywhere else it is a CorruptError.
func (j *Journal) loadSegment(sc *scanner, s *segment, last bool, frames *int) error {
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(s.path, flag, 0)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	end, bad, err := sc.scan(f, s.seq, -1, func(off int64, typ byte, recs []rec) error {
		*frames++
		for k := range recs {
			r := &recs[k]
			j.idx.apply(s, mkpos(s.seq, off+frameHeaderSize+int64(r.off)), r, typ == frameCarry)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disk: reading %s: %w", s.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	size := st.Size()
	s.size = end
	if bad == nil {
		return nil
	}
	if !last {
		return &CorruptError{Path: s.path, Offset: end, Err: bad}
	}
	if end == 0 {
		if size >= segHeaderSize {
			return &CorruptError{Path: s.path, Offset: 0, Err: bad}
		}
		// Torn at creation: rewrite the header.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("disk: repairing %s: %w", s.path, err)
		}
		if _, err := f.WriteAt(encodeSegHeader(s.seq), 0); err != nil {
			return fmt.Errorf("disk: repairing %s: %w", s.path, err)
		}
		s.size = segHeaderSize
	} else {
		if fe := badFrameEnd(f, end, size); fe > 0 && sc.validFrameAt(f, fe, size) {
			return &CorruptError{Path: s.path, Offset: end, Err: fmt.Errorf("%w; %w", bad, errCorruptTail)}
		}
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("disk: repairing %s: %w", s.path, err)
		}
	}
	if err := syncData(f); err != nil {
		return fmt.Errorf("disk: repairing %s: %w", s.path, err)
	}
	j.log.Warn().Str("segment", s.path).Int64("offset", end).Int64("dropped_bytes", size-end).
		AnErr("reason", bad).Msg("torn tail truncated: the last batch was not completely written")
	return nil
}

// createSegment creates segment seq, makes it the active one and opens it
// for appending. Writer goroutine (or Open).
func (j *Journal) createSegment(seq uint32) error {
	path := j.segPath(seq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if _, err := f.Write(encodeSegHeader(seq)); err != nil {
		f.Close()
		return fmt.Errorf("disk: writing %s: %w", path, err)
	}
	if j.opts.Fsync != FsyncNever {
		if err := syncData(f); err != nil {
			f.Close()
			return fmt.Errorf("disk: syncing %s: %w", path, err)
		}
		if err := syncDir(j.opts.Dir); err != nil {
			f.Close()
			return err
		}
	}
	j.file = f
	j.mu.Lock()
	j.total += segHeaderSize
	j.idx.addSeg(&segment{seq: seq, path: path, size: segHeaderSize})
	j.mu.Unlock()
	return nil
}

// Stats describes a journal's contents.
type Stats struct {
	Segments int   // segment files
	Bytes    int64 // bytes in them: what MaxSize limits
	Messages int   // live messages
	Queues   int   // queues with a definition or live messages
}

// Stats returns the journal's current size. Safe from any goroutine; it
// takes a short lock.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Stats{Segments: len(j.idx.list), Bytes: j.total, Messages: j.idx.nmsgs, Queues: len(j.idx.queues)}
}

// Append writes recs as one frame and returns once it is as durable as
// Options.Fsync promises; concurrent callers share the write and the sync.
// It copies recs before returning. If ctx ends while the batch is queued or
// being written, Append returns ctx.Err() and the batch may or may not be
// in the journal.
func (j *Journal) Append(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		j.closeMu.RLock()
		defer j.closeMu.RUnlock()
		if j.closed {
			return store.ErrClosed
		}
		return nil
	}
	r := requestPool.Get().(*request)
	var err error
	if r.frame, err = appendBatchFrame(r.frame[:0], recs); err != nil {
		putRequest(r)
		return err
	}
	r.grows = false
	for i := range recs {
		if recs[i].Op == store.OpEnqueue || recs[i].Op == store.OpQueueCreate {
			r.grows = true
			break
		}
	}
	j.closeMu.RLock()
	if j.closed {
		j.closeMu.RUnlock()
		putRequest(r)
		return store.ErrClosed
	}
	if perr := j.fatal.Load(); perr != nil {
		j.closeMu.RUnlock()
		putRequest(r)
		return *perr
	}
	select {
	case j.reqs <- r:
	case <-ctx.Done():
		j.closeMu.RUnlock()
		putRequest(r)
		return ctx.Err()
	}
	j.closeMu.RUnlock()
	select {
	case err := <-r.done:
		putRequest(r)
		return err
	case <-ctx.Done():
		return ctx.Err() // r stays with the writer, then the garbage collector
	}
}

// Close waits for queued Appends, syncs, closes the files and unlocks the
// directory. It returns the journal's failure if a write or sync failed
// earlier. Later Appends and Recovers fail with store.ErrClosed; Close
// may be called again (it returns nil).
func (j *Journal) Close() error {
	j.closeMu.Lock()
	if j.closed {
		j.closeMu.Unlock()
		return nil
	}
	j.closed = true
	close(j.reqs)
	j.closeMu.Unlock()
	<-j.done
	if err := unlockDir(j.lock); err != nil && j.closeErr == nil {
		j.closeErr = err
	}
	return j.closeErr
}
