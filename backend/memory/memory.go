// Package memory is a store.Store that keeps its records in process memory:
// for non-persistent messages and for tests. Nothing survives Close.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/mqgate/mqgate/backend/store"
)

// recordOverhead is what Options.MaxBytes charges for each stored record on
// top of its queue name and data.
const recordOverhead = 64

// Options configure a Store.
type Options struct {
	// MaxBytes caps the live data (message and definition bytes plus a small
	// per-record overhead); past it an Append that adds messages or queues
	// fails with store.ErrFull. 0 means unlimited.
	MaxBytes int64
}

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	max int64

	// mu guards everything below; no I/O and no callback runs under it.
	mu      sync.Mutex
	closed  bool
	used    int64
	queues  map[string]*queue // every queue with a definition or live messages
	order   uint64            // last creation sequence handed out
	head    msg               // sentinel of the live messages, in log order
	nmsgs   int
	scratch []*queue
}

var _ store.Store = (*Store)(nil)

type queue struct {
	name    string
	created bool
	def     []byte
	order   uint64 // creation sequence, for Recover
	msgs    map[uint64]*msg
}

type msg struct {
	prev, next *msg
	q          *queue
	id         uint64
	data       []byte
	delivered  bool
	count      uint32
}

// New returns an empty Store.
func New(opts Options) *Store {
	s := &Store{max: opts.MaxBytes, queues: make(map[string]*queue)}
	s.head.prev, s.head.next = &s.head, &s.head
	return s
}

// Append applies recs atomically. It copies Data. It never blocks on I/O.
func (s *Store) Append(ctx context.Context, recs []store.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var grow int64
	for i := range recs {
		switch recs[i].Op {
		case store.OpEnqueue, store.OpQueueCreate:
			grow += cost(recs[i].Queue, recs[i].Data)
		case store.OpAck, store.OpDelivered, store.OpQueueDelete:
		default:
			return fmt.Errorf("memory: record %d: unknown op %d", i, recs[i].Op)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if grow > 0 && s.max > 0 && s.used+grow > s.max {
		return store.ErrFull
	}
	for i := range recs {
		s.apply(&recs[i])
	}
	return nil
}

func cost(q string, data []byte) int64 { return int64(len(q)+len(data)) + recordOverhead }

// apply folds r into the state. s.mu must be held.
func (s *Store) apply(r *store.Record) {
	switch r.Op {
	case store.OpEnqueue:
		q := s.queue(r.Queue)
		if old := q.msgs[r.ID]; old != nil {
			s.remove(old)
		}
		m := &msg{q: q, id: r.ID, data: bytes.Clone(r.Data)}
		q.msgs[r.ID] = m
		m.prev, m.next = s.head.prev, &s.head
		m.prev.next, s.head.prev = m, m
		s.nmsgs++
		s.used += cost(r.Queue, r.Data)
	case store.OpAck:
		if q := s.queues[r.Queue]; q != nil {
			if m := q.msgs[r.ID]; m != nil {
				s.remove(m)
				s.dropIfEmpty(q)
			}
		}
	case store.OpDelivered:
		if q := s.queues[r.Queue]; q != nil {
			if m := q.msgs[r.ID]; m != nil {
				m.delivered, m.count = true, r.Count
			}
		}
	case store.OpQueueCreate:
		q := s.queue(r.Queue)
		if q.created {
			s.used -= cost(q.name, q.def)
		} else {
			s.order++
			q.created, q.order = true, s.order
		}
		q.def = bytes.Clone(r.Data)
		s.used += cost(q.name, q.def)
	case store.OpQueueDelete:
		q := s.queues[r.Queue]
		if q == nil {
			return
		}
		for _, m := range q.msgs {
			s.remove(m)
		}
		if q.created {
			s.used -= cost(q.name, q.def)
		}
		delete(s.queues, q.name)
	}
}

// queue returns the state of name, creating it. s.mu must be held.
func (s *Store) queue(name string) *queue {
	q := s.queues[name]
	if q == nil {
		q = &queue{name: name, msgs: make(map[uint64]*msg)}
		s.queues[name] = q
	}
	return q
}

// remove unlinks m. s.mu must be held.
func (s *Store) remove(m *msg) {
	m.prev.next, m.next.prev = m.next, m.prev
	m.prev, m.next = nil, nil
	delete(m.q.msgs, m.id)
	s.nmsgs--
	s.used -= cost(m.q.name, m.data)
}

// dropIfEmpty forgets an implicit queue without messages. s.mu must be held.
func (s *Store) dropIfEmpty(q *queue) {
	if !q.created && len(q.msgs) == 0 {
		delete(s.queues, q.name)
	}
}

// Recover replays the live state: definitions in creation order, then
// messages in log order, each followed by its delivered count if it has
// one. It snapshots under the lock and calls fn without it, so fn may call
// Append.
func (s *Store) Recover(ctx context.Context, fn func(store.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	recs := make([]store.Record, 0, len(s.queues)+s.nmsgs)
	qs := s.scratch[:0]
	for _, q := range s.queues {
		if q.created {
			qs = append(qs, q)
		}
	}
	sortByOrder(qs)
	for _, q := range qs {
		recs = append(recs, store.Record{Op: store.OpQueueCreate, Queue: q.name, Data: q.def})
	}
	clear(qs)
	s.scratch = qs[:0]
	for m := s.head.next; m != &s.head; m = m.next {
		recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: m.q.name, ID: m.id, Data: m.data})
		if m.delivered {
			recs = append(recs, store.Record{Op: store.OpDelivered, Queue: m.q.name, ID: m.id, Count: m.count})
		}
	}
	s.mu.Unlock()
	// Data slices are never written after Append copied them: sharing them
	// with fn is safe.
	for i, r := range recs {
		if i%256 == 255 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func sortByOrder(qs []*queue) {
	// Insertion sort: definitions are few.
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0 && qs[j].order < qs[j-1].order; j-- {
			qs[j], qs[j-1] = qs[j-1], qs[j]
		}
	}
}

// Close drops the records. Later calls fail with store.ErrClosed; Close
// itself may be called again.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.queues = nil
	s.head.prev, s.head.next = &s.head, &s.head
	s.nmsgs, s.used = 0, 0
	return nil
}
