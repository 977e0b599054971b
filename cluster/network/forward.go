package network

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/backend"
)

// rejectBackoff is how long a network subscription goes without the
// credit of a delivery the peer did not accept (rejected, released): the
// message is released here and retried later, not in a tight loop.
const rejectBackoff = time.Second

// netSub is a bridge's network subscription for one destination the peer
// demands. It is the subscription's Sink.
type netSub struct {
	br   *bridge
	dest backend.Destination
	hops int    // from here to the peer's consumers
	peer string // the peer's node id

	sub     atomic.Pointer[backend.Subscription] // set once subscribed
	closing atomic.Bool                          // draining: no more credit, Close when nothing is unsettled
	dead    atomic.Bool                          // closed by teardown: deliveries are left to Close
	wakeAt  atomic.Int64                         // unix ms of the armed replay wake-up, 0 when none

	// Guarded by br.mu.
	outstanding int // deliveries handed to the bridge and not settled
}

// fwd is one delivery to forward.
type fwd struct {
	ns *netSub
	d  backend.Delivery
}

// sent is a forwarded delivery waiting for the peer's outcome.
type sent struct {
	f  fwd
	rc amqp.SendReceipt
}

// open subscribes ns on the local broker.
func (ns *netSub) open(ctx context.Context) error {
	o := ns.br.n.opts
	prio := 0
	if o.DecreasePriority {
		prio = PriorityBase - (ns.hops - 1)
	}
	s, err := ns.br.n.b.Subscribe(ctx, backend.SubscribeOptions{
		Dest:     ns.dest,
		Credit:   o.Prefetch,
		Owner:    ContainerPrefix + o.NodeID,
		Priority: prio,
		Network:  true,
		Filter:   ns.filter,
	}, ns)
	if err != nil {
		return err
	}
	ns.sub.Store(s)
	return nil
}

// Deliver queues d for the bridge's sender. Broker goroutines call it
// under a queue lock; it takes only br.mu.
func (ns *netSub) Deliver(d backend.Delivery) {
	br := ns.br
	br.mu.Lock()
	if ns.dead.Load() {
		br.mu.Unlock()
		return // teardown closes the subscription, which takes d back
	}
	set := br.out[d.Sub]
	if set == nil {
		set = outSet{}
		br.out[d.Sub] = set
	}
	set[d.Tag] = ns
	ns.outstanding++
	br.pending = append(br.pending, fwd{ns: ns, d: d})
	br.mu.Unlock()
	select {
	case br.wake <- struct{}{}:
	default:
	}
}

// filter is the network subscription's loop prevention
// (SubscribeOptions.Filter): a message goes to the peer unless the peer
// is on its broker path or the path is TTL long; a stranded queue
// message goes anyway once it waited the replay delay here and no local
// consumer wants it. Called under the queue's lock.
func (ns *netSub) filter(m *backend.Message, arrived int64) bool {
	path := m.BrokerPath
	if len(path) == 0 {
		return true
	}
	n := ns.br.n
	if len(path) < n.opts.TTL && !slices.Contains(path, ns.peer) {
		return true
	}
	if ns.dest.Kind != backend.Queue || !n.opts.Replay || n.localDemand(ns.dest) > 0 {
		return false
	}
	if arrived > 0 {
		due := arrived + n.opts.ReplayDelay.Milliseconds()
		if now := time.Now().UnixMilli(); now < due {
			ns.wakeAtLeast(due)
			return false
		}
	}
	return true
}

// wakeAtLeast arranges a dispatch of the subscription's queue at unix ms
// due (a stranded message becomes due for replay), unless an earlier one
// is armed. Called under the queue's lock: the dispatch runs on a timer
// goroutine.
func (ns *netSub) wakeAtLeast(due int64) {
	for {
		cur := ns.wakeAt.Load()
		if cur != 0 && cur <= due {
			return
		}
		if ns.wakeAt.CompareAndSwap(cur, due) {
			break
		}
	}
	time.AfterFunc(time.Duration(due-time.Now().UnixMilli()+1)*time.Millisecond, func() {
		ns.wakeAt.CompareAndSwap(due, 0)
		if s := ns.sub.Load(); s != nil && !ns.closing.Load() && !ns.dead.Load() {
			s.AddCredit(0) // dispatch again
		}
	})
}

// sendLoop sends the queued deliveries, in order, on the forwarding link
// and hands their receipts to ackLoop, until the connection fails.
func (br *bridge) sendLoop(ctx context.Context, snd *amqp.Sender, inflight chan<- sent) error {
	self := br.n.opts.NodeID
	for {
		br.mu.Lock()
		batch := br.pending
		br.pending = nil
		br.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-br.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for _, f := range batch {
			if f.ns.closing.Load() {
				br.settle(f, backend.Released, false)
				continue
			}
			rc, err := snd.SendWithReceipt(ctx, toAMQP(f.d.Msg, f.d.Count, self), nil)
			if err != nil {
				return err // what is unsettled is released by teardown
			}
			select {
			case inflight <- sent{f: f, rc: rc}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// ackLoop waits for the peer's outcome of each forwarded delivery, in
// order, and settles it here: accepted (the peer has it safe) removes
// it; anything else releases it for a later try.
func (br *bridge) ackLoop(ctx context.Context, inflight <-chan sent) error {
	for {
		var s sent
		select {
		case s = <-inflight:
		case <-ctx.Done():
			return ctx.Err()
		}
		state, err := s.rc.Wait(ctx)
		if err != nil {
			return err
		}
		if _, ok := state.(*amqp.StateAccepted); ok {
			br.forwarded.Add(1)
			br.settle(s.f, backend.Accepted, true)
			continue
		}
		if k := br.refused.Add(1); k == 1 || k%100 == 0 {
			br.log.Warn().Str("destination", s.f.ns.dest.String()).Str("message_id", s.f.d.Msg.ID).
				Str("outcome", stateName(state)).Uint64("times", k).
				Msg("network: the peer did not accept a forwarded message; it is released and retried")
		}
		br.settle(s.f, backend.Released, false)
		if sub := s.f.ns.sub.Load(); sub != nil {
			time.AfterFunc(rejectBackoff, func() {
				if !s.f.ns.closing.Load() && !s.f.ns.dead.Load() {
					sub.AddCredit(1)
				}
			})
		}
	}
}

// settle settles a forwarded delivery here, giving its credit back when
// credit is set and the subscription is not draining; a draining one is
// closed once nothing of it is unsettled.
func (br *bridge) settle(f fwd, o backend.Outcome, credit bool) {
	ns := f.ns
	br.mu.Lock()
	if set := br.out[f.d.Sub]; set != nil {
		if _, ok := set[f.d.Tag]; !ok {
			br.mu.Unlock()
			return // already released by drain or teardown
		}
		delete(set, f.d.Tag)
		if len(set) == 0 {
			delete(br.out, f.d.Sub)
		}
	} else {
		br.mu.Unlock()
		return
	}
	ns.outstanding--
	last := ns.closing.Load() && ns.outstanding == 0 && br.closing[ns]
	if last {
		delete(br.closing, ns)
	}
	br.mu.Unlock()
	n := 0
	if credit && !ns.closing.Load() {
		n = 1
	}
	_ = f.d.Sub.SettleAndCredit([]uint64{f.d.Tag}, o, n)
	if last {
		f.d.Sub.Close()
	}
}

// drain closes ns, whose destination the peer no longer demands: no more
// credit, what is queued but not sent is released, and the subscription
// closes once the deliveries on their way to the peer are settled.
func (br *bridge) drain(ns *netSub) {
	ns.closing.Store(true)
	s := ns.sub.Load()
	if s == nil {
		return
	}
	s.SetCredit(0)
	br.mu.Lock()
	var tags []uint64
	kept := br.pending[:0]
	for _, f := range br.pending {
		if f.ns != ns {
			kept = append(kept, f)
			continue
		}
		tags = append(tags, f.d.Tag)
		delete(br.out[f.d.Sub], f.d.Tag)
		ns.outstanding--
	}
	clear(br.pending[len(kept):])
	br.pending = kept
	if len(br.out[s]) == 0 {
		delete(br.out, s)
	}
	done := ns.outstanding == 0
	if !done {
		br.closing[ns] = true
	}
	br.mu.Unlock()
	if len(tags) > 0 {
		_ = s.SettleMany(tags, backend.Released)
	}
	if done {
		s.Close()
	}
}

// teardown ends what a connection left: every network subscription is
// closed, its unsettled deliveries released (the peer may have some of
// them already: it drops the copies when they come again), and the
// peer's demand forgotten. Called by the run goroutine once the
// connection's goroutines returned.
func (br *bridge) teardown() {
	br.mu.Lock()
	subs := make([]*netSub, 0, len(br.subs)+len(br.closing))
	for _, ns := range br.subs {
		subs = append(subs, ns)
	}
	for ns := range br.closing {
		subs = append(subs, ns)
	}
	br.subs = map[backend.Destination]*netSub{}
	br.closing = map[*netSub]bool{}
	hadDemand := len(br.learned) > 0
	br.learned, br.up = nil, false
	br.mu.Unlock()
	// No more credit first, so that what is unsettled stops growing.
	for _, ns := range subs {
		ns.closing.Store(true)
		if s := ns.sub.Load(); s != nil {
			s.SetCredit(0)
		}
	}
	br.mu.Lock()
	for _, ns := range subs {
		ns.dead.Store(true) // a late delivery is left to Close
	}
	out := br.out
	br.out = map[*backend.Subscription]outSet{}
	unsent := map[*backend.Subscription]map[uint64]bool{}
	for _, f := range br.pending {
		if unsent[f.d.Sub] == nil {
			unsent[f.d.Sub] = map[uint64]bool{}
		}
		unsent[f.d.Sub][f.d.Tag] = true
	}
	br.pending = nil
	br.mu.Unlock()
	// What never left is released; what may have reached the peer is
	// Unknown: flagged when delivered again, and in doubt, so that the
	// peer's copy coming back is dropped (backend.Unknown).
	for s, set := range out {
		var released, unknown []uint64
		for tag := range set {
			if unsent[s][tag] {
				released = append(released, tag)
			} else {
				unknown = append(unknown, tag)
			}
		}
		slices.Sort(released)
		slices.Sort(unknown)
		if len(released) > 0 {
			_ = s.SettleMany(released, backend.Released)
		}
		if len(unknown) > 0 {
			_ = s.SettleMany(unknown, backend.Unknown)
		}
	}
	for _, ns := range subs {
		if s := ns.sub.Load(); s != nil {
			s.Close() // releases what is still unsettled
		}
	}
	if hadDemand {
		br.n.demandChanged()
	}
}

// stateName names a delivery state for the log.
func stateName(s amqp.DeliveryState) string {
	switch s.(type) {
	case *amqp.StateAccepted:
		return "accepted"
	case *amqp.StateRejected:
		return "rejected"
	case *amqp.StateReleased:
		return "released"
	case *amqp.StateModified:
		return "modified"
	case nil:
		return "none"
	}
	return "other"
}
