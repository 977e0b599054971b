package amqp

import (
	"sync"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// inbound is a link on which the peer sends: a producer (each delivery is
// published) or a transaction controller (coordinator). We are its
// receiver and grant it credit.
type inbound struct {
	s           *session
	l           *link
	dest        backend.Destination   // zero: anonymous relay, the message's to decides
	more        []backend.Destination // the other members of a composite target ("queue://a,queue://b")
	coordinator bool

	// Owned by the reader goroutine: the delivery being received.
	receiving bool
	id        uint32 // its delivery-id
	settled   bool
	state     wire.DeliveryState
	buf       []byte // the payload of its transfers so far

	// Guarded by c.mu. The link's flow state, AMQP 1.0 §2.6.7, as the
	// receiver keeps it.
	deliveryCount uint32
	credit        uint32
	starved       bool // owed credit once the connection's publishes drain
	detached      bool
}

// grantLocked tops the link's credit up to LinkCredit and tells the peer,
// unless too many of the connection's publishes wait for the store: then
// the link is starved until they drain (backpressure). c.mu must be held.
func (in *inbound) grantLocked() {
	c := in.s.c
	if in.detached || in.s.ended.Load() || in.starved {
		return
	}
	if !in.coordinator && c.pending >= c.opts.MaxPendingPublishes {
		in.starved = true
		c.starved = append(c.starved, in)
		return
	}
	in.credit = c.opts.LinkCredit
	in.queueFlowLocked()
}

// queueFlowLocked queues a flow with the link's state. c.mu must be held.
func (in *inbound) queueFlowLocked() {
	if in.detached {
		return
	}
	in.s.c.queueFlowLocked(outItem{s: in.s, link: true, handle: in.l.handle, count: in.deliveryCount, credit: in.credit})
}

// onTransfer handles one transfer frame of the link: the first frame of a
// delivery takes a credit; frames are reassembled up to MaxMessageSize; an
// aborted delivery is dropped. AMQP 1.0 §2.6.12, §2.7.5.
func (in *inbound) onTransfer(t *wire.Transfer) *protoError {
	c := in.s.c
	h := in.l.handle
	if !in.receiving {
		if t.DeliveryID == nil {
			return linkErr(h, wire.CondInvalidField, "the first transfer of a delivery has no delivery-id")
		}
		c.mu.Lock()
		if in.credit == 0 {
			c.mu.Unlock()
			return linkErr(h, wire.CondTransferLimitExceeded, "transfer on link %q without link credit", in.l.name)
		}
		in.credit--
		in.deliveryCount++
		granted := false
		if in.credit <= c.opts.LinkCredit/2 {
			before := len(c.out)
			in.grantLocked()
			granted = len(c.out) != before
		}
		c.mu.Unlock()
		if granted {
			c.signal()
		}
		in.receiving = true
		in.id, in.settled, in.state = *t.DeliveryID, t.Settled, t.State
	} else {
		if t.DeliveryID != nil && *t.DeliveryID != in.id {
			return linkErr(h, wire.CondInvalidField, "transfer for delivery %d while delivery %d is incomplete", *t.DeliveryID, in.id)
		}
		in.settled = in.settled || t.Settled
		if t.State != nil {
			in.state = t.State
		}
	}
	if t.Aborted {
		in.receiving, in.buf, in.state = false, nil, nil
		return nil
	}
	if uint64(len(in.buf))+uint64(len(t.Payload)) > c.opts.MaxMessageSize {
		return linkErr(h, wire.CondMessageSizeExceeded, "message larger than max-message-size %d", c.opts.MaxMessageSize)
	}
	if t.More {
		in.buf = append(in.buf, t.Payload...)
		return nil
	}
	payload := t.Payload // the frame's own buffer: ours to keep
	if len(in.buf) > 0 {
		payload = append(in.buf, t.Payload...)
	}
	in.receiving, in.buf = false, nil
	if in.coordinator {
		in.coordinate(payload)
	} else {
		in.publish(payload)
	}
	in.state = nil
	return nil
}

// publish publishes one complete delivery. An unsettled one is answered
// with a disposition once the broker has it safe (a durable message on
// disk): accepted, or rejected with the error; in delivery order.
func (in *inbound) publish(payload []byte) {
	c := in.s.c
	var txnID []byte
	if ts, ok := in.state.(*wire.TransactionalState); ok {
		txnID = ts.TxnID
	}
	m, werr := c.messageFromAMQP(payload, in.dest)
	if werr != nil {
		in.finish(&wire.Rejected{Error: werr})
		return
	}
	if txnID != nil {
		t := c.txns[string(txnID)]
		if t == nil {
			in.finish(&wire.Rejected{Error: wire.Errorf(wire.CondTransactionUnknownID, "unknown transaction")})
			return
		}
		if err := t.tx.Publish(m); err != nil {
			in.finish(&wire.Rejected{Error: brokerError(err)})
			return
		}
		for _, d := range in.more {
			mc, _ := c.messageFromAMQP(payload, d) // decoded once already
			if err := t.tx.Publish(mc); err != nil {
				in.finish(&wire.Rejected{Error: brokerError(err)})
				return
			}
		}
		in.finish(&wire.TransactionalState{TxnID: txnID, Outcome: accepted})
		return
	}
	seq := c.trackPublish(in.s, in.id, in.settled)
	done := c.settledDone
	if !in.settled {
		done = c.publishDone(in.s, seq, false)
	}
	if len(in.more) == 0 {
		if err := c.publishAsync(m, done); err != nil {
			done(err)
		}
		return
	}
	// A composite target: a copy for each member; the delivery's outcome
	// waits for all of them, and the first error rejects it.
	done = joinDone(1+len(in.more), done)
	if err := c.b.PublishAsync(m, done); err != nil {
		done(err)
	}
	for _, d := range in.more {
		mc, _ := c.messageFromAMQP(payload, d)
		if err := c.b.PublishAsync(mc, done); err != nil {
			done(err)
		}
	}
}

// joinDone returns a publish callback that calls done once, after n
// calls, with the first error among them.
func joinDone(n int, done func(error)) func(error) {
	var mu sync.Mutex
	var first error
	return func(err error) {
		mu.Lock()
		n--
		if first == nil {
			first = err
		}
		last, e := n == 0, first
		mu.Unlock()
		if last {
			done(e)
		}
	}
}

// finish settles the current delivery at once with st (nothing to send
// for a delivery the peer settled).
func (in *inbound) finish(st wire.DeliveryState) {
	if in.settled {
		return
	}
	c := in.s.c
	c.mu.Lock()
	in.s.completeLocked(in.s.acks.push(in.id), st)
	c.mu.Unlock()
	c.signal()
}

// publishDone returns the broker's callback for one publish: it counts the
// publish done and, for an unsettled delivery, records its outcome. It
// runs on the store's goroutine (or the reader's, for a message that needs
// no store) and does not block.
func (c *conn) publishDone(s *session, seq uint64, settled bool) func(error) {
	return func(err error) {
		c.mu.Lock()
		c.publishSettledLocked()
		if !settled {
			var st wire.DeliveryState = accepted
			if err != nil {
				st = &wire.Rejected{Error: brokerError(err)}
			}
			s.completeLocked(seq, st)
		}
		c.mu.Unlock()
		c.signal()
		if err != nil && settled {
			c.log.Warn().Err(err).Msg("a pre-settled message could not be published; it is lost")
		}
	}
}

// detach stops granting credit; a delivery in progress is dropped. A
// coordinator's open transactions roll back. AMQP 1.0 §4.3.
func (in *inbound) detach() {
	c := in.s.c
	c.mu.Lock()
	in.detached = true
	c.mu.Unlock()
	in.receiving, in.buf, in.state = false, nil, nil
	if in.coordinator {
		for id, t := range c.txns {
			if t.owner == in {
				t.tx.Abort()
				delete(c.txns, id)
			}
		}
	}
}
