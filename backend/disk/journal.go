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

// FsyncPolicy says when Append's data reaches stable storage.
type FsyncPolicy int

const (
	// FsyncAlways: Append returns after the batch is fdatasync'd, one sync
	// shared by every batch written together (group commit). The default.
	FsyncAlways FsyncPolicy = iota
	// FsyncInterval: Append returns after write(2); the writer syncs every
	// Options.FsyncInterval. A machine crash loses up to that much.
	FsyncInterval
	// FsyncNever: Append returns after write(2); the journal syncs only at
	// segment rolls (not even those), compaction and Close. A process crash
	// loses nothing, a machine crash what the kernel had not written.
	FsyncNever
)

// String returns the policy's name.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return "FsyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Defaults and limits of Options.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultFsyncInterval = 100 * time.Millisecond
	MinSegmentSize       = 1 << 10
	MaxSegmentSize       = 1 << 30
)

// Options configure a Journal.
type Options struct {
	// Dir holds the segment files and the LOCK file; created if missing.
	Dir string
	// Fsync is the durability policy; the zero value is FsyncAlways.
	Fsync FsyncPolicy
	// FsyncInterval is the sync period of FsyncInterval (default 100ms).
	FsyncInterval time.Duration
	// MaxSize caps the bytes of all segment files; 0 means unlimited. An
	// Append that adds messages or queues past it fails with store.ErrFull;
	// acks, delivered marks and queue deletes are always accepted, so that
	// consumers can drain a full journal.
	MaxSize int64
	// SegmentSize is the size past which the journal starts a new segment
	// file (default 64 MiB, at most 1 GiB). A batch larger than a segment
	// gets a segment of its own.
	SegmentSize int64
	// Logger receives the journal's events: open, repairs, failures, and
	// at debug level rolls and reclaimed segments. Zero value: silent.
	Logger zerolog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("disk: Options.Dir is empty")
	}
	switch o.Fsync {
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return o, fmt.Errorf("disk: Options.Fsync: unknown policy %d", o.Fsync)
	}
	if o.FsyncInterval < 0 {
		return o, fmt.Errorf("disk: Options.FsyncInterval %v is negative", o.FsyncInterval)
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize {
		return o, fmt.Errorf("disk: Options.SegmentSize %d is out of [%d, %d]", o.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if o.MaxSize < 0 {
		return o, fmt.Errorf("disk: Options.MaxSize %d is negative", o.MaxSize)
	}
	return o, nil
}

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
	total    int64    // bytes in all segment files
	staged   []stagedFrame
	scratch  []rec
	carry    []carried

	// mu guards idx (see index) and recovering. No I/O under it.
	mu         sync.Mutex
	idx        index
	recovering int // Recover calls in progress: collect waits

	syncs atomic.Int64 // syncs of segment data, for benchmarks
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
	j.total += segHeaderSize
	j.mu.Lock()
	j.idx.addSeg(&segment{seq: seq, path: path, size: segHeaderSize})
	j.mu.Unlock()
	return nil
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
	if len(recs) == 0 {
		j.closeMu.RUnlock()
		putRequest(r)
		return nil
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
// directory. Later Appends and Recovers fail with store.ErrClosed; Close
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

// run is the writer goroutine: it owns the active segment. Each round takes
// everything queued, writes it with one write(2) and, with FsyncAlways, one
// sync, then wakes the callers and reclaims segments.
func (j *Journal) run() {
	defer close(j.done)
	var tick <-chan time.Time
	if j.opts.Fsync == FsyncInterval {
		t := time.NewTicker(j.opts.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	group := make([]*request, 0, maxGroup)
	for {
		select {
		case r, ok := <-j.reqs:
			if !ok {
				j.shutdown()
				return
			}
			group = append(group[:0], r)
			size := len(r.frame)
			open := true
		drain:
			for len(group) < maxGroup && size < maxGroupBytes {
				select {
				case r, ok := <-j.reqs:
					if !ok {
						open = false
						break drain
					}
					group = append(group, r)
					size += len(r.frame)
				default:
					break drain
				}
			}
			j.commit(group)
			clear(group)
			if !open {
				j.shutdown()
				return
			}
		case <-tick:
			if j.unsynced && j.fatal.Load() == nil {
				if err := j.sync(); err != nil {
					j.fail(err)
				}
			}
		}
	}
}

// commit writes group and answers every request in it. Writer goroutine.
func (j *Journal) commit(group []*request) {
	if perr := j.fatal.Load(); perr != nil {
		for _, r := range group {
			r.done <- *perr
		}
		return
	}
	// Once a request is answered its Append may return and recycle it: never
	// touch it again.
	j.staged = j.staged[:0]
	var err error
	rest := group
	for len(rest) > 0 {
		r := rest[0]
		if r.grows && j.opts.MaxSize > 0 && j.total+int64(len(j.wbuf)+len(r.frame)) > j.opts.MaxSize {
			r.done <- store.ErrFull
			rest = rest[1:]
			continue
		}
		var seq uint32
		var off int64
		if seq, off, err = j.stage(r.frame); err != nil {
			break
		}
		j.staged = append(j.staged, stagedFrame{r: r, seq: seq, off: off})
		rest = rest[1:]
	}
	if err == nil {
		err = j.flush()
	}
	if err == nil && j.opts.Fsync == FsyncAlways && j.unsynced {
		err = j.sync()
	}
	if err != nil {
		j.fail(err)
		perr := *j.fatal.Load()
		for _, sf := range j.staged {
			sf.r.done <- perr
		}
		for _, r := range rest {
			r.done <- perr
		}
		clear(j.staged)
		return
	}
	j.mu.Lock()
	for _, sf := range j.staged {
		if err = j.applyFrame(sf.seq, sf.off, sf.r.frame); err != nil {
			break
		}
	}
	j.mu.Unlock()
	if err != nil {
		// Our own frame failed to decode: a bug, not a disk problem.
		j.fail(err)
	}
	for _, sf := range j.staged {
		sf.r.done <- err
	}
	clear(j.staged)
	if err == nil {
		if err := j.collect(); err != nil {
			j.fail(err)
		}
	}
}

// applyFrame folds a frame the writer wrote at (seq, off) into the index.
// j.mu must be held.
func (j *Journal) applyFrame(seq uint32, off int64, frame []byte) error {
	var err error
	j.scratch, err = decodeFrame(frame[8], frame[frameHeaderSize:], j.scratch)
	if err != nil {
		return fmt.Errorf("disk: decoding own frame: %w", err)
	}
	s := j.idx.segs[seq]
	carry := frame[8] == frameCarry
	for k := range j.scratch {
		r := &j.scratch[k]
		j.idx.apply(s, mkpos(seq, off+frameHeaderSize+int64(r.off)), r, carry)
	}
	return nil
}

// stage queues frame for the next write, rolling to a new segment first
// when the frame would take the active one past SegmentSize. It returns
// where the frame will be. Writer goroutine.
func (j *Journal) stage(frame []byte) (uint32, int64, error) {
	act := j.idx.active()
	end := act.size + int64(len(j.wbuf))
	if end > segHeaderSize && end+int64(len(frame)) > j.opts.SegmentSize {
		if err := j.roll(); err != nil {
			return 0, 0, err
		}
		act = j.idx.active()
		end = act.size
	}
	j.wbuf = append(j.wbuf, frame...)
	return act.seq, end, nil
}

// flush writes the staged frames. Writer goroutine.
func (j *Journal) flush() error {
	if len(j.wbuf) == 0 {
		return nil
	}
	n, err := j.file.Write(j.wbuf)
	j.unsynced = true
	j.total += int64(n)
	j.mu.Lock()
	j.idx.active().size += int64(n)
	j.mu.Unlock()
	if cap(j.wbuf) > 2*maxGroupBytes {
		j.wbuf = nil
	} else {
		j.wbuf = j.wbuf[:0]
	}
	if err != nil {
		return fmt.Errorf("disk: writing %s: %w", j.file.Name(), err)
	}
	return nil
}

// sync makes the active segment's data durable. Writer goroutine.
func (j *Journal) sync() error {
	if err := syncData(j.file); err != nil {
		return fmt.Errorf("disk: syncing %s: %w", j.file.Name(), err)
	}
	j.unsynced = false
	j.syncs.Add(1)
	return nil
}

// roll flushes and closes the active segment and starts the next one.
// Writer goroutine.
func (j *Journal) roll() error {
	if err := j.flush(); err != nil {
		return err
	}
	if j.unsynced && j.opts.Fsync != FsyncNever {
		if err := j.sync(); err != nil {
			return err
		}
	}
	if err := j.file.Close(); err != nil {
		return fmt.Errorf("disk: closing %s: %w", j.file.Name(), err)
	}
	j.file = nil
	j.unsynced = false
	old := j.idx.active()
	if err := j.createSegment(old.seq + 1); err != nil {
		return err
	}
	j.idx.dirty = true
	j.log.Debug().Uint32("segment", old.seq+1).Int64("bytes", j.total).Msg("segment rolled")
	return nil
}

// fail makes err permanent: the file's state after a failed write or sync
// is unknown, so every later Append fails until the journal is reopened.
func (j *Journal) fail(err error) {
	if j.fatal.CompareAndSwap(nil, &err) {
		j.log.Error().Err(err).Msg("journal failed: refusing writes until reopened")
	}
}

// shutdown is the writer's last act.
func (j *Journal) shutdown() {
	var err error
	if j.fatal.Load() == nil {
		err = j.flush()
		if err == nil && j.unsynced {
			err = j.sync()
		}
	}
	if j.file != nil {
		if cerr := j.file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("disk: %w", cerr)
		}
		j.file = nil
	}
	j.closeErr = err
}
