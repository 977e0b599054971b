package amqp

import (
	"context"
	"encoding/binary"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// txn is a transaction declared on a coordinator link. AMQP 1.0 §4.
type txn struct {
	id    []byte
	tx    *backend.Tx
	owner *inbound // the coordinator link that declared it
}

// attachCoordinator attaches a transaction controller's link: its target
// is the coordinator, which takes declare and discharge messages.
// AMQP 1.0 §4.2, §4.5.1. Only local transactions are offered.
func (s *session) attachCoordinator(a *wire.Attach) {
	c := s.c
	if a.InitialDeliveryCount == nil {
		s.refuse(a, wire.Errorf(wire.CondInvalidField, "a sender's attach needs initial-delivery-count"))
		return
	}
	for _, capability := range a.Coordinator.Capabilities {
		if capability == wire.TxnDistributed || capability == wire.TxnPromotable {
			s.refuse(a, wire.Errorf(wire.CondNotImplemented, "only local transactions are supported, not %s", capability))
			return
		}
	}
	l := &link{name: a.Name, handle: a.Handle}
	in := &inbound{s: s, l: l, coordinator: true}
	l.in = in
	s.links[a.Handle] = l
	c.mu.Lock()
	c.appendPerfLocked(s.outCh, &wire.Attach{
		Name:          a.Name,
		Handle:        a.Handle,
		Role:          wire.RoleReceiver,
		SndSettleMode: a.SndSettleMode,
		RcvSettleMode: wire.RcvFirst,
		Source:        a.Source,
		Coordinator:   &wire.Coordinator{Capabilities: []wire.Symbol{wire.TxnLocal, wire.TxnMultiTxnsPerSsn, wire.TxnMultiSsnsPerTxn}},
	})
	in.deliveryCount = *a.InitialDeliveryCount
	in.grantLocked()
	c.mu.Unlock()
	c.signal()
	c.log.Debug().Str("link", a.Name).Msg("transaction coordinator attached")
}

// coordinate handles one message to the coordinator: declare starts a
// transaction and is answered declared{txn-id}; discharge commits it (or
// rolls it back with fail) and is answered accepted, or rejected with
// amqp:transaction:unknown-id or amqp:transaction:rollback. AMQP 1.0
// §4.3, §4.4.
func (in *inbound) coordinate(payload []byte) {
	c := in.s.c
	msg, err := wire.UnmarshalMessage(payload)
	if err != nil {
		in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondDecodeError, "%v", err)})
		return
	}
	d, _ := msg.Value.(wire.Described)
	code, _ := wire.DescriptorCode(d.Descriptor)
	switch code {
	case wire.DescDeclare:
		var decl wire.Declare
		if err := wire.DecodeInto(msg.Value, &decl); err != nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondDecodeError, "declare: %v", err)})
			return
		}
		if decl.GlobalID != nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondNotImplemented, "distributed transactions are not supported")})
			return
		}
		c.txnSeq++
		id := binary.BigEndian.AppendUint64(nil, c.txnSeq)
		c.txns[string(id)] = &txn{id: id, tx: c.b.Begin(), owner: in}
		in.finish(&wire.Declared{TxnID: id})
	case wire.DescDischarge:
		var dis wire.Discharge
		if err := wire.DecodeInto(msg.Value, &dis); err != nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondDecodeError, "discharge: %v", err)})
			return
		}
		t := c.txns[string(dis.TxnID)]
		if t == nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondTransactionUnknownID, "unknown transaction")})
			return
		}
		delete(c.txns, string(dis.TxnID))
		if dis.Fail {
			t.tx.Abort()
			in.finish(accepted)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := t.tx.Commit(ctx)
		cancel()
		if err != nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondTransactionRollback, "commit failed: %v", err)})
			return
		}
		in.finish(accepted)
	default:
		in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondNotAllowed, "the coordinator takes declare and discharge messages")})
	}
}
