package backend

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// entry is one message held by one queue.
type entry struct {
	msg        *Message
	deliveries uint32 // times handed to a consumer
	stored     bool   // an OpEnqueue record exists under the queue's storeName
	notBefore  int64  // unix ms: a delayed redelivery waits until then
	// arrived is when a message that came over a network (BrokerPath
	// set) was enqueued here, unix ms; 0 otherwise. Network bridges
	// delay its replay by it (SubscribeOptions.Filter).
	arrived int64
	// grp caches the message's group state (q.groups[msg.GroupID]) so
	// dispatch looks no string up per message; stale once grp.gone.
	// Guarded by the queue's mu, as the entry is.
	grp *group
}

// maxSkip bounds how many waiting messages one dispatch pass looks past
// (messages no consumer may take now: selectors, busy group owners) before
// it gives up until the next event, as ActiveMQ's page size does.
const maxSkip = 2000

// group is a message group's assignment (JMSXGroupID).
type group struct {
	owner    *Subscription
	inflight int    // deliveries of the group not yet settled
	used     uint64 // q.groupClock at the last assignment or delivery
	// heldPass is q.pass while the group is held back in the current
	// dispatch pass (choosePassLocked).
	heldPass uint64
	gone     bool // removed from q.groups: entries caching it look again
}

// queue holds messages for competing consumers. A named queue, a durable
// topic subscription and each non-durable topic subscriber are queues.
type queue struct {
	b    *Broker
	dest Destination // the queue, or for a subscription queue the topic
	// storeName is the store-level name; "" for queues whose messages are
	// never stored (non-durable topic subscriptions).
	storeName string
	// maxPending > 0 drops the oldest ready message past this many (slow
	// non-durable topic subscriber).
	maxPending int
	// durable subscription definition, for subscription queues.
	sub *durableSub
	// pol is the destination policy, resolved when the queue was made.
	pol *queuePolicy

	mu sync.Mutex
	// Guarded by mu.
	ready      [10]fifo // by priority; grouped messages, and all when pol.flat, wait at DefaultPriority
	redeliver  []*entry // released entries, sorted by Seq, dispatched first
	consumers  []*Subscription
	next       int           // round-robin position in consumers
	exclusive  *Subscription // the exclusive consumer that owns the queue, if any
	groups     map[string]*group
	groupClock uint64
	deleted    bool
	dropped    uint64 // messages a slow non-durable subscriber lost to maxPending
	// Expired persistent messages on their way to the DLQ.
	dead          []*entry
	deadScheduled bool
	// wakeAt is when the redispatch timer fires for delayed redeliveries
	// (unix ms, 0 when none is set).
	wakeAt int64
	// pass numbers dispatch passes: odd within one, even between, so a
	// group's heldPass matches only during the pass that held it.
	pass uint64
	// heldBack lists the groups held back in the current dispatch pass
	// that were removed from q.groups during it (rare: the group table
	// was full); empty between passes.
	heldBack map[string]bool
	// filtered is set once a consumer with a Filter attaches (a network
	// bridge): routeTopic then asks it about each message.
	filtered atomic.Bool
}

// readyLen returns the number of messages waiting. q.mu must be held.
func (q *queue) readyLen() int {
	n := len(q.redeliver)
	for i := range q.ready {
		n += q.ready[i].len()
	}
	return n
}

// level returns the ready list e waits in.
func (q *queue) level(e *entry) int {
	if e.msg.GroupID != "" || q.pol.flat {
		// A group keeps its order whatever the priorities; a queue whose
		// policy turns prioritized dispatch off is first-in first-out.
		return DefaultPriority
	}
	return int(min(e.msg.Priority, 9))
}

// enqueue adds entries and dispatches. It takes q.mu.
func (q *queue) enqueue(es ...*entry) {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return
	}
	var now int64
	for _, e := range es {
		if len(e.msg.BrokerPath) > 0 && e.arrived == 0 {
			if now == 0 {
				now = time.Now().UnixMilli()
			}
			e.arrived = now
		}
		q.ready[q.level(e)].push(e)
	}
	before := q.dropped
	if q.maxPending > 0 {
		for p := 0; p < len(q.ready) && q.readyLen() > q.maxPending; {
			if q.ready[p].popFront() == nil {
				p++
				continue
			}
			q.dropped++
		}
	}
	dropped := q.dropped
	recs := q.dispatchLocked(nil)
	q.mu.Unlock()
	q.b.appendAsync(recs)
	if dropped != before && (before == 0 || dropped/10000 != before/10000) {
		q.b.log.Warn().Str("destination", q.dest.String()).Int("max_pending", q.maxPending).Uint64("dropped", dropped).
			Msg("slow topic subscriber: oldest messages dropped (broker.topic_max_pending)")
	}
}

// requeueLocked puts e back for redelivery, in Seq order ahead of new
// messages. q.mu must be held.
func (q *queue) requeueLocked(e *entry) {
	i := sort.Search(len(q.redeliver), func(i int) bool { return q.redeliver[i].msg.Seq > e.msg.Seq })
	q.redeliver = append(q.redeliver, nil)
	copy(q.redeliver[i+1:], q.redeliver[i:])
	q.redeliver[i] = e
}

// anyCreditLocked reports whether some consumer can take a message.
// q.mu must be held.
func (q *queue) anyCreditLocked() bool {
	if q.exclusive != nil {
		return q.exclusive.hasCredit()
	}
	for _, s := range q.consumers {
		if s.hasCredit() {
			return true
		}
	}
	return false
}

// dispatchLocked hands waiting messages to consumers with credit, oldest
// redelivery first, then by priority, and returns recs with the records
// deliveries produced appended. q.mu must be held.
func (q *queue) dispatchLocked(recs []store.Record) []store.Record {
	q.pass++
	recs = q.dispatchPassLocked(recs)
	q.pass++
	if len(q.heldBack) > 0 {
		clear(q.heldBack)
	}
	return recs
}

// choosePassLocked is chooseLocked within one dispatch pass. A message
// whose group's owner must skip it for want of credit holds back the
// group's later messages for the rest of the pass: otherwise, were the
// group forgotten (MaxGroups) or reassigned later in the pass, a later
// message could go out before it. q.mu must be held.
func (q *queue) choosePassLocked(e *entry) (*Subscription, bool) {
	id := e.msg.GroupID
	if id != "" {
		if g := q.groupLocked(e); g != nil && g.heldPass == q.pass {
			return nil, false
		}
		if len(q.heldBack) > 0 && q.heldBack[id] {
			return nil, false
		}
	}
	s, first := q.chooseLocked(e)
	if s == nil && id != "" {
		if g := q.groupLocked(e); g != nil && g.owner != nil && g.owner.matches(e) {
			g.heldPass = q.pass
		}
	}
	return s, first
}

// groupLocked returns e's group state, or nil if its group has none;
// the answer is cached in the entry. q.mu must be held.
func (q *queue) groupLocked(e *entry) *group {
	if g := e.grp; g != nil && !g.gone {
		return g
	}
	g := q.groups[e.msg.GroupID]
	e.grp = g
	return g
}

// dropGroupLocked removes group id, whose state is g, from the table. A
// group held back in the current pass stays held back by id for the rest
// of it: a later message of the group must not be assigned afresh and
// overtake the held one. q.mu must be held.
func (q *queue) dropGroupLocked(id string, g *group) {
	g.gone = true
	if g.heldPass == q.pass && q.pass%2 == 1 {
		if q.heldBack == nil {
			q.heldBack = map[string]bool{}
		}
		q.heldBack[id] = true
	}
	delete(q.groups, id)
}

// dispatchPassLocked is one pass of dispatchLocked. q.mu must be held.
func (q *queue) dispatchPassLocked(recs []store.Record) []store.Record {
	if len(q.consumers) == 0 {
		return recs
	}
	var now int64
	expired := func(e *entry) bool {
		if e.msg.Expiration == 0 {
			return false
		}
		if now == 0 {
			now = time.Now().UnixMilli()
		}
		return e.msg.Expired(now)
	}
	skipped := 0
	for i := 0; i < len(q.redeliver); {
		e := q.redeliver[i]
		if e.notBefore > 0 {
			if now == 0 {
				now = time.Now().UnixMilli()
			}
			if e.notBefore > now {
				q.wakeLocked(e.notBefore)
				i++
				continue
			}
			e.notBefore = 0
		}
		if expired(e) {
			q.redeliver = append(q.redeliver[:i], q.redeliver[i+1:]...)
			recs = q.expireLocked(e, recs)
			continue
		}
		s, first := q.choosePassLocked(e)
		if s == nil {
			if !q.anyCreditLocked() {
				return recs
			}
			if skipped++; skipped > maxSkip {
				return recs
			}
			i++
			continue
		}
		q.redeliver = append(q.redeliver[:i], q.redeliver[i+1:]...)
		recs = s.deliverLocked(e, first, recs)
	}
	if len(q.redeliver) == 0 {
		q.redeliver = nil
	}
	for p := len(q.ready) - 1; p >= 0; p-- {
		f := &q.ready[p]
		for i := f.head; i < len(f.items); i++ {
			e := f.items[i]
			if e == nil {
				continue
			}
			if expired(e) {
				f.removeAt(i)
				recs = q.expireLocked(e, recs)
				continue
			}
			s, first := q.choosePassLocked(e)
			if s == nil {
				if !q.anyCreditLocked() {
					f.compact()
					return recs
				}
				if skipped++; skipped > maxSkip {
					f.compact()
					return recs
				}
				continue
			}
			f.removeAt(i)
			recs = s.deliverLocked(e, first, recs)
		}
		f.compact()
	}
	return recs
}

// wakeLocked arranges a dispatch at unix ms at (a delayed redelivery
// comes due). q.mu must be held.
func (q *queue) wakeLocked(at int64) {
	if q.wakeAt != 0 && q.wakeAt <= at {
		return
	}
	q.wakeAt = at
	time.AfterFunc(time.Duration(at-time.Now().UnixMilli()+1)*time.Millisecond, func() {
		q.mu.Lock()
		if q.wakeAt == at {
			q.wakeAt = 0
		}
		recs := q.dispatchLocked(nil)
		q.mu.Unlock()
		q.b.appendAsync(recs)
	})
}

// chooseLocked picks the consumer for e and takes one unit of its credit,
// or returns nil if none may take e now; first reports that e (re)assigns
// its message group. q.mu must be held.
func (q *queue) chooseLocked(e *entry) (s *Subscription, first bool) {
	m := e.msg
	if q.exclusive != nil {
		if s := q.exclusive; s.hasCredit() && s.matches(e) && s.takeCredit() {
			return s, false
		}
		return nil, false
	}
	if m.GroupID == "" {
		return q.pickLocked(e, false), false
	}
	// ActiveMQ Classic: a group sticks to its consumer; JMSXGroupSeq 1
	// reassigns it to whichever consumer is considered.
	g := q.groupLocked(e)
	if g != nil && g.owner != nil && m.GroupSeq != 1 {
		if o := g.owner; o.hasCredit() && o.matches(e) && o.takeCredit() {
			return o, false
		}
		return nil, false
	}
	s = q.pickLocked(e, true)
	if s == nil {
		return nil, false
	}
	e.grp = q.assignGroupLocked(m.GroupID, g, s)
	return s, true
}

// pickLocked chooses among the consumers that may take e: the highest
// priority with credit, then (for a new group) the one owning the fewest
// groups, then round-robin; it takes one unit of the chosen one's credit.
// q.mu must be held.
func (q *queue) pickLocked(e *entry, fewestGroups bool) *Subscription {
	n := len(q.consumers)
	// A member of a fan-in subscription shares its credit with other
	// queues, which may spend it between the look and the take: then
	// look again (it shows no credit now).
	for range n + 1 {
		var best *Subscription
		bestIdx := -1
		for i := 0; i < n; i++ {
			idx := (q.next + i) % n
			s := q.consumers[idx]
			if !s.hasCredit() || !s.matches(e) {
				continue
			}
			if best == nil || s.opts.Priority > best.opts.Priority ||
				(fewestGroups && s.opts.Priority == best.opts.Priority && s.groups < best.groups) {
				best, bestIdx = s, idx
			}
		}
		if best == nil {
			return nil
		}
		if best.takeCredit() {
			q.next = (bestIdx + 1) % n
			return best
		}
	}
	return nil
}

// assignGroupLocked gives group id (whose state is g, or nil) to s and
// returns its state. q.mu must be held.
func (q *queue) assignGroupLocked(id string, g *group, s *Subscription) *group {
	if g == nil {
		if q.groups == nil {
			q.groups = map[string]*group{}
		}
		q.b.makeRoomForGroup(q)
		g = &group{}
		q.groups[id] = g
	}
	if g.owner != nil {
		g.owner.groups--
	}
	g.owner = s
	s.groups++
	return g
}

// groupDeliveredLocked records a delivery of a grouped message.
// q.mu must be held.
func (q *queue) groupDeliveredLocked(e *entry, s *Subscription) {
	m := e.msg
	g := q.groupLocked(e)
	if g == nil {
		return
	}
	q.groupClock++
	g.used = q.groupClock
	if !s.opts.AutoAck {
		g.inflight++
	}
	if m.GroupSeq < 0 {
		// ActiveMQ: a negative sequence closes the group.
		if g.owner != nil {
			g.owner.groups--
		}
		g.owner = nil
		if g.inflight == 0 {
			q.dropGroupLocked(m.GroupID, g)
		}
	}
}

// groupSettledLocked records that a grouped delivery was settled.
// q.mu must be held.
func (q *queue) groupSettledLocked(e *entry) {
	if e.msg.GroupID == "" {
		return
	}
	g := q.groupLocked(e)
	if g == nil {
		return
	}
	if g.inflight > 0 {
		g.inflight--
	}
	if g.owner == nil && g.inflight == 0 {
		q.dropGroupLocked(e.msg.GroupID, g)
	}
}

// releaseGroupsLocked frees the groups s owned. q.mu must be held.
func (q *queue) releaseGroupsLocked(s *Subscription) {
	if s.groups == 0 {
		return
	}
	for id, g := range q.groups {
		if g.owner == s {
			g.owner = nil
			g.inflight = 0 // its deliveries are requeued by the caller
			q.dropGroupLocked(id, g)
		}
	}
	s.groups = 0
}

// evictIdleGroupLocked drops one group with nothing in flight (its next
// message is simply assigned afresh: no order can break). It reports
// whether one was found. q.mu must be held.
func (q *queue) evictIdleGroupLocked() bool {
	var victim string
	var oldest uint64
	found := false
	n := 0
	for id, g := range q.groups {
		if g.inflight == 0 && (!found || g.used < oldest) {
			victim, oldest, found = id, g.used, true
		}
		if n++; n >= 64 && found {
			break // an old enough idle group among a sample is fine
		}
	}
	if !found {
		return false
	}
	g := q.groups[victim]
	if g.owner != nil {
		g.owner.groups--
	}
	q.dropGroupLocked(victim, g)
	return true
}

// recomputeExclusiveLocked chooses the exclusive owner: the current one
// unless an exclusive consumer of strictly higher priority exists.
// q.mu must be held.
func (q *queue) recomputeExclusiveLocked() {
	best := q.exclusive
	for _, s := range q.consumers {
		if s.opts.Exclusive && (best == nil || s.opts.Priority > best.opts.Priority) {
			best = s
		}
	}
	q.exclusive = best
}

// expireLocked disposes of an expired e: as ActiveMQ does, a persistent
// message goes to the dead-letter queue (moved by another goroutine, since
// q.mu is held), a non-persistent one is dropped, and so is anything that
// expires in the DLQ itself. q.mu must be held.
func (q *queue) expireLocked(e *entry, recs []store.Record) []store.Record {
	if !e.msg.Persistent || q.isDLQ() {
		return q.removeLocked(e, recs)
	}
	q.dead = append(q.dead, e)
	if !q.deadScheduled {
		q.deadScheduled = true
		go q.flushDead()
	}
	return recs
}

// isDLQ reports whether q is a dead-letter queue: the broker's, a
// per-destination one, or one a policy names.
func (q *queue) isDLQ() bool {
	if q.sub != nil || q.dest.Kind != Queue {
		return false
	}
	b := q.b
	return q.dest.Name == b.opts.DLQ || b.opts.DLQPerDestination && strings.HasPrefix(q.dest.Name, "DLQ.") ||
		b.policyDLQs[q.dest.Name]
}

// dlqFor returns the name of the dead-letter queue for q's messages: its
// policy's, else DLQ.<name> with DLQPerDestination, else the broker's. A
// dead-letter queue's own messages go to the broker's.
func (b *Broker) dlqFor(q *queue) string {
	switch {
	case q.isDLQ():
		return b.opts.DLQ
	case q.pol.dlq != "":
		return q.pol.dlq
	case b.opts.DLQPerDestination:
		return "DLQ." + q.dest.Name
	}
	return b.opts.DLQ
}

// flushDead moves the expired messages expireLocked set aside to the DLQ.
func (q *queue) flushDead() {
	q.mu.Lock()
	dead := q.dead
	q.dead, q.deadScheduled = nil, false
	q.mu.Unlock()
	for _, e := range dead {
		q.b.deadLetter(q, e, "expired")
	}
}

// removeLocked drops e for good, returning recs with its ack record.
// q.mu must be held.
func (q *queue) removeLocked(e *entry, recs []store.Record) []store.Record {
	if e.stored {
		recs = append(recs, store.Record{Op: store.OpAck, Queue: q.storeName, ID: e.msg.Seq})
	}
	return recs
}

// addConsumer attaches s and dispatches to it.
func (q *queue) addConsumer(s *Subscription) error {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return ErrNoDestination
	}
	if q.sub != nil && len(q.consumers) > 0 {
		q.mu.Unlock()
		return ErrSubscriptionActive
	}
	q.consumers = append(q.consumers, s)
	if s.opts.Filter != nil {
		q.filtered.Store(true)
	}
	q.recomputeExclusiveLocked()
	recs := q.dispatchLocked(nil)
	q.mu.Unlock()
	q.b.appendAsync(recs)
	return nil
}

// browse hands s a snapshot of the waiting messages without consuming
// them, then marks s closed.
func (q *queue) browse(s *Subscription) {
	type item struct {
		m     *Message
		count uint32
	}
	var items []item
	q.mu.Lock()
	now := time.Now().UnixMilli()
	add := func(e *entry) {
		if e != nil && !e.msg.Expired(now) && s.matches(e) {
			items = append(items, item{e.msg, e.deliveries})
		}
	}
	for _, e := range q.redeliver {
		add(e)
	}
	for p := len(q.ready) - 1; p >= 0; p-- {
		f := &q.ready[p]
		for _, e := range f.items[f.head:] {
			add(e)
		}
	}
	q.mu.Unlock()
	s.closed = true
	for i, it := range items {
		s.sink.Deliver(Delivery{Msg: it.m, Sub: s, Tag: uint64(i + 1), Count: it.count})
	}
	if d, ok := s.sink.(BrowseDoner); ok {
		d.BrowseDone()
	}
}

// stats reports the queue's depth and consumers.
func (q *queue) stats() (ready, inflight, consumers int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.consumers {
		inflight += len(s.inflight)
	}
	return q.readyLen(), inflight, len(q.consumers)
}
