package disk

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/backend/store"
)

// Recover replays the live state: queue definitions in creation order
// (from the index), then live messages in log order, their bodies read
// from the segment files, each followed by its latest delivered count. fn
// runs on the caller's goroutine without any journal lock held, so it may
// call Append; what such Appends write is not replayed by this Recover.
// Segments are not reclaimed while Recover runs.
func (j *Journal) Recover(ctx context.Context, fn func(store.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.closeMu.RLock()
	closed := j.closed
	j.closeMu.RUnlock()
	if closed {
		return store.ErrClosed
	}

	type segSnap struct {
		seq  uint32
		path string
		size int64
	}
	j.mu.Lock()
	j.recovering++
	var defs []store.Record
	var orders []uint64
	for _, q := range j.idx.queues {
		if q.created {
			defs = append(defs, store.Record{Op: store.OpQueueCreate, Queue: q.name, Data: q.def})
			orders = append(orders, q.order)
		}
	}
	segs := make([]segSnap, 0, len(j.idx.list))
	for _, s := range j.idx.list {
		if s.msgs > 0 {
			segs = append(segs, segSnap{s.seq, s.path, s.size})
		}
	}
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.recovering--
		j.mu.Unlock()
	}()

	// Definitions are few: sort them by creation position. q.def is never
	// written in place, so sharing it with fn is safe.
	perm := make([]int, len(defs))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int {
		if c := compareU64(orders[a], orders[b]); c != 0 {
			return c
		}
		return strings.Compare(defs[a].Queue, defs[b].Queue)
	})
	for _, i := range perm {
		if err := fn(defs[i]); err != nil {
			return err
		}
	}

	type live struct {
		k     int // index in the frame's records
		name  string
		deliv bool
		count uint32
	}
	var (
		sc    scanner
		out   []live
		calls int
	)
	for _, sn := range segs {
		f, err := os.Open(sn.path)
		if err != nil {
			return fmt.Errorf("disk: recover: %w", err)
		}
		end, bad, err := sc.scan(f, sn.seq, sn.size, func(off int64, typ byte, recs []rec) error {
			if typ != frameBatch {
				return nil
			}
			out = out[:0]
			j.mu.Lock()
			for k := range recs {
				r := &recs[k]
				if r.op != store.OpEnqueue {
					continue
				}
				q := j.idx.queues[string(r.queue)]
				if q == nil {
					continue
				}
				e, ok := q.msgs[r.id]
				if ok && e.pos == mkpos(sn.seq, off+frameHeaderSize+int64(r.off)) {
					out = append(out, live{k: k, name: q.name, deliv: e.dseq != 0, count: e.count})
				}
			}
			j.mu.Unlock()
			for _, l := range out {
				r := &recs[l.k]
				if calls++; calls%256 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if err := fn(store.Record{Op: store.OpEnqueue, Queue: l.name, ID: r.id, Data: r.data}); err != nil {
					return err
				}
				if l.deliv {
					if err := fn(store.Record{Op: store.OpDelivered, Queue: l.name, ID: r.id, Count: l.count}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		f.Close()
		if err != nil {
			return err
		}
		if bad != nil {
			return &CorruptError{Path: sn.path, Offset: end, Err: bad}
		}
	}
	return nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
