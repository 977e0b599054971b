package backend

import (
	"context"
	"errors"
	"sync"

	"github.com/mqgate/mqgate/backend/store"
)

// ErrTxDone is returned when a finished transaction is used again.
var ErrTxDone = errors.New("transaction already committed or aborted")

// Tx groups publishes and settlements that take effect together at Commit
// (STOMP BEGIN/COMMIT/ABORT, AMQP transactions).
type Tx struct {
	b *Broker

	mu sync.Mutex
	// Guarded by mu.
	pubs []*Message
	acks []txSettle
	done bool
}

type txSettle struct {
	s   *Subscription
	tag uint64
	o   Outcome
}

// Begin starts a transaction.
func (b *Broker) Begin() *Tx { return &Tx{b: b} }

// Publish adds m to the transaction; it is routed at Commit. The broker
// owns m from now on.
func (t *Tx) Publish(m *Message) error {
	if err := ValidateName(m.Dest.Name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	t.pubs = append(t.pubs, m)
	return nil
}

// Settle adds the settlement of s's delivery tag; it is applied at Commit.
// Until then the message stays in flight with s.
func (t *Tx) Settle(s *Subscription, tag uint64, o Outcome) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return ErrTxDone
	}
	t.acks = append(t.acks, txSettle{s: s, tag: tag, o: o})
	return nil
}

// Commit makes every publish and settlement of t take effect atomically:
// their store records are written as one batch, then applied.
func (t *Tx) Commit(ctx context.Context) error {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return ErrTxDone
	}
	t.done = true
	pubs, acks := t.pubs, t.acks
	t.mu.Unlock()

	var recs []store.Record
	applies := make([]func(), 0, len(pubs))
	for _, m := range pubs {
		var apply func()
		var err error
		recs, apply, err = t.b.route(m, recs)
		if err != nil {
			t.release(acks)
			return err
		}
		applies = append(applies, apply)
	}
	for _, a := range acks {
		if a.o == Accepted {
			recs = a.s.ackRecord(a.tag, recs)
		}
	}
	ch := make(chan error, 1)
	t.b.commit(&commitReq{recs: recs, done: func(err error) { ch <- err }, apply: func() {
		for _, f := range applies {
			f()
		}
		for _, a := range acks {
			_ = a.s.settleTags([]uint64{a.tag}, a.o, false, 0)
		}
	}})
	select {
	case err := <-ch:
		if err != nil {
			t.release(acks)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Abort discards t's publishes; the deliveries it settled become
// deliverable again, marked redelivered (as ActiveMQ does on rollback).
func (t *Tx) Abort() {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done = true
	acks := t.acks
	t.pubs, t.acks = nil, nil
	t.mu.Unlock()
	t.release(acks)
}

func (t *Tx) release(acks []txSettle) {
	for _, a := range acks {
		_ = a.s.settleTags([]uint64{a.tag}, Failed, true, 0)
	}
}
