package backend

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/backend/store"
)

// A fan-in subscription is one subscription fed by several destinations,
// as ActiveMQ's wildcard and composite consumers are: a queue pattern
// ("orders.>") takes every existing and future queue it matches; a
// composite lists destinations. The caller holds the parent Subscription;
// each queue feeding it has a member, an ordinary consumer of that queue
// (competing with the queue's other consumers, with the parent's
// selector, priority and exclusivity) that spends the parent's shared
// credit and delivers in the parent's name. A delivery tag carries its
// member's index in its low memberBits bits, so a settlement goes back to
// the right queue.
//
// Lock order: Broker.mu, then fanIn.mu, then queue.mu; fanIn.mu is never
// held while a queue's lock is taken, and a member reads only the atomic
// credit and immutable fields of its parent under its queue's lock.

// memberBits is how many low bits of a fan-in delivery tag name the member.
const (
	memberBits = 20
	maxMembers = 1 << memberBits
	memberMask = maxMembers - 1
)

// fanIn is the state of a fan-in subscription.
type fanIn struct {
	// credit is shared by every member: spent under their queues' locks
	// (takeCredit), given by AddCredit and settlements.
	credit atomic.Int64
	// patterns are the queue wildcard patterns the subscription follows
	// (immutable once it is registered with the broker).
	patterns []string

	mu sync.Mutex
	// Guarded by mu. members only grows, and a slot is never rewritten,
	// so a snapshot of the slice may be read without mu.
	members []*Subscription
	queues  map[*queue]bool // the queues a member consumes
	closed  bool
	next    int // where the next credit dispatch starts, for fairness
	full    bool
}

// fansIn reports whether o asks for a fan-in subscription: a composite, or
// a queue wildcard pattern.
func (o *SubscribeOptions) fansIn() bool {
	return len(o.Composite) > 0 || o.Dest.Kind == Queue && isWildcard(o.Dest.Name)
}

// matchesQueue reports whether a queue named name feeds f by pattern. A
// queue whose name is itself a pattern (a producer sent to "orders.>",
// which is taken as a plain name) feeds only the identical pattern.
func (f *fanIn) matchesQueue(name string) bool {
	wild := isWildcard(name)
	for _, p := range f.patterns {
		if p == name || !wild && wildcardMatch(p, name) {
			return true
		}
	}
	return false
}

// add publishes the bound member m for q, giving it its index; false if
// the subscription is closed, q already feeds it, or it is full.
func (f *fanIn) add(m *Subscription, q *queue) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.queues[q] {
		return false
	}
	if len(f.members) >= maxMembers {
		if !f.full {
			f.full = true
			m.b.log.Warn().Str("destination", m.parent.opts.Dest.String()).Int("queues", maxMembers).
				Msg("wildcard subscription reached its queue limit; further matching queues do not feed it")
		}
		return false
	}
	m.index = uint64(len(f.members))
	f.members = append(f.members, m)
	f.queues[q] = true
	return true
}

// member returns the member that made delivery tag, or nil.
func (f *fanIn) member(tag uint64) *Subscription {
	i := int(tag & memberMask)
	f.mu.Lock()
	defer f.mu.Unlock()
	if i < len(f.members) {
		return f.members[i]
	}
	return nil
}

// snapshot returns the members and where a dispatch round should start,
// or nil once closed.
func (f *fanIn) snapshot() ([]*Subscription, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, 0
	}
	start := f.next
	f.next++
	return f.members, start
}

// subscribeFanIn makes the parent subscription for opts and attaches a
// member to each destination it names and each existing queue its
// patterns match; future queues are fed as they are made
// (feedFanInsLocked).
func (b *Broker) subscribeFanIn(ctx context.Context, opts SubscribeOptions, sink Sink, sel *selector.Selector) (*Subscription, error) {
	if opts.Browse {
		return nil, fmt.Errorf("%w: a browse takes one queue, not a wildcard or a composite", ErrBadDestination)
	}
	if opts.Durable() {
		return nil, fmt.Errorf("%w: a durable subscription takes one topic, not a composite", ErrBadDestination)
	}
	p := &Subscription{b: b, opts: opts, sink: sink, sel: sel, fan: &fanIn{queues: map[*queue]bool{}}}
	p.fan.credit.Store(int64(opts.Credit))
	var fixed []Destination
	seen := map[Destination]bool{}
	for _, d := range append([]Destination{opts.Dest}, opts.Composite...) {
		if seen[d] {
			continue
		}
		seen[d] = true
		if d.Kind == Queue && isWildcard(d.Name) {
			p.fan.patterns = append(p.fan.patterns, d.Name)
		} else {
			fixed = append(fixed, d)
		}
	}
	for _, d := range fixed {
		if err := b.attach(ctx, p.memberFor(d)); err != nil {
			p.Close()
			return nil, err
		}
	}
	if len(p.fan.patterns) == 0 {
		return p, nil
	}
	b.mu.Lock()
	if b.closed {
		b.unlock()
		p.Close()
		return nil, ErrClosed
	}
	b.fanIns = append(b.fanIns, p)
	var added []*Subscription
	for d, q := range b.queues {
		if d.Kind == Queue && p.fan.matchesQueue(d.Name) {
			if m := b.addMemberLocked(p, q); m != nil {
				added = append(added, m)
			}
		}
	}
	b.unlock()
	for _, m := range added {
		q := m.q
		q.mu.Lock()
		recs := q.dispatchLocked(nil)
		n := len(q.consumers)
		q.mu.Unlock()
		b.appendAsync(recs)
		b.demandChanged(q.dest, n)
	}
	return p, nil
}

// memberFor returns an unattached member of p for destination d.
func (p *Subscription) memberFor(d Destination) *Subscription {
	o := p.opts
	o.Dest, o.Composite = d, nil
	return p.b.newSubscription(o, p.sink, p.sel, p)
}

// addMemberLocked attaches a new member of p to the queue q without
// dispatching (the caller does, or q is new and empty); nil if q does not
// take one. b.mu must be held for writing.
func (b *Broker) addMemberLocked(p *Subscription, q *queue) *Subscription {
	m := p.memberFor(q.dest)
	m.bind(q)
	if !p.fan.add(m, q) {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		m.closed = true
		return nil
	}
	q.consumers = append(q.consumers, m)
	q.recomputeExclusiveLocked()
	return m
}

// feedFanInsLocked attaches the new queue q to every wildcard
// subscription whose patterns match it, before any message reaches q.
// b.mu must be held for writing; the demand change is reported by unlock.
func (b *Broker) feedFanInsLocked(q *queue) {
	n := 0
	for _, p := range b.fanIns {
		if p.fan.matchesQueue(q.dest.Name) && b.addMemberLocked(p, q) != nil {
			n++
		}
	}
	if n > 0 && b.opts.OnDemand != nil {
		b.demand = append(b.demand, demandEvent{dest: q.dest, n: n})
	}
}

// fanAddCredit adds n to p's shared credit (or sets it, with set) and
// lets the members' queues use it.
func (p *Subscription) fanAddCredit(n int, set bool) {
	f := p.fan
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	if set {
		f.credit.Store(int64(n))
	} else {
		f.credit.Add(int64(n))
	}
	f.mu.Unlock()
	p.dispatchMembers()
}

// dispatchMembers runs the dispatch of the members' queues while credit
// lasts, starting one further along each time so that no queue starves.
func (p *Subscription) dispatchMembers() {
	f := p.fan
	ms, start := f.snapshot()
	var recs []store.Record
	for i := 0; i < len(ms) && f.credit.Load() > 0; i++ {
		m := ms[(start+i)%len(ms)]
		q := m.q
		q.mu.Lock()
		if !m.closed {
			recs = q.dispatchLocked(recs)
		}
		q.mu.Unlock()
		if len(recs) > 0 {
			p.b.appendAsync(recs)
			recs = recs[:0]
		}
	}
}

// fanSettle settles each tag with the member (queue) that delivered it,
// then adds credit.
func (p *Subscription) fanSettle(tags []uint64, o Outcome, write bool, credit int) error {
	var err error
	for len(tags) > 0 {
		// Settle the run of tags of one member at once (a STOMP
		// cumulative ACK mostly names one queue's).
		idx := tags[0] & memberMask
		n := 1
		for n < len(tags) && tags[n]&memberMask == idx {
			n++
		}
		if m := p.fan.member(tags[0]); m != nil {
			if e := m.settleTags(tags[:n], o, write, 0); e != nil {
				err = e
			}
		} else {
			err = ErrUnknownDelivery
		}
		tags = tags[n:]
	}
	if credit > 0 {
		p.fanAddCredit(credit, false)
	}
	return err
}

// fanClose detaches p: it stops following its patterns, gives up its
// credit, and closes every member (their unsettled deliveries are
// redelivered, as Close says).
func (p *Subscription) fanClose() {
	b, f := p.b, p.fan
	b.mu.Lock()
	b.fanIns = slices.DeleteFunc(b.fanIns, func(x *Subscription) bool { return x == p })
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		b.unlock()
		return
	}
	f.closed = true
	f.credit.Store(0)
	ms := f.members
	f.mu.Unlock()
	b.unlock()
	for _, m := range ms {
		m.Close()
	}
}
