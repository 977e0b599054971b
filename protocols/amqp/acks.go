package amqp

import "github.com/mqgate/mqgate/protocols/amqp/wire"

// accepted is the shared accepted outcome.
var accepted = &wire.Accepted{}

// ackQueue holds the peer's unsettled deliveries in arrival order until
// their outcomes are known (their publishes stored, or failed), so that
// dispositions go out in delivery order and a run of consecutive accepted
// deliveries shares one disposition frame. Guarded by c.mu.
type ackQueue struct {
	items []ackItem
	head  int    // first item whose disposition has not gone
	base  uint64 // sequence number of items[0]
}

type ackItem struct {
	id    uint32 // the peer's delivery-id
	state wire.DeliveryState
	done  bool
}

// push appends an unsettled delivery and returns its sequence number.
func (q *ackQueue) push(id uint32) uint64 {
	seq := q.base + uint64(len(q.items))
	q.items = append(q.items, ackItem{id: id})
	return seq
}

// reset forgets every item; later completions find nothing.
func (q *ackQueue) reset() {
	q.base += uint64(len(q.items))
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// completeLocked records the outcome of delivery seq. The dispositions it
// puts in order go out with the next frame queued, or when the writer next
// drains the queue (flushAcksLocked), whichever comes first: outcomes that
// arrive together (a group commit's) share one disposition frame, and no
// frame queued after an outcome overtakes its disposition. c.mu must be
// held.
func (s *session) completeLocked(seq uint64, st wire.DeliveryState) {
	q := &s.acks
	if s.ended.Load() || seq < q.base+uint64(q.head) || seq >= q.base+uint64(len(q.items)) {
		return
	}
	it := &q.items[seq-q.base]
	it.state, it.done = st, true
	if seq == q.base+uint64(q.head) && !s.acksDue {
		s.acksDue = true
		s.c.acksDue = append(s.c.acksDue, s)
	}
}

// flushAcksLocked queues the dispositions of every session whose next
// outcomes are known. c.mu must be held.
func (c *conn) flushAcksLocked() {
	due := c.acksDue
	c.acksDue = c.acksSpare[:0] // emitting appends frames, which flush again: find nothing
	for i, s := range due {
		s.acksDue = false
		s.emitAcksLocked()
		due[i] = nil
	}
	c.acksSpare = due[:0]
}

// emitAcksLocked queues dispositions for the done deliveries at the head of
// the ack queue, in order, a run of consecutive accepted ones in one
// frame. c.mu must be held.
func (s *session) emitAcksLocked() {
	q := &s.acks
	if s.ended.Load() {
		return
	}
	for q.head < len(q.items) && q.items[q.head].done {
		first := q.items[q.head]
		last := first.id
		q.items[q.head] = ackItem{}
		q.head++
		_, isAccepted := first.state.(*wire.Accepted)
		for isAccepted && q.head < len(q.items) && q.items[q.head].done && q.items[q.head].id == last+1 {
			if _, ok := q.items[q.head].state.(*wire.Accepted); !ok {
				break
			}
			last++
			q.items[q.head] = ackItem{}
			q.head++
		}
		disp := &wire.Disposition{Role: wire.RoleReceiver, First: first.id, Settled: true, State: first.state}
		if last != first.id {
			disp.Last = &last
		}
		s.c.appendPerfLocked(s.outCh, disp)
	}
	switch {
	case q.head == len(q.items):
		q.base += uint64(len(q.items))
		q.items, q.head = q.items[:0], 0
	case q.head > 1024 && 2*q.head > len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.base += uint64(q.head)
		q.items, q.head = q.items[:n], 0
	}
}
