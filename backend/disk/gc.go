package disk

import (
	"fmt"
	"os"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// collect reclaims segments that hold nothing live (see doc.go,
// "Reclaiming segments"). Writer goroutine (or Open). It runs only when
// the index is dirty and no Recover is reading the files.
func (j *Journal) collect() error {
	x := &j.idx
	if !x.dirty {
		return nil
	}
	j.mu.Lock()
	busy := j.recovering > 0
	j.mu.Unlock()
	if busy {
		return nil // stays dirty: the next commit tries again
	}
	x.dirty = false
	start := time.Now()

	// An active segment with no live message goes too once it is big
	// enough to be worth a roll: consumers that keep up free space early,
	// and a full journal drained by its consumers gets room again.
	if act := x.active(); act.msgs == 0 && act.size >= x.emptyRoll && act.size > segHeaderSize {
		if err := j.roll(); err != nil {
			return err
		}
	}

	// Free: not active, no live message, not pinned by a queue delete to a
	// segment that stays. Pins and refs point at earlier segments, so one
	// ascending pass settles it.
	var free []*segment
	for _, s := range x.list[:len(x.list)-1] {
		s.free = s.msgs == 0
		for seq := range s.pins {
			if t := x.segs[seq]; t != nil && !t.free {
				s.free = false
			}
		}
		if s.free {
			free = append(free, s)
		}
	}
	x.active().free = false
	if len(free) == 0 {
		return nil
	}
	if err := j.carryForward(free); err != nil {
		return err
	}

	// Delete in rounds: a segment goes after (durably after) every earlier
	// segment it refers to.
	var reclaimed int
	var bytes int64
	for {
		var round []*segment
		for _, s := range free {
			if s.free && len(s.refs) == 0 && len(s.pins) == 0 && s.defs == 0 && s.delivs == 0 {
				round = append(round, s)
			}
		}
		if len(round) == 0 {
			break
		}
		paths := make([]string, len(round))
		for i, s := range round {
			paths[i] = s.path
		}
		j.hook("removing", paths)
		for _, s := range round {
			if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("disk: reclaiming %s: %w", s.path, err)
			}
		}
		j.hook("removed", paths)
		if err := syncDir(j.opts.Dir); err != nil {
			return err
		}
		j.mu.Lock()
		for _, s := range round {
			s.free = false
			x.removeSeg(s)
			j.total -= s.size
			bytes += s.size
		}
		j.mu.Unlock()
		reclaimed += len(round)
	}
	for _, s := range free {
		s.free = false
	}
	if reclaimed > 0 {
		j.log.Debug().Int("segments", reclaimed).Int64("bytes", bytes).Int("left", len(x.list)).
			Dur("took", time.Since(start)).Msg("segments reclaimed")
	}
	return nil
}

// carryForward rewrites into the active segment what the free segments
// still hold for others: the latest definition of a live queue, the latest
// delivered count of a live message, and refs (removals of messages whose
// enqueue record is in a segment that stays). It syncs before returning:
// the free segments may be deleted after it. Writer goroutine.
func (j *Journal) carryForward(free []*segment) error {
	x := &j.idx
	j.carry = j.carry[:0]
	var delivs bool
	for _, s := range free {
		delivs = delivs || s.delivs > 0
	}
	{
		// Map iteration order is random; carried records must keep creation
		// order only through their positions, so any order is fine here.
		for _, q := range x.queues {
			if q.created && (x.isFree(q.defSeq) || x.isFree(q.ordSeq)) {
				j.carry = append(j.carry, carried{
					rec: store.Record{Op: store.OpQueueCreate, Queue: q.name, Data: q.def},
					pos: q.order,
				})
			}
			if !delivs {
				continue
			}
			for id, e := range q.msgs {
				if e.dseq != 0 && x.isFree(e.dseq) {
					j.carry = append(j.carry, carried{
						rec: store.Record{Op: store.OpDelivered, Queue: q.name, ID: id, Count: e.count},
						pos: e.pos + 1,
					})
				}
			}
		}
	}
	nrefs := 0
	for _, s := range free {
		for seq, refs := range s.refs {
			if t := x.segs[seq]; t == nil || t.free {
				continue
			}
			for _, ref := range refs {
				j.carry = append(j.carry, carried{
					rec: store.Record{Op: store.OpAck, Queue: ref.queue, ID: ref.id},
					pos: ref.pos,
				})
			}
			nrefs += len(refs)
		}
	}
	if len(j.carry) == 0 {
		return nil
	}
	// Several frames if need be: a partial carry is harmless (the free
	// segments still exist until every frame is synced).
	ncarried := len(j.carry)
	var frames [][]byte
	for rest := j.carry; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && (n == 0 || size < carryFrameBytes) {
			size += len(rest[n].rec.Queue) + len(rest[n].rec.Data) + 32
			n++
		}
		frames = append(frames, appendCarryFrame(nil, rest[:n]))
		rest = rest[n:]
	}
	clear(j.carry)
	type at struct {
		seq uint32
		off int64
	}
	where := make([]at, len(frames))
	var err error
	for i, frame := range frames {
		if where[i].seq, where[i].off, err = j.stage(frame); err != nil {
			return err
		}
	}
	if err = j.flush(); err == nil {
		err = j.sync() // always: the free segments are about to go
	}
	if err != nil {
		return err
	}
	j.hook("carried", nil)
	last := x.segs[where[len(where)-1].seq]
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, frame := range frames {
		if err := j.applyFrame(where[i].seq, where[i].off, frame); err != nil {
			return err
		}
	}
	for _, s := range free {
		for tseq, refs := range s.refs {
			t := x.segs[tseq]
			if t != nil && t.free {
				continue // goes in the same collect, before s
			}
			if t != nil {
				last.refs[tseq] = append(last.refs[tseq], refs...)
			}
			delete(s.refs, tseq)
		}
	}
	j.log.Debug().Int("records", ncarried).Int("refs", nrefs).Uint32("segment", last.seq).Msg("records carried forward")
	return nil
}

// carryFrameBytes is about where carryForward starts another frame (a
// variable for tests).
var carryFrameBytes = 8 << 20

func (x *index) isFree(seq uint32) bool {
	s := x.segs[seq]
	return s != nil && s.free
}
