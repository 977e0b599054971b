package amqp

import (
	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// settleRef is one delivery a disposition settles. Reader scratch.
type settleRef struct {
	o   *outbound
	tag uint64
}

// outcomeOf maps a delivery state from the peer's receiver to the broker's
// outcome; terminal is false for a non-terminal state (received). A
// settlement without an outcome counts as accepted. AMQP 1.0 §3.4.
func outcomeOf(st wire.DeliveryState) (o backend.Outcome, terminal bool) {
	switch st := st.(type) {
	case nil, *wire.Accepted:
		return backend.Accepted, st != nil
	case *wire.Rejected:
		return backend.Rejected, true
	case *wire.Released:
		return backend.Released, true
	case *wire.Modified:
		if st.DeliveryFailed {
			return backend.Failed, true
		}
		return backend.Released, true
	}
	return 0, false
}

// onDisposition applies the peer's disposition of deliveries we sent
// (AMQP 1.0 §2.6.13, §2.7.6): each outcome settles its subscription's
// delivery, or joins a transaction; a disposition the peer did not settle
// (rcv-settle-mode second) is answered settled. Dispositions of the peer's
// own deliveries need nothing: we settle those first.
func (s *session) onDisposition(d *wire.Disposition) *protoError {
	if d.Role == wire.RoleSender {
		return nil
	}
	first, last := d.First, d.First
	if d.Last != nil {
		last = *d.Last
	}
	if int32(last-first) < 0 {
		return nil // an empty range in serial-number order
	}
	state := d.State
	var txnID []byte
	if ts, ok := state.(*wire.TransactionalState); ok {
		txnID, state = ts.TxnID, ts.Outcome
	}
	o, terminal := outcomeOf(state)
	if !terminal && !d.Settled {
		return nil // received: progress only
	}
	var t *txn
	if txnID != nil {
		if t = s.c.txns[string(txnID)]; t == nil {
			return sessionErr(wire.CondTransactionUnknownID, "disposition names an unknown transaction")
		}
	}
	c := s.c
	refs := c.settles[:0]
	c.wmu.Lock()
	span := uint64(last-first) + 1
	if span <= uint64(len(s.unsettled)) {
		for id := first; ; id++ {
			if u, ok := s.unsettled[id]; ok {
				refs = append(refs, settleRef{u.o, u.tag})
				delete(s.unsettled, id)
			}
			if id == last {
				break
			}
		}
	} else {
		for id, u := range s.unsettled {
			if id-first <= last-first {
				refs = append(refs, settleRef{u.o, u.tag})
				delete(s.unsettled, id)
			}
		}
	}
	c.wmu.Unlock()
	answer := !d.Settled && len(refs) > 0
	s.settle(refs, o, t)
	if answer {
		// AMQP 1.0 §2.6.12: in rcv-settle-mode second the sender settles
		// once it has applied the outcome, and says so.
		l := last
		c.queuePerf(s.outCh, &wire.Disposition{Role: wire.RoleSender, First: first, Last: &l, Settled: true, State: d.State})
	}
	clear(refs)
	c.settles = refs[:0]
	return nil
}

// settle settles refs with outcome o, or adds them to transaction t.
// Consecutive deliveries of one link settle under one lock.
func (s *session) settle(refs []settleRef, o backend.Outcome, t *txn) {
	var tags []uint64
	for i := 0; i < len(refs); {
		j := i
		tags = tags[:0]
		for j < len(refs) && refs[j].o == refs[i].o {
			tags = append(tags, refs[j].tag)
			j++
		}
		sub := refs[i].o.sub
		switch {
		case t != nil:
			for _, tag := range tags {
				_ = t.tx.Settle(sub, tag, o)
			}
		case len(tags) == 1:
			_ = sub.Settle(tags[0], o)
		default:
			_ = sub.SettleMany(tags, o)
		}
		i = j
	}
}
