package disk

import (
	"bytes"
	"slices"

	"github.com/mqgate/mqgate/backend/store"
)

// A position names a record in the log: its segment in the high 32 bits,
// its byte offset in the segment file in the low 32. Positions increase in
// log order. Options caps segments (and so offsets) well below 4 GiB.
func mkpos(seq uint32, off int64) uint64 { return uint64(seq)<<32 | uint64(off) }

func posSeq(p uint64) uint32 { return uint32(p >> 32) }

// msgEntry is what the index keeps of a live message: no body (Recover
// reads it from disk), 16 bytes.
type msgEntry struct {
	pos   uint64 // position of its OpEnqueue record
	dseq  uint32 // segment holding its latest OpDelivered; 0 = never delivered
	count uint32 // the latest delivered count
}

// queueState is a queue with a live definition, live messages, or both.
type queueState struct {
	name    string
	created bool
	def     []byte   // the latest definition; never written in place
	order   uint64   // position of the create that began this incarnation
	ordSeq  uint32   // a segment holding a record that says order (see apply)
	defSeq  uint32   // segment holding the latest definition record
	defSegs []uint32 // segments that may hold definition records of this incarnation
	msgs    map[uint64]msgEntry
}

// deadRef remembers a record that removed (acked, or superseded by a
// re-enqueue) a message whose enqueue record lives in an earlier segment.
// The earlier segment may not outlive the record: if the removing record's
// segment goes first, compaction carries the ref forward (frameCarry ack).
type deadRef struct {
	queue string
	id    uint64
	pos   uint64 // position of the removing record (its original one, if carried)
}

// segment is the index's view of one segment file.
type segment struct {
	seq  uint32
	path string
	size int64 // bytes in the file, header included

	msgs   int // live messages whose OpEnqueue is here
	defs   int // live queues whose latest OpQueueCreate is here
	delivs int // live messages whose latest OpDelivered is here

	// refs and pins point at earlier segments this one must not be deleted
	// before: refs can be carried forward, pins (a queue delete) cannot.
	refs map[uint32][]deadRef
	pins map[uint32]struct{}

	free bool // scratch for collect
}

// index is the live state rebuilt at Open and kept by the writer. Owner:
// the writer goroutine (Open's goroutine before it starts), which mutates it
// with Journal.mu held; Recover reads it with Journal.mu held.
type index struct {
	queues map[string]*queueState
	segs   map[uint32]*segment
	list   []*segment // ascending seq; the last one is active
	nmsgs  int

	// dirty says a segment may have become reclaimable (collect).
	dirty     bool
	emptyRoll int64 // collect rolls an active segment without live messages past this size
}

func newIndex() index {
	return index{queues: make(map[string]*queueState), segs: make(map[uint32]*segment)}
}

func (x *index) active() *segment { return x.list[len(x.list)-1] }

func (x *index) addSeg(s *segment) {
	s.refs = make(map[uint32][]deadRef)
	s.pins = make(map[uint32]struct{})
	x.segs[s.seq] = s
	x.list = append(x.list, s)
}

// removeSeg forgets s and everything that pointed at it.
func (x *index) removeSeg(s *segment) {
	delete(x.segs, s.seq)
	x.list = slices.DeleteFunc(x.list, func(o *segment) bool { return o == s })
	for _, o := range x.list {
		if _, ok := o.refs[s.seq]; ok {
			delete(o.refs, s.seq)
			x.dirty = true
		}
		if _, ok := o.pins[s.seq]; ok {
			delete(o.pins, s.seq)
			x.dirty = true
		}
	}
}

func (x *index) queue(name []byte) *queueState {
	q := x.queues[string(name)]
	if q == nil {
		q = &queueState{name: string(name), msgs: make(map[uint64]msgEntry)}
		x.queues[q.name] = q
	}
	return q
}

// apply folds r, found at pos in segment s, into the index. A carried
// record (frameCarry) stands for the state at r.pos: it only touches a
// message enqueued before that position.
func (x *index) apply(s *segment, pos uint64, r *rec, carry bool) {
	switch r.op {
	case store.OpEnqueue:
		q := x.queue(r.queue)
		if old, ok := q.msgs[r.id]; ok {
			x.dropMsg(old)
			x.ref(s, posSeq(old.pos), deadRef{queue: q.name, id: r.id, pos: pos})
		} else {
			x.nmsgs++
		}
		q.msgs[r.id] = msgEntry{pos: pos}
		s.msgs++
	case store.OpAck:
		q := x.queues[string(r.queue)]
		if q == nil {
			return
		}
		e, ok := q.msgs[r.id]
		if !ok {
			return
		}
		at := pos
		if carry {
			if e.pos >= r.pos {
				return
			}
			at = r.pos
		}
		x.dropMsg(e)
		delete(q.msgs, r.id)
		x.nmsgs--
		x.ref(s, posSeq(e.pos), deadRef{queue: q.name, id: r.id, pos: at})
		x.dropIfEmpty(q)
	case store.OpDelivered:
		q := x.queues[string(r.queue)]
		if q == nil {
			return
		}
		e, ok := q.msgs[r.id]
		if !ok || carry && e.pos >= r.pos {
			return
		}
		if d := x.segs[e.dseq]; e.dseq != 0 && d != nil {
			d.delivs--
		}
		e.dseq, e.count = s.seq, r.count
		s.delivs++
		q.msgs[r.id] = e
	case store.OpQueueCreate:
		// A queue's creation order is the position of its first create.
		// Once that record's segment is reclaimed, the order lives on in
		// carried creates (r.pos); a later plain redefinition does not know
		// it, hence the min.
		q := x.queue(r.queue)
		if q.created {
			if d := x.segs[q.defSeq]; d != nil {
				d.defs--
			}
			if carry && r.pos <= q.order {
				q.order, q.ordSeq = r.pos, s.seq
			}
		} else {
			q.created, q.order, q.ordSeq = true, pos, s.seq
			if carry {
				q.order = r.pos
			}
			q.defSegs = q.defSegs[:0]
		}
		q.def = bytes.Clone(r.data)
		q.defSeq = s.seq
		s.defs++
		q.defSegs = slices.DeleteFunc(q.defSegs, func(seq uint32) bool { return x.segs[seq] == nil })
		if !slices.Contains(q.defSegs, s.seq) {
			q.defSegs = append(q.defSegs, s.seq)
		}
	case store.OpQueueDelete:
		q := x.queues[string(r.queue)]
		if q == nil {
			return
		}
		for _, e := range q.msgs {
			x.dropMsg(e)
			x.pin(s, posSeq(e.pos))
		}
		x.nmsgs -= len(q.msgs)
		if q.created {
			if d := x.segs[q.defSeq]; d != nil {
				d.defs--
			}
			for _, seq := range q.defSegs {
				x.pin(s, seq)
			}
		}
		delete(x.queues, q.name)
	}
}

// dropMsg takes e out of its segments' live counts.
func (x *index) dropMsg(e msgEntry) {
	if s := x.segs[posSeq(e.pos)]; s != nil {
		s.msgs--
		if s.msgs == 0 && (s != x.active() || s.size >= x.emptyRoll) {
			x.dirty = true
		}
	}
	if d := x.segs[e.dseq]; e.dseq != 0 && d != nil {
		d.delivs--
	}
}

func (x *index) dropIfEmpty(q *queueState) {
	if !q.created && len(q.msgs) == 0 {
		delete(x.queues, q.name)
	}
}

// ref records that s must not outlive segment seq unless ref is carried.
func (x *index) ref(s *segment, seq uint32, ref deadRef) {
	if seq != s.seq && x.segs[seq] != nil {
		s.refs[seq] = append(s.refs[seq], ref)
	}
}

// pin records that s must not outlive segment seq.
func (x *index) pin(s *segment, seq uint32) {
	if seq != s.seq && x.segs[seq] != nil {
		s.pins[seq] = struct{}{}
	}
}
