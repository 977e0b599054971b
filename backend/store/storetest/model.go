package storetest

import (
	"bytes"
	"fmt"

	"github.com/mqgate/mqgate/backend/store"
)

// Model is the reference semantics of a Store: it applies records the way
// the store contract says and produces what Recover must replay. It is
// linear in the number of live messages per operation: fine for tests.
//
// The rules, beyond store.go's doc comments:
//   - OpEnqueue of a (Queue, ID) that is already live replaces it: the new
//     Data, a fresh position at the end of the log, no delivered count.
//   - OpQueueCreate of a live queue replaces its definition and keeps its
//     place in creation order.
//   - OpAck and OpDelivered of an unknown message, and OpQueueDelete of an
//     unknown queue, are ignored.
//   - OpQueueDelete removes the definition and every live message of the
//     queue; messages enqueued under the name later are live again.
type Model struct {
	queues []store.Record // OpQueueCreate records, in creation order
	msgs   []modelMsg     // live messages, in log order
}

type modelMsg struct {
	rec       store.Record // OpEnqueue, Data copied
	delivered bool
	count     uint32
}

// Apply folds recs into the model. It copies Data.
func (m *Model) Apply(recs []store.Record) {
	for _, r := range recs {
		m.apply(r)
	}
}

func (m *Model) apply(r store.Record) {
	switch r.Op {
	case store.OpEnqueue:
		if i := m.find(r.Queue, r.ID); i >= 0 {
			m.msgs = append(m.msgs[:i], m.msgs[i+1:]...)
		}
		m.msgs = append(m.msgs, modelMsg{rec: store.Record{
			Op: store.OpEnqueue, Queue: r.Queue, ID: r.ID, Data: bytes.Clone(r.Data),
		}})
	case store.OpAck:
		if i := m.find(r.Queue, r.ID); i >= 0 {
			m.msgs = append(m.msgs[:i], m.msgs[i+1:]...)
		}
	case store.OpDelivered:
		if i := m.find(r.Queue, r.ID); i >= 0 {
			m.msgs[i].delivered = true
			m.msgs[i].count = r.Count
		}
	case store.OpQueueCreate:
		def := store.Record{Op: store.OpQueueCreate, Queue: r.Queue, Data: bytes.Clone(r.Data)}
		for i := range m.queues {
			if m.queues[i].Queue == r.Queue {
				m.queues[i] = def
				return
			}
		}
		m.queues = append(m.queues, def)
	case store.OpQueueDelete:
		for i := range m.queues {
			if m.queues[i].Queue == r.Queue {
				m.queues = append(m.queues[:i], m.queues[i+1:]...)
				break
			}
		}
		live := m.msgs[:0]
		for _, msg := range m.msgs {
			if msg.rec.Queue != r.Queue {
				live = append(live, msg)
			}
		}
		m.msgs = live
	}
}

func (m *Model) find(queue string, id uint64) int {
	for i := range m.msgs {
		if m.msgs[i].rec.ID == id && m.msgs[i].rec.Queue == queue {
			return i
		}
	}
	return -1
}

// Live returns the message IDs of queue still live, in log order.
func (m *Model) Live(queue string) []uint64 {
	var ids []uint64
	for _, msg := range m.msgs {
		if msg.rec.Queue == queue {
			ids = append(ids, msg.rec.ID)
		}
	}
	return ids
}

// Records returns what Recover must replay, in order.
func (m *Model) Records() []store.Record {
	out := make([]store.Record, 0, len(m.queues)+len(m.msgs))
	out = append(out, m.queues...)
	for _, msg := range m.msgs {
		out = append(out, msg.rec)
		if msg.delivered {
			out = append(out, store.Record{Op: store.OpDelivered, Queue: msg.rec.Queue, ID: msg.rec.ID, Count: msg.count})
		}
	}
	return out
}

// Diff describes the first difference between want and got, or returns ""
// when they are equal. Nil and empty Data are equal.
func Diff(want, got []store.Record) string {
	n := min(len(want), len(got))
	for i := 0; i < n; i++ {
		if !sameRecord(want[i], got[i]) {
			return fmt.Sprintf("record %d of %d/%d: want %s, got %s", i, len(want), len(got), fmtRecord(want[i]), fmtRecord(got[i]))
		}
	}
	switch {
	case len(want) > n:
		return fmt.Sprintf("missing %d records from %d on: first %s", len(want)-n, n, fmtRecord(want[n]))
	case len(got) > n:
		return fmt.Sprintf("%d extra records from %d on: first %s", len(got)-n, n, fmtRecord(got[n]))
	}
	return ""
}

func sameRecord(a, b store.Record) bool {
	return a.Op == b.Op && a.Queue == b.Queue && a.ID == b.ID && a.Count == b.Count && bytes.Equal(a.Data, b.Data)
}

func fmtRecord(r store.Record) string {
	return fmt.Sprintf("{%s %q id=%d count=%d data=%d bytes}", r.Op, r.Queue, r.ID, r.Count, len(r.Data))
}
