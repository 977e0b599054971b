package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/backend/store"
)

// Options configure a Broker. The gateway fills them from config.
type Options struct {
	// NodeID names this broker in message IDs and broker paths.
	NodeID string
	// Store persists persistent messages; nil keeps everything in memory.
	Store store.Store
	// DLQ is the dead-letter queue's name (default "ActiveMQ.DLQ").
	DLQ string
	// DLQPerDestination dead-letters a queue's messages to "DLQ.<queue>"
	// (a topic subscription's to "DLQ.<topic>") instead of DLQ, as
	// ActiveMQ's individualDeadLetterStrategy does.
	DLQPerDestination bool
	// MaxRedeliveries: a delivery that failed more than this many times goes
	// to the DLQ; -1 is unlimited.
	MaxRedeliveries int
	// TopicMaxPending bounds each non-durable topic subscriber's backlog;
	// the oldest messages are dropped past it. 0 is unlimited.
	TopicMaxPending int
	// MaxGroups bounds the message groups tracked per queue. When it is
	// reached, a group with no unacknowledged message is forgotten (its
	// next message is assigned afresh; no order can break); if every group
	// has messages in flight, the table grows past the bound and a warning
	// is logged. 0 is unlimited.
	MaxGroups int
	// RedeliveryDelay delays the redelivery of a failed delivery (NACK with
	// requeue, a consumer gone, a rollback): 0 redelivers at once. Each
	// further failure multiplies it by BackOffMultiplier (when > 1), up to
	// MaxRedeliveryDelay (when > 0). Later messages may overtake a delayed
	// one, as with ActiveMQ's redelivery plugin.
	RedeliveryDelay    time.Duration
	BackOffMultiplier  float64
	MaxRedeliveryDelay time.Duration
	// Policies are per-destination settings (ActiveMQ's policyEntry):
	// redelivery limits and delays, the dead-letter queue and prioritized
	// dispatch for the destinations each pattern matches; the most
	// specific entry wins (see Policy). Each queue resolves its entry once,
	// when it is created. Validate them first with ValidatePolicies: New
	// skips, and logs, invalid entries.
	Policies []Policy
	// OnDemand, if set, is called (from the goroutine that changed it, with
	// no broker lock held) when a destination's number of consumers changes.
	OnDemand func(dest Destination, consumers int)
	Logger   zerolog.Logger
}

// Broker is the broker core. Its methods are safe for concurrent use.
type Broker struct {
	opts  Options
	store store.Store
	log   zerolog.Logger

	idPrefix      string
	seq           atomic.Uint64
	groupWarnings atomic.Uint64

	// Immutable after New.
	policies      []compiledPolicy
	policyDLQs    map[string]bool // dead-letter queues named by policies
	defaultPolicy *queuePolicy    // for destinations no policy matches

	mu sync.RWMutex
	// Guarded by mu.
	queues    map[Destination]*queue // queues and temp queues
	topics    map[Destination]*topic
	durables  map[string]*queue      // by durableStoreName
	temps     map[Destination]string // temp destination -> owner
	wildcards []*topic               // topics whose names are wildcard patterns
	virtual   map[string][]*queue    // virtual topic name -> its consumer queues
	clientIDs map[string]struct{}
	closed    bool
	// fanIns are the subscriptions with queue wildcard patterns: a queue
	// created later that matches one of their patterns feeds them too.
	fanIns []*Subscription
	// demand holds consumer-count changes made while mu was held, for
	// unlock to report once it is released (OnDemand set only).
	demand []demandEvent

	com   *committer
	net   network // forwarded-message duplicate suppression (network.go)
	audit audit   // producer audit: resends dropped (audit.go)
}

// New returns a broker; call Recover before serving when Store is set.
func New(opts Options) *Broker {
	if opts.DLQ == "" {
		opts.DLQ = "ActiveMQ.DLQ"
	}
	if opts.NodeID == "" {
		opts.NodeID = "mqgate"
	}
	b := &Broker{
		opts:      opts,
		store:     opts.Store,
		log:       opts.Logger,
		queues:    map[Destination]*queue{},
		topics:    map[Destination]*topic{},
		durables:  map[string]*queue{},
		temps:     map[Destination]string{},
		clientIDs: map[string]struct{}{},
	}
	b.policies, b.policyDLQs = b.compilePolicies(opts.Policies)
	b.defaultPolicy = b.resolvePolicy(Destination{})
	b.idPrefix = "ID:" + opts.NodeID + "-" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"
	if b.store != nil {
		b.com = newCommitter(b.store, b.log)
	}
	return b
}

// NodeID returns the broker's node ID.
func (b *Broker) NodeID() string { return b.opts.NodeID }

// Recover loads what the store holds: durable subscriptions and pending
// messages, in order. Messages that were delivered before are marked
// redelivered. Call it once, before the first Publish or Subscribe.
func (b *Broker) Recover(ctx context.Context) (int, error) {
	if b.store == nil {
		return 0, nil
	}
	var n int
	var last *entry
	var lastQ *queue
	err := b.store.Recover(ctx, func(r store.Record) error {
		switch r.Op {
		case store.OpQueueCreate:
			d, err := decodeDurableSub(r.Data)
			if err != nil {
				return fmt.Errorf("durable subscription %s: %w", r.Queue, err)
			}
			b.ensureDurable(d)
		case store.OpEnqueue:
			m, err := decodeMessage(r.Data)
			if err != nil {
				return fmt.Errorf("message %s/%d: %w", r.Queue, r.ID, err)
			}
			m.Seq = r.ID
			if key, seq, ok := auditKey(m); ok {
				b.audit.observe(key, seq)
			}
			if cur := b.seq.Load(); r.ID > cur {
				b.seq.Store(r.ID)
			}
			q := b.queueForStoreName(r.Queue)
			if q == nil {
				return nil
			}
			last, lastQ = &entry{msg: m, stored: true}, q
			q.mu.Lock()
			q.ready[q.level(last)].push(last)
			q.mu.Unlock()
			n++
		case store.OpDelivered:
			if last != nil && last.msg.Seq == r.ID && lastQ.storeName == r.Queue {
				last.deliveries = r.Count
			}
		}
		return nil
	})
	return n, err
}

// queueForStoreName returns the queue a store record belongs to.
func (b *Broker) queueForStoreName(name string) *queue {
	b.mu.Lock()
	defer b.unlock()
	if q, ok := b.durables[name]; ok {
		return q
	}
	d, err := ParseDestination(name)
	if err != nil || d.Kind != Queue {
		b.log.Warn().Str("queue", name).Msg("recovered messages of an unknown destination are skipped")
		return nil
	}
	return b.queueLocked(d)
}

// newQueue returns a queue for dest with the policy that applies to it.
func (b *Broker) newQueue(dest Destination) *queue {
	pol := b.defaultPolicy
	if len(b.policies) > 0 {
		pol = b.resolvePolicy(dest)
	}
	return &queue{b: b, dest: dest, pol: pol}
}

// queueLocked returns the queue for d, creating it; a new queue also
// feeds the wildcard subscriptions whose patterns match it. b.mu must be
// held for writing; release it with unlock.
func (b *Broker) queueLocked(d Destination) *queue {
	q, ok := b.queues[d]
	if !ok {
		q = b.newQueue(d)
		if d.Kind == Queue {
			q.storeName = d.String()
			if vt, ok := virtualTopicOf(d.Name); ok {
				if b.virtual == nil {
					b.virtual = map[string][]*queue{}
				}
				b.virtual[vt] = append(b.virtual[vt], q)
			}
		}
		b.queues[d] = q
		if d.Kind == Queue {
			b.feedFanInsLocked(q)
		}
	}
	return q
}

// topicLocked returns the topic for d, creating it. b.mu must be held.
func (b *Broker) topicLocked(d Destination) *topic {
	t, ok := b.topics[d]
	if !ok {
		t = &topic{dest: d}
		b.topics[d] = t
		if d.Kind == Topic && isWildcard(d.Name) {
			b.wildcards = append(b.wildcards, t)
		}
	}
	return t
}

// nextSeq returns a new message sequence number.
func (b *Broker) nextSeq() uint64 { return b.seq.Add(1) }

// prepare assigns m's broker fields.
func (b *Broker) prepare(m *Message) {
	m.Seq = b.nextSeq()
	if m.ID == "" {
		m.ID = b.idPrefix + strconv.FormatUint(m.Seq, 10)
	}
	if m.Timestamp == 0 {
		m.Timestamp = time.Now().UnixMilli()
	}
	if m.Priority > 9 {
		m.Priority = 9
	}
}

// Publish routes m to its destination and returns once it is as safe as it
// asks: a persistent message is in the store. The broker owns m afterwards.
func (b *Broker) Publish(ctx context.Context, m *Message) error {
	ch := make(chan error, 1)
	if err := b.PublishAsync(m, func(err error) { ch <- err }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishAsync routes m like Publish but returns at once; done (which must
// not block) is called when m is safe or failed, in publish order for one
// caller. An error returned directly means m was not accepted and done will
// not be called.
func (b *Broker) PublishAsync(m *Message, done func(error)) error {
	if key, seq, ok := auditKey(m); ok {
		if b.audit.admit(key, seq, done) {
			return nil // a resend of a message the broker has (or is storing)
		}
		recs, apply, err := b.route(m, nil)
		if err != nil {
			b.audit.settle(key, seq, err) // not accepted: a later resend is new
			return err
		}
		b.finishPublish(recs, apply, func(err error) {
			b.audit.settle(key, seq, err)
			if done != nil {
				done(err)
			}
		})
		return nil
	}
	recs, apply, err := b.route(m, nil)
	if err != nil {
		return err
	}
	b.finishPublish(recs, apply, done)
	return nil
}

// finishPublish stores recs and then runs apply, or runs apply at once when
// there is nothing to store; done gets the outcome.
func (b *Broker) finishPublish(recs []store.Record, apply func(), done func(error)) {
	if len(recs) == 0 {
		apply()
		if done != nil {
			done(nil)
		}
		return
	}
	b.commit(&commitReq{recs: recs, apply: apply, done: done})
}

// route prepares m and works out where it goes: the store records to write
// (appended to recs) and the in-memory enqueue to run once they are durable.
func (b *Broker) route(m *Message, recs []store.Record) ([]store.Record, func(), error) {
	if err := ValidateName(m.Dest.Name); err != nil {
		return recs, nil, err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return recs, nil, ErrClosed
	}
	key := m.Dest
	var q *queue
	var t *topic
	var wild []*topic
	var virt []*queue
	switch m.Dest.Kind {
	case Queue, TempQueue:
		q = b.queues[key]
	case Topic, TempTopic:
		t = b.topics[key]
		wild = b.wildcardTopicsLocked(key)
		if key.Kind == Topic {
			virt = b.virtual[key.Name]
		}
	default:
		b.mu.RUnlock()
		return recs, nil, fmt.Errorf("%w: no destination", ErrBadDestination)
	}
	_, isTemp := b.temps[key]
	b.mu.RUnlock()
	if q == nil && t == nil {
		if m.Dest.Kind.IsTemp() && !isTemp {
			return recs, nil, ErrNoDestination
		}
		b.mu.Lock()
		if m.Dest.Kind.IsTopic() {
			t = b.topicLocked(m.Dest)
		} else {
			q = b.queueLocked(m.Dest)
		}
		b.unlock()
	}
	b.prepare(m)
	if m.Resent {
		// Noted once stored: a marker for a resend that failed would
		// drop its original.
		recs, apply, err := b.routeStored(t, wild, virt, q, m, recs)
		if err != nil || apply == nil {
			return recs, apply, err
		}
		return recs, func() { apply(); b.net.noteResend(m) }, nil
	}
	return b.routeStored(t, wild, virt, q, m, recs)
}

// routeStored is the end of route: m's records and how to apply them.
func (b *Broker) routeStored(t *topic, wild []*topic, virt []*queue, q *queue, m *Message, recs []store.Record) ([]store.Record, func(), error) {
	if t != nil {
		return b.routeTopic(t, wild, virt, m, recs)
	}
	if m.Persistent && q.storeName != "" && b.store != nil {
		e := &entry{msg: m, stored: true, deliveries: m.priorDeliveries()}
		recs = append(recs, store.Record{Op: store.OpEnqueue, Queue: q.storeName, ID: m.Seq, Data: encodeMessage(nil, m)})
		return recs, func() { q.enqueue(e) }, nil
	}
	return recs, func() { q.enqueue(&entry{msg: m, deliveries: m.priorDeliveries()}) }, nil
}

// Subscribe attaches sink to opts.Dest. For a queue, the subscription
// competes with the queue's other consumers; for a topic it receives every
// message published from now on (a durable subscription also those
// published while it was away). A queue wildcard pattern or a composite
// (opts.Composite) makes one subscription fed by several destinations
// (see SubscribeOptions.Composite). It may deliver to sink before it
// returns.
func (b *Broker) Subscribe(ctx context.Context, opts SubscribeOptions, sink Sink) (*Subscription, error) {
	if err := ValidateName(opts.Dest.Name); err != nil {
		return nil, err
	}
	for _, d := range opts.Composite {
		if err := ValidateName(d.Name); err != nil {
			return nil, err
		}
	}
	var sel *selector.Selector
	if strings.TrimSpace(opts.Selector) != "" {
		var err error
		sel, err = selector.ParseWith(opts.Selector, selector.Options{ConvertStrings: opts.SelectorConvertStrings})
		if err != nil {
			return nil, err
		}
	}
	if opts.fansIn() {
		return b.subscribeFanIn(ctx, opts, sink, sel)
	}
	s := b.newSubscription(opts, sink, sel, nil)
	if err := b.attach(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// newSubscription returns an unattached subscription; parent is the
// fan-in subscription it feeds, or nil.
func (b *Broker) newSubscription(opts SubscribeOptions, sink Sink, sel *selector.Selector, parent *Subscription) *Subscription {
	s := &Subscription{b: b, opts: opts, sink: sink, sel: sel, parent: parent, inflight: map[uint64]*entry{}}
	if parent == nil {
		s.credit = opts.Credit
	}
	return s
}

// attach finds or makes the queue s consumes from (by s.opts.Dest), binds
// s to it and adds s to its consumers (or, for a browse, hands s the
// snapshot). A member of a fan-in subscription is published to its parent
// once bound, before it can receive anything.
func (b *Broker) attach(ctx context.Context, s *Subscription) error {
	opts := &s.opts
	b.mu.Lock()
	if b.closed {
		b.unlock()
		return ErrClosed
	}
	if opts.Dest.Kind.IsTemp() {
		owner, ok := b.temps[opts.Dest]
		if !ok {
			b.unlock()
			return ErrNoDestination
		}
		if owner != opts.Owner {
			b.unlock()
			return ErrNotOwner
		}
	}
	var q *queue
	var created bool
	switch {
	case !opts.Dest.Kind.IsTopic():
		q = b.queueLocked(opts.Dest)
	case opts.Durable():
		if opts.ClientID == "" {
			b.unlock()
			return errors.New("a durable subscription needs a client id")
		}
		q, created = b.ensureDurableLocked(&durableSub{ClientID: opts.ClientID, Name: opts.DurableName, Topic: opts.Dest.Name, NoLocal: opts.NoLocal})
		s.topic = b.topicLocked(opts.Dest)
		if q.sub.Topic != opts.Dest.Name || q.sub.NoLocal != opts.NoLocal {
			// ActiveMQ: a changed durable subscription is deleted and re-made.
			b.unlock()
			if err := b.DeleteDurable(opts.ClientID, opts.DurableName); err != nil {
				return err
			}
			return b.attach(ctx, s)
		}
	default:
		t := b.topicLocked(opts.Dest)
		q = b.newQueue(opts.Dest)
		q.maxPending = b.opts.TopicMaxPending
		s.topic = t
		t.add(q)
	}
	b.unlock()
	if created && b.store != nil {
		if err := b.persistDurable(ctx, q); err != nil {
			return err
		}
	}
	s.bind(q)
	if opts.Browse {
		if q.sub != nil || opts.Dest.Kind.IsTopic() {
			return fmt.Errorf("%w: only queues can be browsed", ErrBadDestination)
		}
		q.browse(s)
		return nil
	}
	if s.parent != nil && !s.parent.fan.add(s, q) {
		// Closed meanwhile, or the queue already feeds the parent.
		if s.topic != nil && q.sub == nil {
			s.topic.remove(q)
		}
		return nil
	}
	if err := q.addConsumer(s); err != nil {
		if s.topic != nil && q.sub == nil {
			s.topic.remove(q)
		}
		return err
	}
	_, _, n := q.stats()
	b.demandChanged(opts.Dest, n)
	return nil
}

// demandEvent is a consumer-count change waiting for unlock to report it.
type demandEvent struct {
	dest Destination
	n    int
}

// unlock releases b.mu (held for writing), then reports the demand
// changes recorded while it was held, as OnDemand wants no broker lock.
func (b *Broker) unlock() {
	ev := b.demand
	b.demand = nil
	b.mu.Unlock()
	for _, e := range ev {
		b.demandChanged(e.dest, e.n)
	}
}

// ensureDurable registers a durable subscription (recovery).
func (b *Broker) ensureDurable(d *durableSub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ensureDurableLocked(d)
}

// ensureDurableLocked returns the durable subscription's queue, creating it
// and attaching it to its topic; created reports a new one. b.mu must be held.
func (b *Broker) ensureDurableLocked(d *durableSub) (q *queue, created bool) {
	name := durableStoreName(d.ClientID, d.Name)
	if q, ok := b.durables[name]; ok {
		return q, false
	}
	td := Destination{Kind: Topic, Name: d.Topic}
	q = b.newQueue(td)
	q.storeName, q.sub = name, d
	b.durables[name] = q
	b.topicLocked(td).add(q)
	return q, true
}

// persistDurable writes q's definition (idempotent: the store keeps one).
func (b *Broker) persistDurable(ctx context.Context, q *queue) error {
	ch := make(chan error, 1)
	b.commit(&commitReq{
		recs: []store.Record{{Op: store.OpQueueCreate, Queue: q.storeName, Data: q.sub.encode()}},
		done: func(err error) { ch <- err },
	})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeleteDurable removes a durable subscription and its messages (STOMP
// UNSUBSCRIBE with activemq.subscriptionName, AMQP detach with close).
func (b *Broker) DeleteDurable(clientID, name string) error {
	key := durableStoreName(clientID, name)
	b.mu.Lock()
	q, ok := b.durables[key]
	if !ok {
		b.mu.Unlock()
		return ErrNoDestination
	}
	q.mu.Lock()
	if len(q.consumers) > 0 {
		q.mu.Unlock()
		b.mu.Unlock()
		return ErrSubscriptionActive
	}
	q.deleted = true
	q.mu.Unlock()
	delete(b.durables, key)
	t := b.topics[Destination{Kind: Topic, Name: q.sub.Topic}]
	b.mu.Unlock()
	if t != nil {
		t.remove(q)
	}
	if b.store != nil {
		return b.commitWait(context.Background(), []store.Record{{Op: store.OpQueueDelete, Queue: key}})
	}
	return nil
}

// CreateTemp registers a temporary destination owned by owner; it lives
// until DeleteTemp (the owning connection closes).
func (b *Broker) CreateTemp(d Destination, owner string) error {
	if !d.Kind.IsTemp() {
		return fmt.Errorf("%w: %s is not temporary", ErrBadDestination, d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.temps[d]; ok && o != owner {
		return ErrNotOwner
	}
	b.temps[d] = owner
	return nil
}

// DeleteTemp removes a temporary destination and drops its messages.
func (b *Broker) DeleteTemp(d Destination) {
	b.mu.Lock()
	delete(b.temps, d)
	q := b.queues[d]
	delete(b.queues, d)
	delete(b.topics, d)
	b.mu.Unlock()
	if q != nil {
		q.mu.Lock()
		q.deleted = true
		q.mu.Unlock()
	}
}

// ClaimClientID reserves a client ID for one connection, as ActiveMQ does.
func (b *Broker) ClaimClientID(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.clientIDs[id]; ok {
		return fmt.Errorf("client id %q is already connected", id)
	}
	b.clientIDs[id] = struct{}{}
	return nil
}

// ReleaseClientID frees a client ID claimed with ClaimClientID.
func (b *Broker) ReleaseClientID(id string) {
	b.mu.Lock()
	delete(b.clientIDs, id)
	b.mu.Unlock()
}

// deadLetter moves e from q to the dead-letter queue; cause says why.
func (b *Broker) deadLetter(q *queue, e *entry, cause string) {
	old := e.msg
	m := *old
	m.ID = ""
	m.Dest = Destination{Kind: Queue, Name: b.dlqFor(q)}
	m.Props = append(append([]Prop(nil), old.Props...),
		Prop{Name: "originalDestination", Value: old.Dest.String()},
		Prop{Name: "originalMessageId", Value: old.ID},
		Prop{Name: "originalExpiration", Value: strconv.FormatInt(old.Expiration, 10)},
		Prop{Name: "dlqDeliveryFailureCause", Value: cause})
	m.Expiration = 0 // a dead letter does not expire (ActiveMQ keeps it in originalExpiration)
	b.mu.Lock()
	dlq := b.queueLocked(m.Dest)
	b.unlock()
	b.prepare(&m)
	m.ID = old.ID
	if e.stored || (m.Persistent && b.store != nil) {
		recs := []store.Record{{Op: store.OpEnqueue, Queue: dlq.storeName, ID: m.Seq, Data: encodeMessage(nil, &m)}}
		if e.stored {
			recs = append(recs, store.Record{Op: store.OpAck, Queue: q.storeName, ID: old.Seq})
		}
		b.commit(&commitReq{recs: recs, apply: func() { dlq.enqueue(&entry{msg: &m, stored: true}) }})
		return
	}
	dlq.enqueue(&entry{msg: &m})
}

func deadCause(o Outcome, deliveries uint32) string {
	if o == Rejected {
		return "poison ack: rejected by the consumer"
	}
	return "delivery failed " + strconv.Itoa(int(deliveries)) + " times"
}

// makeRoomForGroup keeps q's group table within MaxGroups before a new
// group is added. q.mu must be held.
func (b *Broker) makeRoomForGroup(q *queue) {
	max := b.opts.MaxGroups
	if max <= 0 || len(q.groups) < max {
		return
	}
	if q.evictIdleGroupLocked() {
		return
	}
	if n := b.groupWarnings.Add(1); n == 1 || n%1000 == 0 {
		b.log.Warn().Str("destination", q.dest.String()).Int("groups", len(q.groups)).Int("max_groups", max).
			Uint64("times", n).Msg("message group table full and every group has messages in flight; growing past broker.max_groups")
	}
}

// demandChanged reports a consumer count change for dest.
func (b *Broker) demandChanged(dest Destination, n int) {
	if b.opts.OnDemand != nil {
		b.opts.OnDemand(dest, n)
	}
}

// QueueStats describes one destination, for the admin endpoint and tests.
type QueueStats struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Inflight  int    `json:"inflight"`
	Consumers int    `json:"consumers"`
}

// Stats returns the named queues and durable subscriptions.
func (b *Broker) Stats() []QueueStats {
	b.mu.RLock()
	qs := make([]*queue, 0, len(b.queues)+len(b.durables))
	for _, q := range b.queues {
		qs = append(qs, q)
	}
	for _, q := range b.durables {
		qs = append(qs, q)
	}
	b.mu.RUnlock()
	out := make([]QueueStats, 0, len(qs))
	for _, q := range qs {
		r, i, c := q.stats()
		name := q.dest.String()
		if q.sub != nil {
			name = q.storeName
		}
		out = append(out, QueueStats{Name: name, Ready: r, Inflight: i, Consumers: c})
	}
	return out
}

// QueueDepth returns the number of messages ready and in flight on the queue d.
func (b *Broker) QueueDepth(d Destination) (ready, inflight int) {
	b.mu.RLock()
	q := b.queues[d]
	b.mu.RUnlock()
	if q == nil {
		return 0, 0
	}
	r, i, _ := q.stats()
	return r, i
}

// Sync waits until every record handed to the store so far (acks included)
// is durable. STOMP uses it before a RECEIPT for an ACK.
func (b *Broker) Sync(ctx context.Context) error {
	if b.com == nil {
		return nil
	}
	return b.commitWait(ctx, nil)
}

// Close stops accepting work and closes the store after flushing it.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	if b.com != nil {
		b.com.close()
		return b.store.Close()
	}
	return nil
}
