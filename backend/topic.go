package backend

import (
	"slices"
	"sync"

	"github.com/mqgate/mqgate/backend/store"
)

// topic fans published messages out to its subscription queues.
type topic struct {
	dest Destination

	mu sync.RWMutex
	// Guarded by mu.
	subs []*queue
}

func (t *topic) add(q *queue) {
	t.mu.Lock()
	t.subs = append(t.subs, q)
	t.mu.Unlock()
}

func (t *topic) remove(q *queue) {
	t.mu.Lock()
	// A copy: routeTopic reads the old slice after t.mu is released.
	t.subs = slices.DeleteFunc(slices.Clone(t.subs), func(x *queue) bool { return x == q })
	t.mu.Unlock()
}

// durableSub is the definition of a durable topic subscription, persisted
// as an OpQueueCreate record.
type durableSub struct {
	ClientID string
	Name     string
	Topic    string
	NoLocal  bool
}

// storeName returns the store-level queue name of a durable subscription.
func durableStoreName(clientID, name string) string {
	return "sub://" + clientID + ":" + name
}

func (d *durableSub) encode() []byte {
	b := []byte{1}
	b = appendString(b, d.ClientID)
	b = appendString(b, d.Name)
	b = appendString(b, d.Topic)
	if d.NoLocal {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return b
}

func decodeDurableSub(b []byte) (*durableSub, error) {
	d := &decoder{b: b}
	if d.byte() != 1 {
		return nil, errCorrupt
	}
	s := &durableSub{ClientID: d.string(), Name: d.string(), Topic: d.string()}
	s.NoLocal = d.byte() == 1
	return s, d.err
}

// routeTopic works out m's fan-out: a store record for each durable
// subscription when m is persistent, and the enqueue into every
// subscription, run once the records are durable.
func (b *Broker) routeTopic(t *topic, wild []*topic, virt []*queue, m *Message, recs []store.Record) ([]store.Record, func(), error) {
	t.mu.RLock()
	subs := t.subs
	t.mu.RUnlock()
	if len(virt) > 0 {
		subs = append(subs[:len(subs):len(subs)], virt...)
	}
	for _, w := range wild {
		w.mu.RLock()
		subs = append(subs[:len(subs):len(subs)], w.subs...)
		w.mu.RUnlock()
	}
	var data []byte
	targets := make([]*entry, 0, len(subs))
	queues := make([]*queue, 0, len(subs))
	for _, q := range subs {
		if q.sub != nil && q.sub.NoLocal && m.ProducerID != "" && m.ProducerID == q.sub.ClientID {
			continue
		}
		e := &entry{msg: m, deliveries: m.priorDeliveries()}
		if m.Persistent && q.storeName != "" && b.store != nil {
			if data == nil {
				data = encodeMessage(nil, m)
			}
			recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: q.storeName, ID: m.Seq, Data: data})
			e.stored = true
		}
		targets = append(targets, e)
		queues = append(queues, q)
	}
	return recs, func() {
		for i, q := range queues {
			if q.sub == nil && q.skips(m) {
				continue
			}
			q.enqueue(targets[i])
		}
	}, nil
}

// skips reports whether a non-durable subscription queue must skip m:
// its consumer is no-local and published m, or (a topic subscription
// only) its network filter refuses m, which would otherwise wait there
// for ever.
func (q *queue) skips(m *Message) bool {
	if m.ProducerID == "" && !q.filtered.Load() {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, c := range q.consumers {
		if c.opts.NoLocal && m.ProducerID != "" && c.opts.Owner == m.ProducerID {
			return true
		}
		if c.opts.Filter != nil && q.dest.Kind.IsTopic() && !c.opts.Filter(m, 0) {
			return true
		}
	}
	return false
}
