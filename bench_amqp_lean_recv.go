package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// amqpLeanReceiver is a consumer over the lean AMQP client. receive reads
// transfers in place, accepts them in ranges (one disposition for a run of
// consecutive delivery-ids) and renews the link credit when half of it is
// used, buffering both and flushing whenever the read buffer runs dry, so
// that one write carries the acknowledgements of a whole burst.
type amqpLeanReceiver struct {
	c      *amqpLeanConn
	accept bool   // unsettled deliveries, accepted by the receiver
	credit uint32 // link credit granted, renewed at half

	// Owned by the receive goroutine.
	deliveryCount  uint32 // deliveries received (the link's delivery-count)
	creditLimit    uint32 // the delivery-count up to which credit was granted
	nextIncoming   uint32 // session transfer-id expected next
	windowLeft     uint32 // transfer frames the broker may still send
	first, last    uint32 // pending accepted range
	pending        bool
	xfer           wire.Transfer // the transfer being handled
	current        uint32        // delivery-id of the delivery being received
	receiving      bool          // a multi-frame delivery is incomplete
	partial        []byte        // its payload so far
	partialSettled bool

	stopping atomic.Bool
	closed   atomic.Bool
}

// newAMQPLeanReceiver connects one consumer, attaches its receiving link to
// dest (in the broker's address form) and grants the link its credit.
func newAMQPLeanReceiver(ctx context.Context, cfg benchConfig, dest string, index int) (*amqpLeanReceiver, error) {
	c, err := dialAMQPLean(ctx, cfg.consumerTarget())
	if err != nil {
		return nil, err
	}
	credit := cfg.prefetch
	if credit <= 0 {
		credit = 1000
	}
	r := &amqpLeanReceiver{
		c: c, accept: cfg.ack != "auto", credit: uint32(min(credit, 1<<24)),
		nextIncoming: c.peerNextOutID, windowLeft: amqpLeanWindow,
	}
	mode := wire.SndUnsettled
	if !r.accept {
		mode = wire.SndSettled
	}
	addr := amqpBrokerAddress(dest, c.peerProps)
	name := fmt.Sprintf("bench-consumer-%d", index)
	// The broker's attach comes once the subscription is in place, before
	// any producer starts.
	if _, err := c.attach(&wire.Attach{
		Name:          name,
		Handle:        amqpLeanHandle,
		Role:          wire.RoleReceiver,
		SndSettleMode: mode,
		RcvSettleMode: wire.RcvFirst,
		Source:        &wire.Source{Address: addr},
		Target:        &wire.Target{Address: name},
	}); err != nil {
		c.close()
		return nil, fmt.Errorf("attach receiver to %s: %w", addr, err)
	}
	r.c.wmu.Lock()
	err = r.appendFlowLocked()
	if err == nil {
		err = r.c.flushLocked()
	}
	r.c.wmu.Unlock()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("flow: %w", err)
	}
	return r, nil
}

// appendFlowLocked buffers a flow that renews the session window and
// grants the link credit up to r.credit. AMQP 1.0 §2.7.4. c.wmu must be
// held.
func (r *amqpLeanReceiver) appendFlowLocked() error {
	r.creditLimit = r.deliveryCount + r.credit
	r.windowLeft = amqpLeanWindow
	next, handle, count, credit := r.nextIncoming, uint32(amqpLeanHandle), r.deliveryCount, r.credit
	return r.c.appendFrameLocked(0, &wire.Flow{
		NextIncomingID: &next,
		IncomingWindow: amqpLeanWindow,
		NextOutgoingID: 0,
		OutgoingWindow: math.MaxUint32,
		Handle:         &handle,
		DeliveryCount:  &count,
		LinkCredit:     &credit,
	})
}

// appendDispositionLocked buffers the accepted outcome of the pending range
// of deliveries. AMQP 1.0 §2.7.6. c.wmu must be held.
func (r *amqpLeanReceiver) appendDispositionLocked() error {
	if !r.pending {
		return nil
	}
	r.pending = false
	d := &wire.Disposition{Role: wire.RoleReceiver, First: r.first, Settled: true, State: amqpAccepted}
	if r.last != r.first {
		last := r.last
		d.Last = &last
	}
	return r.c.appendFrameLocked(0, d)
}

var amqpAccepted = &wire.Accepted{}

// settle adds delivery id to the pending accepted range, writing out the
// range first when id does not extend it.
func (r *amqpLeanReceiver) settle(id uint32) error {
	if r.pending && id == r.last+1 {
		r.last = id
		return nil
	}
	if r.pending {
		r.c.wmu.Lock()
		err := r.appendDispositionLocked()
		r.c.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	r.first, r.last, r.pending = id, id, true
	return nil
}

// flushAcks writes out the pending disposition, a flow when half of the
// credit or session window is used, and flushes.
func (r *amqpLeanReceiver) flushAcks() error {
	c := r.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := r.appendDispositionLocked(); err != nil {
		return err
	}
	if err := r.renewLocked(); err != nil {
		return err
	}
	return c.flushLocked()
}

// renewLocked buffers a flow when half of the credit or of the session
// window is used. c.wmu must be held.
func (r *amqpLeanReceiver) renewLocked() error {
	if r.creditLimit-r.deliveryCount > r.credit/2 && r.windowLeft > amqpLeanWindow/2 {
		return nil
	}
	return r.appendFlowLocked()
}

func (r *amqpLeanReceiver) receive(t *consumerTally, n *atomic.Int64) error {
	c := r.c
	for {
		if c.r.Buffered() == 0 {
			if err := r.flushAcks(); err != nil {
				return r.filter(fmt.Errorf("ack: %w", err))
			}
		}
		typ, ch, body, err := c.readFrame()
		if err != nil {
			return r.filter(err)
		}
		if len(body) == 0 {
			continue
		}
		code, err := wire.PeekDescriptor(body)
		if err != nil {
			return r.filter(err)
		}
		if code == wire.DescTransfer {
			if err := r.onTransfer(body, t, n); err != nil {
				return r.filter(err)
			}
			continue
		}
		p, err := wire.DecodeFrameBody(wire.Frame{Type: typ, Channel: ch, Body: body})
		if err != nil {
			return r.filter(err)
		}
		switch p := p.(type) {
		case *wire.Detach:
			return r.filter(&amqpLeanError{what: "detach", err: p.Error})
		case *wire.End:
			return r.filter(&amqpLeanError{what: "end", err: p.Error})
		case *wire.Close:
			return r.filter(&amqpLeanError{what: "close", err: p.Error})
		}
	}
}

// onTransfer handles one transfer frame: a whole delivery, or part of one.
// AMQP 1.0 §2.6.12, §2.7.5.
func (r *amqpLeanReceiver) onTransfer(body []byte, t *consumerTally, n *atomic.Int64) error {
	x := &r.xfer
	if err := x.Unmarshal(body); err != nil {
		return err
	}
	r.nextIncoming++
	r.windowLeft--
	if !r.receiving {
		if x.DeliveryID == nil {
			return errors.New("the first transfer of a delivery has no delivery-id")
		}
		r.deliveryCount++
		r.current = *x.DeliveryID
		r.partialSettled = x.Settled
	} else {
		r.partialSettled = r.partialSettled || x.Settled
	}
	if x.Aborted {
		r.receiving, r.partial = false, r.partial[:0]
		return nil
	}
	payload := x.Payload
	if x.More || r.receiving {
		if len(r.partial)+len(payload) > maxBenchBody+64<<10 {
			return fmt.Errorf("a delivery larger than %d bytes", maxBenchBody)
		}
		r.partial = append(r.partial, payload...)
		if x.More {
			r.receiving = true
			return nil
		}
		payload, r.receiving = r.partial, false
		defer func() { r.partial = r.partial[:0] }()
	}
	p, seq, ts := amqpBenchFields(payload)
	if t.record(int(p), seq, ts, time.Now()) {
		n.Add(1)
	}
	if r.accept && !r.partialSettled {
		if err := r.settle(r.current); err != nil {
			return err
		}
	}
	if r.creditLimit-r.deliveryCount <= r.credit/2 || r.windowLeft <= amqpLeanWindow/2 {
		r.c.wmu.Lock()
		err := r.renewLocked()
		r.c.wmu.Unlock()
		return err
	}
	return nil
}

// filter turns the error caused by interrupt into nil.
func (r *amqpLeanReceiver) filter(err error) error {
	if r.stopping.Load() {
		return nil
	}
	return err
}

func (r *amqpLeanReceiver) interrupt() {
	r.stopping.Store(true)
	r.c.nc.SetReadDeadline(time.Now())
}

func (r *amqpLeanReceiver) close() {
	if r.closed.Swap(true) {
		return
	}
	r.c.close()
}
