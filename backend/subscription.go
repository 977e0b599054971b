package backend

import (
	"slices"
	"time"

	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/backend/store"
)

// Subscription is a consumer attached to a queue, a topic or a durable
// subscription, or fed by several of them (a queue wildcard or a
// composite: see SubscribeOptions.Composite). Its methods are safe for
// concurrent use; they take the queues' locks briefly and never block on
// I/O.
//
// A fan-in subscription (fan set) is what the caller holds: it owns the
// credit and hands the work to its members, one internal Subscription per
// queue, which deliver and settle in their parent's name.
type Subscription struct {
	b    *Broker
	q    *queue // nil for a fan-in subscription
	opts SubscribeOptions
	sink Sink
	// topic is set for topic subscriptions (to detach on Close).
	topic *topic
	// sel filters the messages s takes; nil takes all.
	sel *selector.Selector
	// maxRedeliveries is the redelivery limit for s's deliveries.
	maxRedeliveries int
	// redeliveryDelay delays a failed delivery's redelivery.
	redeliveryDelay time.Duration

	// fan is set on a fan-in subscription.
	fan *fanIn
	// parent is the fan-in subscription a member feeds (nil otherwise);
	// index is the member's place in it, the low bits of its tags. Both
	// are set before the member is attached and never change.
	parent *Subscription
	index  uint64

	// Guarded by q.mu.
	credit   int // unused by members: their parent's fan.credit counts
	nextTag  uint64
	inflight map[uint64]*entry
	closed   bool
	groups   int // message groups s owns
}

// matches reports whether s's selector (and network filter) takes e.
// q.mu must be held.
func (s *Subscription) matches(e *entry) bool {
	return (s.sel == nil || s.sel.Matches(e)) && (s.opts.Filter == nil || s.opts.Filter(e.msg, e.arrived))
}

// hasCredit reports whether s may take a delivery. q.mu must be held.
func (s *Subscription) hasCredit() bool {
	if s.parent != nil {
		return s.parent.fan.credit.Load() > 0
	}
	return s.credit > 0
}

// takeCredit spends one unit of s's credit, reporting false if there is
// none (a member's shared credit may have gone to another queue since
// hasCredit). q.mu must be held.
func (s *Subscription) takeCredit() bool {
	if s.parent != nil {
		c := &s.parent.fan.credit
		for {
			v := c.Load()
			if v <= 0 {
				return false
			}
			if c.CompareAndSwap(v, v-1) {
				return true
			}
		}
	}
	if s.credit <= 0 {
		return false
	}
	s.credit--
	return true
}

// bind attaches s to q and resolves its redelivery settings: the
// subscription's own, else q's policy.
func (s *Subscription) bind(q *queue) {
	s.q = q
	s.maxRedeliveries = q.pol.maxRedeliveries
	if s.opts.MaxRedeliveries != nil {
		s.maxRedeliveries = *s.opts.MaxRedeliveries
	}
	s.redeliveryDelay = q.pol.redeliveryDelay
	if s.opts.RedeliveryDelay != nil {
		s.redeliveryDelay = *s.opts.RedeliveryDelay
	}
}

// Options returns the options s was created with.
func (s *Subscription) Options() SubscribeOptions { return s.opts }

// deliverLocked hands e to s, whose credit chooseLocked took; first says
// e (re)assigned its message group to s. q.mu must be held.
func (s *Subscription) deliverLocked(e *entry, first bool, recs []store.Record) []store.Record {
	s.nextTag++
	tag := s.nextTag
	handle := s // what the sink sees: a member delivers in its parent's name
	if s.parent != nil {
		tag = tag<<memberBits | s.index
		handle = s.parent
	}
	count := e.deliveries
	e.deliveries++
	var recorded uint64
	if s.opts.AutoAck {
		recs = s.q.removeLocked(e, recs)
	} else {
		s.inflight[tag] = e
		if e.stored && s.b.com != nil {
			// Queued at once, not with recs: its position orders it for
			// WaitRecorded.
			recorded = s.b.com.appendAsyncPos(store.Record{Op: store.OpDelivered, Queue: s.q.storeName, ID: e.msg.Seq, Count: e.deliveries})
		}
	}
	if e.msg.GroupID != "" {
		s.q.groupDeliveredLocked(e, s)
	}
	s.sink.Deliver(Delivery{Msg: e.msg, Sub: handle, Tag: tag, Count: count, FirstForGroup: first, RecordedAt: recorded})
	return recs
}

// AddCredit allows n more deliveries (AMQP flow, STOMP prefetch refill).
func (s *Subscription) AddCredit(n int) {
	if s.fan != nil {
		s.fanAddCredit(n, false)
		return
	}
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return
	}
	s.credit += n
	recs := q.dispatchLocked(nil)
	q.mu.Unlock()
	s.b.appendAsync(recs)
}

// SetCredit sets the credit to n (AMQP flow with an absolute link-credit).
func (s *Subscription) SetCredit(n int) {
	if s.fan != nil {
		s.fanAddCredit(n, true)
		return
	}
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return
	}
	s.credit = n
	recs := q.dispatchLocked(nil)
	q.mu.Unlock()
	s.b.appendAsync(recs)
}

// Settle settles the delivery tag with outcome o. Accepted removes the
// message (the ack record is written asynchronously: use Broker.Sync to wait
// for it); Released and Failed make it deliverable again; Rejected moves it
// to the dead-letter queue.
func (s *Subscription) Settle(tag uint64, o Outcome) error {
	return s.settleTags([]uint64{tag}, o, true, 0)
}

// SettleMany settles several tags with one outcome under one lock.
func (s *Subscription) SettleMany(tags []uint64, o Outcome) error {
	return s.settleTags(tags, o, true, 0)
}

// SettleAndCredit settles tags and adds credit in one step (a STOMP ACK
// refills the prefetch window), taking the queue's lock once.
func (s *Subscription) SettleAndCredit(tags []uint64, o Outcome, credit int) error {
	return s.settleTags(tags, o, true, credit)
}

// ackRecord appends the ack record for tag, if its message is stored.
func (s *Subscription) ackRecord(tag uint64, recs []store.Record) []store.Record {
	if s.fan != nil {
		if m := s.fan.member(tag); m != nil {
			return m.ackRecord(tag, recs)
		}
		return recs
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if e, ok := s.inflight[tag]; ok && e.stored {
		recs = append(recs, store.Record{Op: store.OpAck, Queue: s.q.storeName, ID: e.msg.Seq})
	}
	return recs
}

// settleTags settles tags and adds credit; with write false the ack
// records were already written (a transaction's commit).
func (s *Subscription) settleTags(tags []uint64, o Outcome, write bool, credit int) error {
	if s.fan != nil {
		return s.fanSettle(tags, o, write, credit)
	}
	q := s.q
	var recs []store.Record
	var dead, moved []*entry
	var err error
	q.mu.Lock()
	if !s.closed {
		s.credit += credit
	}
	for _, tag := range tags {
		e, ok := s.inflight[tag]
		if !ok {
			err = ErrUnknownDelivery
			continue
		}
		delete(s.inflight, tag)
		if s.opts.Network && (o == Unknown || o == Accepted && s.b.net.doubted.Load()) {
			moved = append(moved, e)
		}
		q.groupSettledLocked(e)
		switch o {
		case Accepted:
			if write {
				recs = q.removeLocked(e, recs)
			}
		case Released:
			// A release is not a failed delivery: it does not count.
			if e.deliveries > 0 {
				e.deliveries--
			}
			q.requeueLocked(e)
		case Unknown:
			q.requeueLocked(e) // its delivery counts: flagged next time
		case Failed:
			if s.overLimit(e) {
				dead = append(dead, e)
			} else {
				s.delayLocked(e)
				q.requeueLocked(e)
			}
		default: // Rejected
			dead = append(dead, e)
		}
	}
	if len(dead) == 0 || o == Released || o == Failed || o == Unknown || credit > 0 {
		recs = q.dispatchLocked(recs)
	}
	q.mu.Unlock()
	s.b.appendAsync(recs)
	for _, e := range dead {
		s.b.deadLetter(q, e, deadCause(o, e.deliveries))
	}
	if len(moved) > 0 {
		s.b.net.forwardSettled(q.dest, moved, o == Accepted)
	}
	return err
}

// Close detaches s. Its unsettled deliveries become deliverable again,
// marked redelivered, ahead of newer messages (a network subscription's
// as released: not counted as failed deliveries). A non-durable topic
// subscription's messages are dropped with it.
func (s *Subscription) Close() {
	if s.fan != nil {
		s.fanClose()
		return
	}
	q := s.q
	q.mu.Lock()
	if s.closed {
		q.mu.Unlock()
		return
	}
	s.closed = true
	q.consumers = slices.DeleteFunc(q.consumers, func(c *Subscription) bool { return c == s })
	q.next = 0
	if q.exclusive == s {
		q.exclusive = nil
		q.recomputeExclusiveLocked()
	}
	q.releaseGroupsLocked(s)
	// A consumer that went away without settling counts as a failed
	// delivery (ActiveMQ's redelivery counter): poison messages that kill
	// their consumers end in the DLQ instead of looping.
	var dead []*entry
	for _, e := range s.inflight {
		if s.opts.Network {
			// A network bridge's deliveries were not consumed: they
			// come back as released, not as failed deliveries.
			if e.deliveries > 0 {
				e.deliveries--
			}
			q.requeueLocked(e)
			continue
		}
		if s.overLimit(e) {
			dead = append(dead, e)
		} else {
			s.delayLocked(e)
			q.requeueLocked(e)
		}
	}
	s.inflight = nil
	recs := q.dispatchLocked(nil)
	remaining := len(q.consumers)
	q.mu.Unlock()
	s.b.appendAsync(recs)
	for _, e := range dead {
		s.b.deadLetter(q, e, deadCause(Failed, e.deliveries))
	}
	if s.topic != nil && q.sub == nil {
		s.topic.remove(q)
	}
	s.b.demandChanged(s.opts.Dest, remaining)
}

// delayLocked sets when e, whose delivery failed, may be redelivered:
// the redelivery delay, multiplied by the back-off for each earlier
// failure, capped (ActiveMQ's RedeliveryPolicy). q.mu must be held.
func (s *Subscription) delayLocked(e *entry) {
	d := s.redeliveryDelay
	if d <= 0 {
		return
	}
	p := s.q.pol
	if p.backOffMultiplier > 1 {
		for i := uint32(1); i < e.deliveries && d < p.maxRedeliveryDelay; i++ {
			d = time.Duration(float64(d) * p.backOffMultiplier)
		}
	}
	if p.maxRedeliveryDelay > 0 {
		d = min(d, p.maxRedeliveryDelay)
	}
	e.notBefore = time.Now().Add(d).UnixMilli()
}

// overLimit reports whether e, whose delivery failed, has used up its
// redeliveries.
func (s *Subscription) overLimit(e *entry) bool {
	max := s.maxRedeliveries
	return max >= 0 && int(e.deliveries) > max
}

// Unsubscribe closes s and, for a durable subscription, deletes it and its
// stored messages.
func (s *Subscription) Unsubscribe() error {
	s.Close()
	if s.fan != nil || s.q.sub == nil {
		return nil
	}
	return s.b.DeleteDurable(s.opts.ClientID, s.opts.DurableName)
}
