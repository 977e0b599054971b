package redis

import (
	"slices"
	"strconv"

	"github.com/mqgate/mqgate/backend/store"
)

// batch is one Append's records, folded and encoded as arguments of
// appendScript (the layout is in scripts.go). Encoding happens on the
// appender's goroutine, so that concurrent appenders encode in parallel
// and the script does as little per record as possible.
type batch struct {
	args []any // the batch's steps; string and []byte values
	recs int   // records encoded
	// grows is the bytes of data and definitions the batch's enqueues and
	// queue creations carry (its growth at most), checked against
	// Options.MaxSize; -1 when it has none.
	grows int64
	size  int // bytes of args, for bounding a group
}

// Step markers of the script's argument list.
const (
	stepMessages = "M"
	stepCreate   = "C"
	stepDelete   = "D"
)

// entry is the net effect, within one segment, of the records on one
// message.
type entry struct {
	queue    string
	id       uint64
	act      uint8  // actMark, actSet or actRemove
	data     string // actSet: the data (copied: string conversions skip zeroing)
	hasCount bool   // a delivery count to store
	count    uint32
	order    int // actSet: rank of its last enqueue in the segment
}

const (
	actMark   uint8 = iota // data untouched: only a delivery count, kept if the message is stored
	actSet                 // stored with data (a new enqueue, or one replacing the stored message)
	actRemove              // removed (acked), with its delivery count
)

type msgKey struct {
	queue string
	id    uint64
}

// encodeBatch folds recs into steps: a message step for each run of
// message records (its net effect per message), a queue step for each
// OpQueueCreate and OpQueueDelete, in record order. It copies record data:
// the batch does not retain recs.
func encodeBatch(recs []store.Record) batch {
	b := batch{recs: len(recs), grows: -1}
	b.args = make([]any, 0, 8+3*len(recs))
	var (
		entries []entry
		order   int
		// The entries' index by queue and id; lastQueue and last cache
		// the map of the previous record's queue.
		index     map[string]map[uint64]int32
		lastQueue string
		last      map[uint64]int32
	)
	flush := func() {
		if len(entries) > 0 {
			b.messages(entries)
			entries, index, last, order = entries[:0], nil, nil, 0
		}
	}
	for _, r := range recs {
		switch r.Op {
		case store.OpEnqueue, store.OpAck, store.OpDelivered:
		case store.OpQueueCreate:
			flush()
			b.grow(int64(len(r.Data)))
			b.add(stepCreate, r.Queue, string(r.Data))
			continue
		case store.OpQueueDelete:
			flush()
			b.add(stepDelete, r.Queue)
			continue
		default:
			continue // unknown operations are ignored, as by the other stores
		}
		if last == nil || r.Queue != lastQueue {
			if index == nil {
				index = make(map[string]map[uint64]int32)
			}
			last = index[r.Queue]
			if last == nil {
				last = make(map[uint64]int32, len(recs))
				index[r.Queue] = last
			}
			lastQueue = r.Queue
		}
		i, ok := last[r.ID]
		if !ok {
			i = int32(len(entries))
			last[r.ID] = i
			entries = append(entries, entry{queue: r.Queue, id: r.ID})
		}
		e := &entries[i]
		switch r.Op {
		case store.OpEnqueue:
			b.grow(int64(len(r.Data)))
			e.act, e.data, e.hasCount, e.order = actSet, string(r.Data), false, order
			order++
		case store.OpAck:
			e.act, e.data, e.hasCount = actRemove, "", false
		case store.OpDelivered:
			// A message removed in this segment is gone: its mark is
			// ignored, as the store's contract says of unknown messages.
			if e.act != actRemove {
				e.hasCount, e.count = true, r.Count
			}
		}
	}
	flush()
	return b
}

func (b *batch) grow(n int64) {
	if b.grows < 0 {
		b.grows = 0
	}
	b.grows += n
}

func (b *batch) add(args ...any) {
	for _, a := range args {
		switch v := a.(type) {
		case string:
			b.size += len(v) + 8
		case []byte:
			b.size += len(v) + 8
		}
	}
	b.args = append(b.args, args...)
}

// messages appends the message step of one segment's entries:
//
//	"M", nrem, nset, nmark, nqueues, setbytes,
//	members: nrem removed, nset set (in enqueue order), nmark marked,
//	nset meta values of the set members, nmark delivery counts,
//	per queue: name, ndel, nset, ndel ids, nset (id, data) pairs.
//
// A member is "<queue>\x00<id>" (see scripts.go).
func (b *batch) messages(entries []entry) {
	var rem, set, mark []int32
	type group struct {
		queue     string
		del, sets []int32
	}
	var groups []group
	for i := range entries {
		e := &entries[i]
		switch e.act {
		case actMark:
			if e.hasCount {
				mark = append(mark, int32(i))
			}
			continue
		case actRemove:
			rem = append(rem, int32(i))
		case actSet:
			set = append(set, int32(i))
		}
		g := len(groups) - 1
		for g >= 0 && groups[g].queue != e.queue {
			g-- // few queues per segment: a linear search from the last
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, group{queue: e.queue})
		}
		if e.act == actRemove {
			groups[g].del = append(groups[g].del, int32(i))
		} else {
			groups[g].sets = append(groups[g].sets, int32(i))
		}
	}
	if len(rem)+len(set)+len(mark) == 0 {
		return
	}
	slices.SortFunc(set, func(x, y int32) int { return entries[x].order - entries[y].order })

	// The small strings (ids, members, meta values, counts) are built in
	// one buffer and sliced from one string: one allocation, not four per
	// message.
	type span struct{ from, to int32 }
	buf := make([]byte, 0, len(entries)*(2*len(entries[0].queue)+40))
	ids := make([]span, len(entries))
	for i := range entries {
		from := len(buf)
		buf = strconv.AppendUint(buf, entries[i].id, 10)
		ids[i] = span{int32(from), int32(len(buf))}
	}
	members := make([]span, 0, len(rem)+len(set)+len(mark))
	for _, list := range [][]int32{rem, set, mark} {
		for _, i := range list {
			from := len(buf)
			buf = append(buf, entries[i].queue...)
			buf = append(buf, 0)
			buf = append(buf, buf[ids[i].from:ids[i].to]...)
			members = append(members, span{int32(from), int32(len(buf))})
		}
	}
	values := make([]span, 0, len(set)+len(mark))
	setBytes := 0
	for _, i := range set {
		e := &entries[i]
		setBytes += len(e.data)
		from := len(buf)
		buf = strconv.AppendInt(buf, int64(len(e.data)), 10)
		if e.hasCount {
			buf = append(buf, ',')
			buf = strconv.AppendUint(buf, uint64(e.count), 10)
		}
		values = append(values, span{int32(from), int32(len(buf))})
	}
	for _, i := range mark {
		from := len(buf)
		buf = strconv.AppendUint(buf, uint64(entries[i].count), 10)
		values = append(values, span{int32(from), int32(len(buf))})
	}
	text := string(buf)
	str := func(s span) string { return text[s.from:s.to] }

	b.add(stepMessages, strconv.Itoa(len(rem)), strconv.Itoa(len(set)), strconv.Itoa(len(mark)),
		strconv.Itoa(len(groups)), strconv.Itoa(setBytes))
	for _, m := range members {
		b.args = append(b.args, str(m))
	}
	for _, v := range values {
		b.args = append(b.args, str(v))
	}
	for _, g := range groups {
		b.add(g.queue, strconv.Itoa(len(g.del)), strconv.Itoa(len(g.sets)))
		for _, i := range g.del {
			b.args = append(b.args, str(ids[i]))
		}
		for _, i := range g.sets {
			b.args = append(b.args, str(ids[i]), entries[i].data)
		}
	}
	b.size += len(text) + 8*(len(members)+len(values)+len(rem)+2*len(set)) + setBytes
}
