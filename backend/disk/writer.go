package disk

import (
	"fmt"
	"runtime"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

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
			// Let appenders just woken by the previous round queue up
			// before taking the group: bigger groups, fewer syncs.
			runtime.Gosched()
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
		j.hook("written", nil)
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
	j.mu.Lock()
	j.total += int64(n)
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

// shutdown is the writer's last act. After a failure it reports the
// failure: what the failed batches hold is unknown.
func (j *Journal) shutdown() {
	var err error
	if perr := j.fatal.Load(); perr != nil {
		err = *perr
	} else {
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
