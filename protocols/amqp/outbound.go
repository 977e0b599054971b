package amqp

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// maxCredit bounds the link-credit taken from one flow, so that credit
// arithmetic stays inside AMQP's serial-number range (RFC 1982).
const maxCredit = 1 << 24

// outbound is a link on which we send: the peer's receiver, fed by a
// broker subscription. It is the subscription's backend.Sink.
type outbound struct {
	s          *session
	l          *link
	dest       backend.Destination
	presettled bool // snd-settle-mode settled: at-most-once, AutoAck
	durable    bool

	// sub is set by the reader after Subscribe returns and read only by
	// the reader (Deliver may run before it is set).
	sub *backend.Subscription

	// Guarded by c.mu. The link's flow state, AMQP 1.0 §2.6.7: our
	// delivery-count, and limit, the delivery-count up to which the peer
	// gave credit (its delivery-count plus link-credit). The subscription's
	// credit is kept equal to limit - deliveryCount.
	deliveryCount uint32
	limit         uint32

	// detached: set by the reader when the link goes; the writer then drops
	// what is queued for it.
	detached atomic.Bool

	// browsing: a queue browser's link (source distribution-mode copy).
	// Its subscription handed over a snapshot of the queue when it was
	// made and is closed; browse holds the part of the snapshot not sent
	// yet, which the peer's credit releases. Set by the reader before the
	// link is in the session's table; browse is then guarded by c.mu.
	browsing bool
	browse   []backend.Delivery
}

// browseCollector is the sink of a browse subscription: Subscribe hands it
// the queue's waiting messages before it returns (backend.SubscribeOptions
// Browse), without credit; the link then sends them as the peer's credit
// allows.
type browseCollector struct {
	mu    sync.Mutex
	items []backend.Delivery
}

// Deliver implements backend.Sink.
func (b *browseCollector) Deliver(d backend.Delivery) {
	b.mu.Lock()
	b.items = append(b.items, d)
	b.mu.Unlock()
}

// take returns what was delivered.
func (b *browseCollector) take() []backend.Delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}

// unsettledOut is one of our deliveries the peer has not settled.
type unsettledOut struct {
	o   *outbound
	tag uint64
}

// Deliver implements backend.Sink. It runs on a broker goroutine with the
// queue's lock held, so it only hands the delivery to the connection's
// writer, which encodes it and sends it within the peer's session window.
// AMQP 1.0 §2.6.12.
func (o *outbound) Deliver(d backend.Delivery) {
	c := o.s.c
	c.mu.Lock()
	over := o.deliverLocked(d)
	c.mu.Unlock()
	c.signal()
	if over {
		c.slowConsumer()
	}
}

// deliverLocked queues d for the writer, taking one credit, and reports
// whether the connection became a slow consumer. c.mu must be held.
func (o *outbound) deliverLocked(d backend.Delivery) (over bool) {
	c := o.s.c
	if c.wclosed {
		return false
	}
	if len(c.acksDue) > 0 {
		c.flushAcksLocked()
	}
	o.deliveryCount++
	before := c.outBytes + int(c.heldBytes.Load())
	c.out = append(c.out, outItem{kind: outDelivery, o: o, d: d})
	c.outBytes += deliverySize(d)
	return c.overCapLocked(before)
}

// feedBrowseLocked sends what the link's credit allows of a browser's
// snapshot. c.mu must be held.
func (o *outbound) feedBrowseLocked() (over bool) {
	n := 0
	for n < len(o.browse) && int32(o.limit-o.deliveryCount) > 0 {
		over = o.deliverLocked(o.browse[n]) || over
		o.browse[n] = backend.Delivery{}
		n++
	}
	o.browse = o.browse[n:]
	if len(o.browse) == 0 {
		o.browse = nil
	}
	return over
}

// appendTransfer appends one transfer frame carrying as much of payload as
// fits in maxFrame, setting more when some is left, and returns how much
// it carried. AMQP 1.0 §2.7.5.
func appendTransfer(buf []byte, ch uint16, t *wire.Transfer, payload []byte, maxFrame uint32) ([]byte, int) {
	start := len(buf)
	for {
		buf = append(buf[:start], 0, 0, 0, 0, 2, byte(wire.FrameAMQP), byte(ch>>8), byte(ch))
		buf, _ = t.Marshal(buf) // a transfer of these fields always encodes
		n := min(int(maxFrame)-(len(buf)-start), len(payload))
		if n < len(payload) && !t.More {
			t.More = true // re-encode: the flag takes a byte
			continue
		}
		buf = append(buf, payload[:n]...)
		binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start))
		return buf, n
	}
}

// onFlow applies the peer's link flow (AMQP 1.0 §2.6.7, §2.7.4): the new
// credit becomes the subscription's, a drain uses up what the queue cannot
// fill and is answered, an echo is answered. Reader goroutine.
func (o *outbound) onFlow(f *wire.Flow) *protoError {
	c := o.s.c
	if f.LinkCredit != nil {
		var dc uint32 // our initial delivery-count when the peer has none yet
		if f.DeliveryCount != nil {
			dc = *f.DeliveryCount
		}
		limit := dc + min(*f.LinkCredit, maxCredit)
		c.mu.Lock()
		delta := int32(limit - o.limit)
		o.limit = limit
		over := false
		if o.browsing {
			over = o.feedBrowseLocked()
		}
		c.mu.Unlock()
		switch {
		case o.browsing:
			c.signal()
			if over {
				c.slowConsumer()
			}
		case delta != 0:
			o.sub.AddCredit(int(delta))
		}
	}
	switch {
	case f.Drain:
		// AddCredit delivered what the queue holds (a browser: what its
		// snapshot holds); stop, and spend the rest of the credit by
		// advancing the delivery-count. A browser that has seen its whole
		// snapshot learns so from this answer.
		if !o.browsing {
			o.sub.SetCredit(0)
		}
		c.mu.Lock()
		if int32(o.limit-o.deliveryCount) > 0 {
			o.deliveryCount = o.limit
		} else {
			o.limit = o.deliveryCount // never back: the credit is just gone
		}
		o.queueFlowLocked(true)
		c.mu.Unlock()
		c.signal()
	case f.Echo:
		c.mu.Lock()
		o.queueFlowLocked(false)
		c.mu.Unlock()
		c.signal()
	}
	return nil
}

// queueFlowLocked queues a flow with the link's state; it follows the
// link's queued transfers. c.mu must be held.
func (o *outbound) queueFlowLocked(drain bool) {
	credit := uint32(0)
	if d := int32(o.limit - o.deliveryCount); d > 0 {
		credit = uint32(d)
	}
	o.s.c.queueFlowLocked(outItem{s: o.s, o: o, link: true, handle: o.l.handle, count: o.deliveryCount, credit: credit, drain: drain})
}

// detach stops the link: deliveries not sent yet are dropped and its
// unsettled deliveries forgotten, then the subscription closes (its
// unsettled messages are redelivered) or, for a durable subscription the
// peer closed, is deleted. Reader goroutine.
func (o *outbound) detach(closed bool) {
	s := o.s
	c := s.c
	o.detached.Store(true)
	if o.browsing {
		c.mu.Lock()
		o.browse = nil
		c.mu.Unlock()
	}
	c.wmu.Lock()
	kept := s.held[:0]
	for _, it := range s.held {
		if it.o == o {
			if it.kind == outDelivery {
				c.heldBytes.Add(-int64(len(it.payload) - it.off))
			}
			continue
		}
		kept = append(kept, it)
	}
	clear(s.held[len(kept):])
	s.held = kept
	for id, u := range s.unsettled {
		if u.o == o {
			delete(s.unsettled, id)
		}
	}
	c.wmu.Unlock()
	o.pullDone() // a duplex bridge's pull (network.go)
	if closed && o.durable {
		if err := o.sub.Unsubscribe(); err != nil {
			c.log.Warn().Err(err).Str("link", o.l.name).Msg("removing the durable subscription failed")
		}
		return
	}
	o.sub.Close()
}
