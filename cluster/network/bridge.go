package network

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
)

// connectTimeout bounds a bridge's TCP connect, SASL, open and attaches.
const connectTimeout = 10 * time.Second

// propClientURIs is the open property in which a bridge names its
// broker's client URIs (protocols/amqp.PropClientURIs).
const propClientURIs = "mqgate-client-uris"

// defaultIdleTimeout is the AMQP idle-time-out a bridge announces unless
// Options.IdleTimeout says otherwise: the peer sends empty frames at half
// of it, and a silent peer is given up after it.
const defaultIdleTimeout = 30 * time.Second

// demandCredit is the link credit of a bridge's demand receiver.
const demandCredit = 16

// errSelf ends a bridge whose peer is this broker (its own URI in the
// static peer list).
var errSelf = errors.New("the peer is this broker")

// bridge forwards to one peer. Its run goroutine owns the connection;
// per connection, sendLoop and ackLoop forward and settle.
type bridge struct {
	n      *Network
	uri    string
	cfg    peerConfig // the bridge's settings, from Options and its URI
	cfgErr error      // the URI is bad: no bridge
	log    zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	forwarded atomic.Uint64
	refused   atomic.Uint64 // forwards the peer did not accept
	pulled    atomic.Uint64 // messages pulled from the peer and stored here (duplex)
	pullFails atomic.Uint64 // pulled messages not stored here (duplex)

	pullKick chan struct{} // capacity 1: the demand to pull may have changed

	mu sync.Mutex
	// Guarded by mu.
	pulling []string                         // destinations pulled from the peer (duplex)
	peer    string                           // the peer's node id, from its snapshots
	up      bool                             // connected and the peer's demand known
	lastErr string                           // why the last connection ended
	learned map[backend.Destination]int      // the peer's demand, hops from here
	subs    map[backend.Destination]*netSub  // network subscriptions by destination
	closing map[*netSub]bool                 // network subscriptions draining before Close
	pending []fwd                            // deliveries to send, in order
	out     map[*backend.Subscription]outSet // deliveries not yet settled
	wake    chan struct{}                    // capacity 1: pending grew
}

// outSet is the unsettled delivery tags of one subscription.
type outSet map[uint64]*netSub

func newBridge(n *Network, uri string) *bridge {
	br := &bridge{
		n:        n,
		uri:      uri,
		log:      n.log.With().Str("peer", uri).Logger(),
		subs:     map[backend.Destination]*netSub{},
		closing:  map[*netSub]bool{},
		out:      map[*backend.Subscription]outSet{},
		wake:     make(chan struct{}, 1),
		pullKick: make(chan struct{}, 1),
	}
	br.cfg, br.cfgErr = parsePeer(uri, &n.opts, n.include, n.exclude)
	br.ctx, br.cancel = context.WithCancel(n.ctx)
	return br
}

// stop ends the bridge; run returns once it released everything.
func (br *bridge) stop() { br.cancel() }

// run connects, forwards until the connection fails, cleans up and
// reconnects with back-off, until the bridge stops.
func (br *bridge) run() {
	delay := br.n.opts.ReconnectDelay
	failures := 0
	for {
		wasUp, err := br.session()
		br.teardown()
		if br.ctx.Err() != nil {
			if wasUp {
				br.log.Info().Msg("network: bridge stopped")
			}
			return
		}
		if errors.Is(err, errSelf) {
			br.log.Info().Msg("network: not bridging to this broker itself")
			<-br.ctx.Done()
			return
		}
		br.mu.Lock()
		br.lastErr = err.Error()
		br.mu.Unlock()
		if wasUp {
			delay, failures = br.n.opts.ReconnectDelay, 0
			br.log.Warn().Err(err).Msg("network: bridge down")
		} else if failures++; failures == 1 || failures%100 == 0 {
			br.log.Info().Err(err).Int("attempts", failures).Msg("network: bridge cannot connect; retrying")
		}
		// Jitter: brokers restarted together do not reconnect in step.
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-br.ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(2*delay, br.n.opts.MaxReconnectDelay)
	}
}

// session runs one connection to the peer: it dials, subscribes to the
// peer's demand, opens the sender, then reads demand snapshots while
// sendLoop and ackLoop forward. up reports that the peer's demand was
// read (the bridge was up).
func (br *bridge) session() (up bool, err error) {
	ctx, cancel := context.WithCancel(br.ctx)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, connectTimeout)
	defer dcancel()
	nc, err := br.n.opts.Dial(dctx, br.cfg.addr)
	if err != nil {
		return false, err
	}
	nc = newCoalescingConn(nc) // go-amqp writes each frame on its own
	co := &amqp.ConnOptions{
		ContainerID: ContainerPrefix + br.n.opts.NodeID,
		HostName:    br.cfg.host,
		SASLType:    amqp.SASLTypeAnonymous(),
		IdleTimeout: cmp.Or(br.n.opts.IdleTimeout, defaultIdleTimeout),
	}
	if f := br.n.opts.ClientURIs; f != nil {
		if uris := f(); len(uris) > 0 {
			co.Properties = map[string]any{propClientURIs: uris}
		}
	}
	conn, err := amqp.NewConn(dctx, nc, co)
	if err != nil {
		nc.Close()
		return false, err
	}
	defer conn.Close()
	sess, err := conn.NewSession(dctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin session: %w", err)
	}
	recv, err := sess.NewReceiver(dctx, "topic://"+DemandTopic, &amqp.ReceiverOptions{Credit: demandCredit})
	if err != nil {
		return false, fmt.Errorf("subscribing to the peer's demand: %w", err)
	}
	snd, err := sess.NewSender(dctx, "", &amqp.SenderOptions{
		SettlementMode:              amqp.SenderSettleModeUnsettled.Ptr(),
		RequestedReceiverSettleMode: amqp.ReceiverSettleModeFirst.Ptr(),
	})
	if err != nil {
		return false, fmt.Errorf("opening the forwarding link: %w", err)
	}
	br.log.Debug().Msg("network: bridge connected")

	inflight := make(chan sent, 4096)
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errs <- br.sendLoop(ctx, snd, inflight) }()
	go func() { defer wg.Done(); errs <- br.ackLoop(ctx, inflight) }()
	defer func() {
		cancel()
		conn.Close()
		wg.Wait()
	}()
	for {
		msg, err := recvOrFail(ctx, recv, errs)
		if err != nil {
			return up, err
		}
		if err := recv.AcceptMessage(ctx, msg); err != nil {
			return up, err
		}
		s, err := parseSnapshot(msg.GetData())
		if err != nil {
			if v, ok := msg.Value.(string); ok {
				s, err = parseSnapshot([]byte(v))
			}
			if err != nil {
				br.log.Warn().Err(err).Msg("network: ignoring a bad demand snapshot")
				continue
			}
		}
		if s.Node == br.n.opts.NodeID {
			return up, errSelf
		}
		if !up {
			up = true
			br.mu.Lock()
			br.peer, br.up = s.Node, true
			br.mu.Unlock()
			br.log.Info().Str("peer_node", s.Node).Bool("duplex", br.cfg.duplex).Msg("network: bridge up")
			if br.cfg.duplex {
				wg.Add(1)
				go func(peer string) { defer wg.Done(); errs <- br.pullLoop(ctx, sess, peer) }(s.Node)
			}
		}
		br.reconcile(learn(s, br.n.opts.NodeID, br.n.opts.TTL, br.cfg.forwards))
	}
}

// recvOrFail receives the next demand snapshot, or returns the first
// error of the forwarding goroutines.
func recvOrFail(ctx context.Context, recv *amqp.Receiver, errs <-chan error) (*amqp.Message, error) {
	type res struct {
		m   *amqp.Message
		err error
	}
	ch := make(chan res, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		m, err := recv.Receive(rctx, nil)
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case err := <-errs:
		cancel()
		<-ch
		return nil, err
	}
}

// reconcile makes the network subscriptions follow the peer's demand.
// Called by the run goroutine only.
func (br *bridge) reconcile(learned map[backend.Destination]int) {
	br.mu.Lock()
	changed := len(learned) != len(br.learned)
	for d, h := range learned {
		if old, ok := br.learned[d]; !ok || old != h {
			changed = true
		}
	}
	br.learned = learned
	var add []*netSub
	var drop []*netSub
	for d, hops := range learned {
		if br.subs[d] == nil {
			ns := &netSub{br: br, dest: d, hops: hops, peer: br.peer}
			br.subs[d] = ns
			add = append(add, ns)
		}
	}
	for d, ns := range br.subs {
		if _, ok := learned[d]; !ok {
			delete(br.subs, d)
			drop = append(drop, ns)
		}
	}
	br.mu.Unlock()
	sort.Slice(add, func(i, j int) bool { return add[i].dest.String() < add[j].dest.String() })
	for _, ns := range add {
		if err := ns.open(br.ctx); err != nil {
			br.log.Warn().Err(err).Str("destination", ns.dest.String()).Msg("network: cannot subscribe for the peer")
			br.mu.Lock()
			if br.subs[ns.dest] == ns {
				delete(br.subs, ns.dest)
			}
			br.mu.Unlock()
			continue
		}
		br.log.Debug().Str("destination", ns.dest.String()).Int("hops", ns.hops).Msg("network: forwarding for the peer")
	}
	for _, ns := range drop {
		br.log.Debug().Str("destination", ns.dest.String()).Msg("network: peer demand gone")
		br.drain(ns)
	}
	if changed {
		br.n.demandChanged()
	}
}

// learnedRoutes returns the peer's node id and its demand, hops from here.
func (br *bridge) learnedRoutes() (string, map[backend.Destination]int) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if !br.up {
		return "", nil
	}
	out := make(map[backend.Destination]int, len(br.learned))
	for d, h := range br.learned {
		out[d] = h
	}
	return br.peer, out
}

// poke dispatches dest's queue to the bridge's network subscription, if
// it has one (a replay may have become possible).
func (br *bridge) poke(dest backend.Destination) {
	br.mu.Lock()
	ns := br.subs[dest]
	br.mu.Unlock()
	if ns == nil {
		return
	}
	if s := ns.sub.Load(); s != nil && !ns.closing.Load() {
		s.AddCredit(0)
	}
}

func (br *bridge) status() BridgeStatus {
	br.mu.Lock()
	defer br.mu.Unlock()
	st := BridgeStatus{Peer: br.uri, Node: br.peer, Up: br.up, Forwarded: br.forwarded.Load(), LastError: br.lastErr,
		Duplex: br.cfg.duplex, Pulling: slices.Clone(br.pulling), Pulled: br.pulled.Load()}
	for d := range br.subs {
		st.Forwarding = append(st.Forwarding, d.String())
	}
	sort.Strings(st.Forwarding)
	return st
}
