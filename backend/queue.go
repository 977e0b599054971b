package backend

import (
	"sort"
	"sync"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// entry is one message held by one queue.
type entry struct {
	msg        *Message
	deliveries uint32 // times handed to a consumer
	stored     bool   // an OpEnqueue record exists under the queue's storeName
}

// fifo is a slice-backed queue of entries.
type fifo struct {
	items []*entry
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(e *entry) { f.items = append(f.items, e) }

func (f *fifo) peek() *entry {
	if f.head == len(f.items) {
		return nil
	}
	return f.items[f.head]
}

func (f *fifo) pop() *entry {
	e := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return e
}

// queue holds messages for competing consumers. A named queue, a durable
// topic subscription and each non-durable topic subscriber are queues.
type queue struct {
	b    *Broker
	dest Destination // the queue, or for a subscription queue the topic
	// storeName is the store-level name; "" for queues whose messages are
	// never stored (non-durable topic subscriptions).
	storeName string
	// maxPending > 0 drops the oldest ready message past this many (slow
	// non-durable topic subscriber).
	maxPending int
	// durable subscription definition, for subscription queues.
	sub *durableSub

	mu sync.Mutex
	// Guarded by mu.
	ready     fifo
	redeliver []*entry // released entries, sorted by Seq, dispatched first
	consumers []*Subscription
	next      int // round-robin position in consumers
	deleted   bool
	dropped   uint64
}

// readyLen returns the number of messages waiting. q.mu must be held.
func (q *queue) readyLen() int { return q.ready.len() + len(q.redeliver) }

// enqueue adds entries and dispatches. It takes q.mu; records it produces
// are returned for the caller to hand to the committer.
func (q *queue) enqueue(es ...*entry) {
	var recs []store.Record
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return
	}
	for _, e := range es {
		q.ready.push(e)
	}
	if q.maxPending > 0 {
		for q.ready.len() > q.maxPending {
			q.ready.pop()
			q.dropped++
		}
	}
	recs = q.dispatchLocked(recs)
	q.mu.Unlock()
	q.b.appendAsync(recs)
}

// requeueLocked puts e back for redelivery, in Seq order ahead of new
// messages. q.mu must be held.
func (q *queue) requeueLocked(e *entry) {
	i := sort.Search(len(q.redeliver), func(i int) bool { return q.redeliver[i].msg.Seq > e.msg.Seq })
	q.redeliver = append(q.redeliver, nil)
	copy(q.redeliver[i+1:], q.redeliver[i:])
	q.redeliver[i] = e
}

// pickLocked chooses the consumer for the next message: the highest
// priority consumers with credit, round-robin among equals. q.mu must be held.
func (q *queue) pickLocked() *Subscription {
	n := len(q.consumers)
	var best *Subscription
	bestIdx := -1
	for i := 0; i < n; i++ {
		idx := (q.next + i) % n
		s := q.consumers[idx]
		if s.credit <= 0 {
			continue
		}
		if best == nil || s.opts.Priority > best.opts.Priority {
			best, bestIdx = s, idx
		}
	}
	if best != nil {
		q.next = (bestIdx + 1) % n
	}
	return best
}

// dispatchLocked hands waiting messages to consumers with credit and returns
// recs with the records deliveries produced appended. q.mu must be held.
func (q *queue) dispatchLocked(recs []store.Record) []store.Record {
	if len(q.consumers) == 0 {
		return recs
	}
	var now int64
	for {
		var e *entry
		fromRedeliver := len(q.redeliver) > 0
		if fromRedeliver {
			e = q.redeliver[0]
		} else if e = q.ready.peek(); e == nil {
			return recs
		}
		s := q.pickLocked()
		if s == nil {
			return recs
		}
		if fromRedeliver {
			q.redeliver[0] = nil
			q.redeliver = q.redeliver[1:]
		} else {
			q.ready.pop()
		}
		if e.msg.Expiration > 0 {
			if now == 0 {
				now = time.Now().UnixMilli()
			}
			if e.msg.Expired(now) {
				recs = q.removeLocked(e, recs)
				continue
			}
		}
		recs = s.deliverLocked(e, recs)
	}
}

// removeLocked drops e for good, returning recs with its ack record.
// q.mu must be held.
func (q *queue) removeLocked(e *entry, recs []store.Record) []store.Record {
	if e.stored {
		recs = append(recs, store.Record{Op: store.OpAck, Queue: q.storeName, ID: e.msg.Seq})
	}
	return recs
}

// addConsumer attaches s and dispatches to it.
func (q *queue) addConsumer(s *Subscription) error {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return ErrNoDestination
	}
	if q.sub != nil && len(q.consumers) > 0 {
		q.mu.Unlock()
		return ErrSubscriptionActive
	}
	q.consumers = append(q.consumers, s)
	recs := q.dispatchLocked(nil)
	q.mu.Unlock()
	q.b.appendAsync(recs)
	return nil
}

// stats reports the queue's depth and consumers.
func (q *queue) stats() (ready, inflight, consumers int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.consumers {
		inflight += len(s.inflight)
	}
	return q.readyLen(), inflight, len(q.consumers)
}
