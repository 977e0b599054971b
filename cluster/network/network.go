package network

import (
	"bytes"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
)

// DemandTopic is the topic each broker publishes its demand snapshots on.
const DemandTopic = "mqgate.network.demand"

// internalPrefix starts the names of the network's own destinations,
// which are never demand and never forwarded.
const internalPrefix = "mqgate.network."

// ContainerPrefix starts the container-id of a bridge's AMQP connection,
// followed by the forwarding broker's node id. The peer's AMQP front-end
// recognises a bridge by it (protocols/amqp.NetworkContainerPrefix).
const ContainerPrefix = "mqgate-bridge:"

// PriorityBase is the consumer priority of a network subscription to a
// peer one hop away with Options.DecreasePriority; each further hop
// lowers it by one. Local consumers have 0 to 127 (ActiveMQ's
// networkConsumerPriorityBase is -5 too).
const PriorityBase = -5

// Broker is what the network needs from the broker core
// (*backend.Broker implements it).
type Broker interface {
	Subscribe(ctx context.Context, opts backend.SubscribeOptions, sink backend.Sink) (*backend.Subscription, error)
	PublishAsync(m *backend.Message, done func(error)) error
	PublishForwarded(m *backend.Message, done func(error)) error
	LocalDemand() []backend.Demand
	PeerDemand() []backend.PeerDemand
	Stranded() []backend.Stranded
}

var _ Broker = (*backend.Broker)(nil)

// Options configure a Network. The gateway fills them from config
// (cluster.network_ttl, cluster.network.*).
type Options struct {
	// NodeID is this broker's node id: what it appends to a forwarded
	// message's broker path. Every broker of a network needs its own.
	NodeID string
	// TTL is the most broker-to-broker hops a message (and an
	// advertisement of demand) makes; at least 1.
	TTL int
	// Included, if not empty, lists the destination patterns forwarded
	// ("queue://orders.>", "topic://prices.*", a plain pattern for both
	// kinds); Excluded lists patterns never forwarded. Excluded wins.
	// A peer URI's included and excluded options replace them for its
	// bridge (peer.go).
	Included, Excluded []string
	// Duplex makes every bridge a duplex one (ActiveMQ's duplex network
	// connector): over its one connection it also pulls from the peer
	// what this broker's consumers want (duplex.go), for a peer that
	// cannot dial this broker. A peer URI's duplex option overrides it.
	Duplex bool
	// Passive is for a broker without peers of its own (no discovery):
	// it publishes its demand only while someone (a peer's bridge)
	// subscribes to DemandTopic, so that peers may still bridge to it.
	Passive bool
	// Prefetch is the credit of each network subscription: how many
	// messages a bridge may have on their way to the peer per
	// destination. Default 1000.
	Prefetch int
	// DecreasePriority subscribes below local consumers (PriorityBase,
	// minus one per further hop): local consumers get the messages
	// while they have credit. Off, network subscriptions compete with
	// local consumers as equals.
	DecreasePriority bool
	// Replay forwards a queue message stranded on this broker (no local
	// consumer) to a peer with consumers after ReplayDelay, even back
	// to a broker it came from.
	Replay      bool
	ReplayDelay time.Duration
	// ReconnectDelay is the first wait before a lost bridge reconnects;
	// it doubles up to MaxReconnectDelay. Defaults 100ms and 5s.
	ReconnectDelay    time.Duration
	MaxReconnectDelay time.Duration
	// AdvertiseInterval is how often the demand snapshot is published
	// even when unchanged. Default 2s.
	AdvertiseInterval time.Duration
	// IdleTimeout is the AMQP idle time-out bridges announce: a peer
	// silent for it is given up. Default 30s.
	IdleTimeout time.Duration
	// ClientURIs, when set, returns this broker's client-facing URIs
	// ("stomp://host:61613", "amqp://host:5672"); each bridge names them
	// to its peer in the open's mqgate-client-uris property, so that the
	// peer can announce them to its clients (and send them here).
	ClientURIs func() []string
	// Dial opens a connection to a peer's host:port; nil uses net.Dialer.
	// Tests put fault-injecting proxies here.
	Dial   func(ctx context.Context, addr string) (net.Conn, error)
	Logger zerolog.Logger
}

// Network runs the bridges to a broker's peers and advertises its demand.
// Create it with New once the broker serves, add peers as discovery
// reports them, and Close it before closing the broker.
type Network struct {
	opts    Options
	b       Broker
	log     zerolog.Logger
	include []pattern
	exclude []pattern

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // demand may have changed; capacity 1
	force  atomic.Bool   // publish the next snapshot even if unchanged

	// local is the last local demand seen, by destination: read by the
	// network subscriptions' filters under queue locks.
	local atomic.Pointer[map[backend.Destination]int]
	// stranded is the last look at queues without local consumers.
	stranded atomic.Pointer[[]StrandedStatus]
	// want is this broker's demand as last computed, before the global
	// Included and Excluded: what duplex bridges pull (duplex.go).
	want atomic.Pointer[snapshot]

	mu sync.Mutex
	// Guarded by mu.
	bridges map[string]*bridge // by peer URI
	closed  bool
}

// New returns a network for broker b and starts advertising b's demand.
func New(b Broker, opts Options) *Network {
	if opts.TTL < 1 {
		opts.TTL = 1
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 1000
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = 100 * time.Millisecond
	}
	if opts.MaxReconnectDelay < opts.ReconnectDelay {
		opts.MaxReconnectDelay = max(5*time.Second, opts.ReconnectDelay)
	}
	if opts.AdvertiseInterval <= 0 {
		opts.AdvertiseInterval = 2 * time.Second
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	n := &Network{
		opts:    opts,
		b:       b,
		log:     opts.Logger,
		include: parsePatterns(opts.Included),
		exclude: parsePatterns(opts.Excluded),
		kick:    make(chan struct{}, 1),
		bridges: map[string]*bridge{},
	}
	empty := map[backend.Destination]int{}
	n.local.Store(&empty)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.force.Store(true)
	n.wg.Add(1)
	go n.advertise()
	return n
}

// AddPeer starts a bridge to the broker at uri (amqp://host:port), unless
// one runs. It does not block.
func (n *Network) AddPeer(uri string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.bridges[uri] != nil {
		return
	}
	br := newBridge(n, uri)
	if br.cfgErr != nil {
		n.log.Error().Err(br.cfgErr).Msg("network: not bridging to a peer whose URI is bad")
		return
	}
	n.bridges[uri] = br
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		br.run()
		n.mu.Lock()
		if n.bridges[uri] == br {
			delete(n.bridges, uri)
		}
		n.mu.Unlock()
		n.demandChanged()
	}()
}

// RemovePeer stops the bridge to uri; its network subscriptions are
// closed and their unsettled deliveries released. It does not block.
func (n *Network) RemovePeer(uri string) {
	n.mu.Lock()
	br := n.bridges[uri]
	delete(n.bridges, uri)
	n.mu.Unlock()
	if br != nil {
		br.stop()
	}
}

// OnDemand is the broker's consumer-demand callback
// (backend.Options.OnDemand): it schedules a new snapshot. It does not
// block.
func (n *Network) OnDemand(dest backend.Destination, _ int) {
	if dest.Kind == backend.Topic && dest.Name == DemandTopic {
		n.force.Store(true) // a peer's bridge (re)subscribed: tell it now
	}
	n.demandChanged()
}

// demandChanged wakes the advertiser.
func (n *Network) demandChanged() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Close stops every bridge, releasing what they had not forwarded, and
// the advertiser, and waits for them.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	brs := make([]*bridge, 0, len(n.bridges))
	for _, br := range n.bridges {
		brs = append(brs, br)
	}
	n.mu.Unlock()
	for _, br := range brs {
		br.stop()
	}
	n.cancel()
	n.wg.Wait()
}

// BridgeStatus describes one bridge, for the admin endpoint and tests.
type BridgeStatus struct {
	Peer string `json:"peer"` // the peer's URI
	Node string `json:"node"` // the peer's node id, once known
	Up   bool   `json:"up"`
	// Forwarding lists the destinations the bridge has network
	// subscriptions for.
	Forwarding []string `json:"forwarding"`
	// Forwarded counts the messages the peer accepted.
	Forwarded uint64 `json:"forwarded"`
	// Duplex: the bridge also pulls from the peer over its connection;
	// Pulling lists the destinations it pulls, Pulled counts the
	// messages it stored here.
	Duplex    bool     `json:"duplex"`
	Pulling   []string `json:"pulling,omitempty"`
	Pulled    uint64   `json:"pulled"`
	LastError string   `json:"last_error,omitempty"`
}

// Status returns the bridges' state, by peer URI.
func (n *Network) Status() []BridgeStatus {
	n.mu.Lock()
	brs := make([]*bridge, 0, len(n.bridges))
	for _, br := range n.bridges {
		brs = append(brs, br)
	}
	n.mu.Unlock()
	out := make([]BridgeStatus, 0, len(brs))
	for _, br := range brs {
		out = append(out, br.status())
	}
	slices.SortFunc(out, func(a, b BridgeStatus) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// advertise publishes the demand snapshot on a change and every
// AdvertiseInterval, until the network closes.
func (n *Network) advertise() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.AdvertiseInterval)
	defer t.Stop()
	var last []byte
	warned := map[backend.Destination]time.Time{}
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-t.C:
			n.force.Store(true)
			n.checkStranded(warned)
		}
		s, watched := n.snapshot()
		n.pullersKick()
		if n.opts.Passive && !watched {
			continue // nobody listens: a peer's bridge subscribing kicks us
		}
		body := s.encode()
		if !n.force.Swap(false) && bytes.Equal(body, last) {
			continue
		}
		last = body
		m := &backend.Message{
			Dest:        backend.Destination{Kind: backend.Topic, Name: DemandTopic},
			Body:        body,
			Text:        true,
			ContentType: "application/json",
			Expiration:  time.Now().Add(3 * n.opts.AdvertiseInterval).UnixMilli(),
		}
		if err := n.b.PublishAsync(m, nil); err != nil && n.ctx.Err() == nil {
			n.log.Warn().Err(err).Msg("network: publishing the demand snapshot failed")
		}
	}
}

// StrandedWarnAge is the age past which messages waiting on a queue
// without local consumers are logged (once a minute per queue).
const StrandedWarnAge = time.Minute

// StrandedStatus is a queue holding messages no local consumer takes:
// unless a peer's consumers want them, they are stranded here.
type StrandedStatus struct {
	Destination string `json:"destination"`
	Messages    int    `json:"messages"`
	// OldestAgeSeconds is the age of the oldest: how long it has been
	// here (a forwarded message) or since it was published.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// Stranded returns the queues with messages and no local consumer, as of
// the last AdvertiseInterval tick.
func (n *Network) Stranded() []StrandedStatus {
	if p := n.stranded.Load(); p != nil {
		return *p
	}
	return nil
}

// checkStranded refreshes Stranded and logs the queues whose oldest
// message is older than StrandedWarnAge, at most once a minute each
// (warned is the advertiser's record of when).
func (n *Network) checkStranded(warned map[backend.Destination]time.Time) {
	now := time.Now()
	st := n.b.Stranded()
	out := make([]StrandedStatus, 0, len(st))
	seen := map[backend.Destination]bool{}
	for _, s := range st {
		if !n.forwarded(s.Dest) {
			continue
		}
		age := now.Sub(time.UnixMilli(s.OldestMillis))
		out = append(out, StrandedStatus{Destination: s.Dest.String(), Messages: s.Messages, OldestAgeSeconds: age.Seconds()})
		seen[s.Dest] = true
		if age > StrandedWarnAge && now.Sub(warned[s.Dest]) > time.Minute {
			warned[s.Dest] = now
			n.log.Warn().Str("destination", s.Dest.String()).Int("messages", s.Messages).Dur("oldest_age", age).
				Msg("network: messages waiting without a local consumer and no peer wants them")
		}
	}
	for d := range warned {
		if !seen[d] {
			delete(warned, d)
		}
	}
	n.stranded.Store(&out)
}

// localDemand returns the local consumers of dest as last seen.
func (n *Network) localDemand(dest backend.Destination) int {
	return (*n.local.Load())[dest]
}

// forwarded reports whether dest may cross the network under the global
// Included and Excluded: not internal, not temporary, included and not
// excluded. A bridge applies its own (bridge.cfg.forwards).
func (n *Network) forwarded(dest backend.Destination) bool {
	return exchanged(dest, n.include, n.exclude)
}

// pullersKick tells the duplex bridges that the demand may have changed.
func (n *Network) pullersKick() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, br := range n.bridges {
		select {
		case br.pullKick <- struct{}{}:
		default:
		}
	}
}

// pattern is a compiled Included or Excluded entry.
type pattern struct {
	kind backend.Kind // 0: queues and topics
	name string
}

// parsePatterns compiles destination patterns: queue://x, topic://x,
// /queue/x, /topic/x, or a plain x for both kinds.
func parsePatterns(ps []string) []pattern {
	var out []pattern
	for _, p := range ps {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var kind backend.Kind
		for _, pre := range [...]struct {
			s string
			k backend.Kind
		}{{"queue://", backend.Queue}, {"topic://", backend.Topic}, {"/queue/", backend.Queue}, {"/topic/", backend.Topic}} {
			if rest, ok := strings.CutPrefix(p, pre.s); ok {
				kind, p = pre.k, rest
				break
			}
		}
		out = append(out, pattern{kind: kind, name: p})
	}
	return out
}

func matchAny(ps []pattern, d backend.Destination) bool {
	for _, p := range ps {
		if (p.kind == 0 || p.kind == d.Kind) && backend.MatchName(p.name, d.Name) {
			return true
		}
	}
	return false
}
