package backend

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Network of brokers support: what the cluster layer's bridges
// (cluster/network) need from the core. A bridge subscribes with
// SubscribeOptions.Network and a Filter; LocalDemand tells it what this
// broker's own consumers want; PublishForwarded takes what a peer's
// bridge forwards here and drops what it forwards twice.

// Demand is one destination that this broker's own consumers want:
// a queue (or queue wildcard pattern) with consumers, a topic (or topic
// pattern) with subscribers, a topic with a durable subscription
// (online or not: its messages are kept for it).
type Demand struct {
	Dest Destination
	// Consumers counts the local consumers; 0 for a topic whose only
	// demand is offline durable subscriptions.
	Consumers int
}

// LocalDemand returns the destinations with local consumers, sorted by
// destination; network subscriptions (SubscribeOptions.Network) and
// temporary destinations are left out. It takes the broker's and each
// queue's lock in turn, briefly: call it on a change (Options.OnDemand)
// or a timer, not per message.
func (b *Broker) LocalDemand() []Demand {
	b.mu.RLock()
	qs := make([]*queue, 0, len(b.queues))
	for d, q := range b.queues {
		if d.Kind == Queue {
			qs = append(qs, q)
		}
	}
	durables := make([]*queue, 0, len(b.durables))
	for _, q := range b.durables {
		durables = append(durables, q)
	}
	topics := make([]*topic, 0, len(b.topics))
	for d, t := range b.topics {
		if d.Kind == Topic {
			topics = append(topics, t)
		}
	}
	var patterns []Destination
	for _, p := range b.fanIns {
		if p.opts.Network {
			continue
		}
		for _, d := range append([]Destination{p.opts.Dest}, p.opts.Composite...) {
			if d.Kind == Queue && isWildcard(d.Name) {
				patterns = append(patterns, d)
			}
		}
	}
	b.mu.RUnlock()

	counts := map[Destination]int{}
	for _, q := range qs {
		if n := q.localConsumers(); n > 0 {
			counts[q.dest] += n
		}
	}
	for _, q := range durables {
		d := Destination{Kind: Topic, Name: q.sub.Topic}
		counts[d] += q.localConsumers()
	}
	for _, t := range topics {
		t.mu.RLock()
		subs := t.subs
		t.mu.RUnlock()
		for _, q := range subs {
			if q.sub != nil {
				continue
			}
			if n := q.localConsumers(); n > 0 {
				counts[t.dest] += n
			}
		}
	}
	for _, d := range patterns {
		counts[d]++
	}
	out := make([]Demand, 0, len(counts))
	for d, n := range counts {
		out = append(out, Demand{Dest: d, Consumers: n})
	}
	slices.SortFunc(out, func(a, b Demand) int { return strings.Compare(a.Dest.String(), b.Dest.String()) })
	return out
}

// localConsumers counts q's consumers that are not network bridges.
func (q *queue) localConsumers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, s := range q.consumers {
		if !s.opts.Network {
			n++
		}
	}
	return n
}

// DefaultDuplicateWindow is how long PublishForwarded remembers a
// forwarded message (SetDuplicateWindow changes it).
const DefaultDuplicateWindow = 10 * time.Minute

// maxDuplicates bounds the messages PublishForwarded remembers: past it
// the oldest are forgotten even within the window.
const maxDuplicates = 1 << 17

// network is a broker's network-of-brokers state: the duplicate
// suppression of forwarded messages. Its mu is taken after no other
// broker lock and held over no call into the broker.
type network struct {
	seedOnce sync.Once
	dups     atomic.Uint64 // duplicates dropped

	// pmu guards pulls; taken after no other broker lock and held over
	// no call into the broker.
	pmu   sync.Mutex
	pulls map[*Subscription]PeerDemand // duplex bridges' pulls, by subscription

	mu sync.Mutex
	// Guarded by mu.
	window time.Duration
	// doubt holds the queue messages released from a forward whose
	// outcome was lost, by doubtKey (forwardSettled).
	doubt timedSet
	// doubted is set once a message was in doubt: until then an accepted
	// forward has no marker to clear (forwardSettled is not called).
	doubted atomic.Bool
	// resends holds the messages stored here that a failover producer
	// marked as resent (PropResend), by auditKey and sequence: the
	// original arriving over a bridge later is a duplicate (noteResend).
	resends timedSet
	seen    map[string]*dupEntry
	order   []dupRef // insertion order, for expiry
	head    int      // order[:head] are expired
}

// dupEntry is what PublishForwarded knows about one forwarded message.
// Guarded by network.mu.
type dupEntry struct {
	done    bool
	err     error
	waiters []func(error) // duplicates waiting for the first copy's outcome
}

type dupRef struct {
	key string
	at  int64 // unix ms
	e   *dupEntry
}

// dupKey identifies a forwarded message for duplicate suppression; self
// is this broker's node id. A topic message is the same message whatever
// route brought it (a mesh may forward one copy along several; exactly
// one is kept). So is a queue message that never passed here: a queue
// message has one copy, so a second arrival by another route means two
// brokers held it (a forward whose outcome was lost) and is dropped. A
// queue message coming back (self on its path: its consumers moved back
// here) is a new arrival, identified with its path, which a resend keeps
// and a further replay extends.
func dupKey(m *Message, self string) string {
	var sb strings.Builder
	sb.WriteString(m.Dest.String())
	sb.WriteByte('|')
	sb.WriteString(m.ID)
	if !m.Dest.Kind.IsTopic() && slices.Contains(m.BrokerPath, self) {
		for _, p := range m.BrokerPath {
			sb.WriteByte('|')
			sb.WriteString(p)
		}
	}
	return sb.String()
}

// SetDuplicateWindow sets how long PublishForwarded remembers a message
// (default DefaultDuplicateWindow); at most 131072 are remembered.
func (b *Broker) SetDuplicateWindow(d time.Duration) {
	b.net.mu.Lock()
	b.net.window = d
	b.net.mu.Unlock()
}

// DuplicatesDropped returns how many forwarded messages PublishForwarded
// dropped as duplicates.
func (b *Broker) DuplicatesDropped() uint64 { return b.net.dups.Load() }

// PublishForwarded publishes m, which a peer's network bridge forwarded
// (its BrokerPath is set), as PublishAsync does, unless the same message
// came before within the duplicate window: a bridge that died before it
// saw the outcome sends it again. A duplicate is not published; done gets
// the first copy's outcome (at once, or when the first copy is safe), so
// the peer removes its copy only once this one is stored. Messages held
// when the broker starts count as seen (a resend after this broker
// restarted). done must not block.
func (b *Broker) PublishForwarded(m *Message, done func(error)) error {
	n := &b.net
	n.seedOnce.Do(b.seedDuplicates)
	key := dupKey(m, b.NodeID())
	now := time.Now().UnixMilli()
	n.mu.Lock()
	if n.inDoubtLocked(m, b.NodeID()) || n.resentLocked(m) {
		// The peer's copy of a message this broker kept (forwardSettled),
		// or the original of a resend this broker has (noteResend).
		n.dups.Add(1)
		n.mu.Unlock()
		if done != nil {
			done(nil)
		}
		return nil
	}
	if e := n.seen[key]; e != nil && (!e.done || e.err == nil) {
		n.dups.Add(1)
		if !e.done {
			e.waiters = append(e.waiters, done)
			n.mu.Unlock()
			return nil
		}
		n.mu.Unlock()
		if done != nil {
			done(nil)
		}
		return nil
	}
	e := &dupEntry{}
	n.insertLocked(key, e, now)
	n.mu.Unlock()
	finish := func(err error) []func(error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		e.done, e.err = true, err
		ws := e.waiters
		e.waiters = nil
		if err != nil && n.seen[key] == e {
			delete(n.seen, key) // not stored: a resend must be published
		}
		return ws
	}
	err := b.PublishAsync(m, func(err error) {
		ws := finish(err)
		if done != nil {
			done(err)
		}
		for _, w := range ws {
			if w != nil {
				w(err)
			}
		}
	})
	if err != nil {
		for _, w := range finish(err) {
			if w != nil {
				w(err)
			}
		}
	}
	return err
}

// insertLocked remembers key, forgetting what is past the window or the
// bound. n.mu must be held.
func (n *network) insertLocked(key string, e *dupEntry, now int64) {
	if n.seen == nil {
		n.seen = map[string]*dupEntry{}
	}
	if n.window == 0 {
		n.window = DefaultDuplicateWindow
	}
	n.seen[key] = e
	n.order = append(n.order, dupRef{key: key, at: now, e: e})
	limit := now - n.window.Milliseconds()
	for n.head < len(n.order) && (n.order[n.head].at < limit || len(n.order)-n.head > maxDuplicates) {
		r := n.order[n.head]
		if n.seen[r.key] == r.e {
			delete(n.seen, r.key)
		}
		n.order[n.head] = dupRef{}
		n.head++
	}
	if n.head > 1024 && n.head*2 > len(n.order) {
		n.order = append(n.order[:0:0], n.order[n.head:]...)
		n.head = 0
	}
}

// seedDuplicates remembers the forwarded messages the broker holds
// (recovered from the store), so that a peer resending one after this
// broker restarted does not store it twice.
func (b *Broker) seedDuplicates() {
	var keys []string
	add := func(e *entry) {
		if e != nil && len(e.msg.BrokerPath) > 0 {
			keys = append(keys, dupKey(e.msg, b.NodeID()))
		}
	}
	b.mu.RLock()
	qs := make([]*queue, 0, len(b.queues)+len(b.durables))
	for _, q := range b.queues {
		qs = append(qs, q)
	}
	for _, q := range b.durables {
		qs = append(qs, q)
	}
	b.mu.RUnlock()
	for _, q := range qs {
		q.mu.Lock()
		for _, e := range q.redeliver {
			add(e)
		}
		for i := range q.ready {
			f := &q.ready[i]
			for _, e := range f.items[f.head:] {
				add(e)
			}
		}
		for _, s := range q.consumers {
			for _, e := range s.inflight {
				add(e)
			}
		}
		q.mu.Unlock()
	}
	if len(keys) == 0 {
		return
	}
	now := time.Now().UnixMilli()
	n := &b.net
	n.mu.Lock()
	for _, k := range keys {
		if n.seen[k] == nil {
			n.insertLocked(k, &dupEntry{done: true}, now)
		}
	}
	n.mu.Unlock()
}

// MatchName reports whether the destination name matches pattern, with
// the wildcards of wildcard.go ('*' one '.'-separated element, '>' the
// rest); a name without wildcards matches only itself. A pattern matched
// against a pattern compares element by element.
func MatchName(pattern, name string) bool { return wildcardMatch(pattern, name) }

// Stranded is a queue holding messages that no local consumer takes.
type Stranded struct {
	Dest Destination
	// Messages counts the messages ready (not in flight to a bridge).
	Messages int
	// OldestMillis is when the oldest of them arrived here (a forwarded
	// message) or was published (unix ms).
	OldestMillis int64
}

// Stranded returns the queues with messages waiting and no local
// consumer (a network subscription does not count), sorted by
// destination. Each queue's lock is taken briefly; the age is read from
// the head of each priority list, so it is the oldest or close to it.
func (b *Broker) Stranded() []Stranded {
	b.mu.RLock()
	qs := make([]*queue, 0, len(b.queues))
	for d, q := range b.queues {
		if d.Kind == Queue {
			qs = append(qs, q)
		}
	}
	b.mu.RUnlock()
	var out []Stranded
	for _, q := range qs {
		q.mu.Lock()
		local := 0
		for _, s := range q.consumers {
			if !s.opts.Network {
				local++
			}
		}
		n := q.readyLen()
		if local > 0 || n == 0 {
			q.mu.Unlock()
			continue
		}
		var oldest int64
		at := func(e *entry) {
			if e == nil {
				return
			}
			t := e.arrived
			if t == 0 {
				t = e.msg.Timestamp
			}
			if oldest == 0 || t < oldest {
				oldest = t
			}
		}
		for _, e := range q.redeliver {
			at(e)
		}
		for i := range q.ready {
			f := &q.ready[i]
			for _, e := range f.items[f.head:] {
				if e != nil {
					at(e)
					break
				}
			}
		}
		q.mu.Unlock()
		out = append(out, Stranded{Dest: q.dest, Messages: n, OldestMillis: oldest})
	}
	slices.SortFunc(out, func(a, b Stranded) int { return strings.Compare(a.Dest.String(), b.Dest.String()) })
	return out
}

// Duplex bridges. A peer's duplex bridge (cluster/network) pulls from
// this broker over its own connection: it attaches a receiver link per
// destination its side wants, which the AMQP front-end subscribes as a
// network subscription (SubscribeOptions.Network, PullFilter) and
// registers here, so that this broker's own network, if it runs,
// advertises the peer's demand to its other peers.

// PeerDemand is a destination a peer's duplex bridge pulls from this
// broker: Hops is how many broker-to-broker hops a message from here
// needs to reach a consumer through Peer (1: Peer's own consumers).
type PeerDemand struct {
	Dest Destination
	Peer string // the peer's node id
	Hops int
}

// AddPeerDemand records that sub, a network subscription, pulls d.Dest
// for d.Peer, and reports the change (Options.OnDemand). The front-end's
// reader goroutine calls it once sub exists; no broker lock may be held.
func (b *Broker) AddPeerDemand(sub *Subscription, d PeerDemand) {
	b.net.pmu.Lock()
	if b.net.pulls == nil {
		b.net.pulls = map[*Subscription]PeerDemand{}
	}
	b.net.pulls[sub] = d
	b.net.pmu.Unlock()
	b.demandChanged(d.Dest, 0)
}

// RemovePeerDemand forgets sub's pull, if it has one, and reports the
// change. Called when sub's link ends, before or after sub closes; no
// broker lock may be held.
func (b *Broker) RemovePeerDemand(sub *Subscription) {
	b.net.pmu.Lock()
	d, ok := b.net.pulls[sub]
	delete(b.net.pulls, sub)
	b.net.pmu.Unlock()
	if ok {
		b.demandChanged(d.Dest, 0)
	}
}

// PeerDemand returns what duplex bridges pull from this broker, the
// shortest route per destination and peer, sorted by destination then
// peer.
func (b *Broker) PeerDemand() []PeerDemand {
	type key struct {
		d    Destination
		peer string
	}
	best := map[key]int{}
	b.net.pmu.Lock()
	for _, d := range b.net.pulls {
		k := key{d.Dest, d.Peer}
		if h, ok := best[k]; !ok || d.Hops < h {
			best[k] = d.Hops
		}
	}
	b.net.pmu.Unlock()
	out := make([]PeerDemand, 0, len(best))
	for k, h := range best {
		out = append(out, PeerDemand{Dest: k.d, Peer: k.peer, Hops: h})
	}
	slices.SortFunc(out, func(a, b PeerDemand) int {
		if c := strings.Compare(a.Dest.String(), b.Dest.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Peer, b.Peer)
	})
	return out
}

// PullFilter returns the loop prevention of a duplex bridge's pull for
// peer (SubscribeOptions.Filter): a message goes to peer unless peer is
// on its broker path or the path is already ttl long (the message made
// the most hops it may). A message published here has an empty path and
// always goes.
func PullFilter(peer string, ttl int) func(m *Message, arrived int64) bool {
	return func(m *Message, _ int64) bool {
		p := m.BrokerPath
		return len(p) == 0 || len(p) < ttl && !slices.Contains(p, peer)
	}
}

// Forwards in doubt. A bridge that loses its connection between sending
// a queue message and reading the outcome settles it here as Unknown,
// though the peer may have stored it: two brokers then hold the message,
// and the next delivery of this broker's copy is flagged redelivered. This broker
// keeps its copy (delivers it, or forwards it again: the peer drops that
// resend by dupKey), and remembers the message as in doubt until a peer
// accepts a forward of it. A copy that comes back from the peer (a replay:
// its path holds this broker) while the message is in doubt is the
// peer's half of the split: PublishForwarded drops it and accepts it, so
// the peer removes it, and the message is delivered once. Markers last
// the duplicate window, at most maxDuplicates of them, and live in
// memory: a restart of this broker forgets them (docs/networks.md).

// doubtKey identifies a queue message for forwardSettled.
func doubtKey(dest Destination, id string) string { return dest.String() + "|" + id }

// forwardSettled records the fate of queue messages a network
// subscription settled: accepted by the peer (moved there, no longer in
// doubt), or Unknown (in doubt). No broker lock may be held.
func (n *network) forwardSettled(dest Destination, es []*entry, accepted bool) {
	if dest.Kind.IsTopic() {
		return
	}
	now := time.Now().UnixMilli()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range es {
		k := doubtKey(dest, e.msg.ID)
		if accepted {
			n.doubt.remove(k)
		} else {
			n.doubt.add(k, now, n.windowLocked())
			n.doubted.Store(true)
		}
	}
}

// windowLocked returns the duplicate window. n.mu must be held.
func (n *network) windowLocked() time.Duration {
	if n.window == 0 {
		n.window = DefaultDuplicateWindow
	}
	return n.window
}

// resendKey identifies a message by its failover producer's id, its
// destination and its sequence, or reports that it has none.
func resendKey(m *Message) (string, bool) {
	key, seq, ok := producerKey(m)
	if !ok {
		return "", false
	}
	return key + "\x00" + strconv.FormatUint(seq, 10), true
}

// noteResend remembers m, a message a failover producer sent again
// (PropResend) that is being stored here, by its producer id and
// sequence: its original, stored on the broker the producer lost and
// forwarded here later, is then a duplicate (PublishForwarded drops it).
// A resend is rare; markers last the duplicate window. No broker lock may
// be held.
func (n *network) noteResend(m *Message) {
	k, ok := resendKey(m)
	if !ok {
		return
	}
	n.mu.Lock()
	n.resends.add(k, time.Now().UnixMilli(), n.windowLocked())
	n.mu.Unlock()
}

// timedSet is a set of keys that forgets each one after a window, and the
// oldest past maxDuplicates. Guarded by network.mu.
type timedSet struct {
	at    map[string]int64 // key -> unix ms added
	order []timedRef       // insertion order, for expiry
	head  int              // order[:head] are expired
}

type timedRef struct {
	key string
	at  int64
}

func (t *timedSet) add(key string, now int64, window time.Duration) {
	if t.at == nil {
		t.at = map[string]int64{}
	}
	t.at[key] = now
	t.order = append(t.order, timedRef{key: key, at: now})
	limit := now - window.Milliseconds()
	for t.head < len(t.order) && (t.order[t.head].at < limit || len(t.order)-t.head > maxDuplicates) {
		r := t.order[t.head]
		if at, ok := t.at[r.key]; ok && at == r.at {
			delete(t.at, r.key)
		}
		t.order[t.head] = timedRef{}
		t.head++
	}
	if t.head > 1024 && t.head*2 > len(t.order) {
		t.order = append(t.order[:0:0], t.order[t.head:]...)
		t.head = 0
	}
}

func (t *timedSet) remove(key string) { delete(t.at, key) }

// has reports whether key was added within window before now.
func (t *timedSet) has(key string, now int64, window time.Duration) bool {
	at, ok := t.at[key]
	return ok && at >= now-window.Milliseconds()
}

// inDoubtLocked reports whether m is a queue message this broker released
// from a forward whose outcome it never learned, and m's path shows it
// passed here: m is the peer's copy coming back. n.mu must be held.
func (n *network) inDoubtLocked(m *Message, self string) bool {
	if m.Dest.Kind.IsTopic() || len(n.doubt.at) == 0 || !slices.Contains(m.BrokerPath, self) {
		return false
	}
	return n.doubt.has(doubtKey(m.Dest, m.ID), time.Now().UnixMilli(), n.windowLocked())
}

// resentLocked reports whether m, forwarded here, is the original of a
// message its failover producer resent and this broker stored (or was
// forwarded) first. n.mu must be held.
func (n *network) resentLocked(m *Message) bool {
	if len(n.resends.at) == 0 || m.Resent {
		return false
	}
	k, ok := resendKey(m)
	return ok && n.resends.has(k, time.Now().UnixMilli(), n.windowLocked())
}
