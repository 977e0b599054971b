package network

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/backend"
)

// Duplex bridges. A duplex bridge (Options.Duplex, or duplex=true on its
// peer URI) also carries the other direction over its one connection,
// for a peer that cannot dial this broker (it is behind a firewall, or
// does not list it): it pulls from the peer what this broker's demand
// wants. For each destination of Network.want that the peer may send
// (split horizon: not a route through the peer; within the TTL; the
// bridge's included and excluded), it attaches a receiver link at the
// peer whose attach properties mark a pull (protocols/amqp PropPull*):
// the peer's front-end subscribes it as a network subscription, below
// local consumers, filtered so that it never sends a message whose
// broker path holds this broker or is Options.TTL long, and registers it
// as this broker's demand (backend.Broker.PeerDemand), which the peer's
// own network advertises to its other peers. Each message pulled is
// published here with its broker path plus the peer's node id through
// duplicate suppression (backend.Broker.PublishForwarded) and accepted
// only once it is stored here: the peer removes its copy only then. A
// link that ends or a connection that breaks leaves what is not accepted
// with the peer, which sends it again; a copy this broker already has is
// dropped.

// pullRetry is how long a destination whose pull the peer refused waits
// before it is attached again.
const pullRetry = 5 * time.Second

// pullLink is one receiver link of a duplex bridge at its peer.
type pullLink struct {
	dest   backend.Destination
	hops   int
	recv   *amqp.Receiver
	cancel context.CancelFunc
	done   chan struct{} // closed once the link's goroutines returned
	err    error         // why the link ended; read after done

	mu sync.Mutex
	// Guarded by mu.
	settle []pulled // outcomes to send, in order
	wake   chan struct{}
}

// pulled is a pulled message and the outcome of publishing it here.
type pulled struct {
	msg *amqp.Message
	err error
}

// pullLoop attaches and detaches the bridge's pulls as this broker's
// demand changes, until ctx ends or the connection fails. peer is the
// peer's node id. It runs on its own goroutine per connection.
func (br *bridge) pullLoop(ctx context.Context, sess *amqp.Session, peer string) error {
	links := map[backend.Destination]*pullLink{}
	retry := map[backend.Destination]time.Time{}
	defer func() {
		for _, pl := range links {
			pl.stop()
		}
		br.setPulling(nil)
	}()
	tick := time.NewTicker(br.n.opts.AdvertiseInterval)
	defer tick.Stop()
	for {
		want := map[backend.Destination]int{}
		if s := br.n.want.Load(); s != nil {
			want = learn(s, peer, br.n.opts.TTL, br.cfg.forwards)
		}
		now := time.Now()
		for d, pl := range links {
			select {
			case <-pl.done:
				delete(links, d)
				retry[d] = now.Add(pullRetry)
				if isConnErr(pl.err) {
					return pl.err
				}
				br.log.Warn().Err(pl.err).Str("destination", d.String()).Msg("network: the peer ended a pull; retrying")
				continue
			default:
			}
			if h, ok := want[d]; !ok || h != pl.hops {
				pl.stop()
				delete(links, d)
			}
		}
		var add []backend.Destination
		for d := range want {
			if links[d] == nil && !now.Before(retry[d]) {
				add = append(add, d)
			}
		}
		sort.Slice(add, func(i, j int) bool { return add[i].String() < add[j].String() })
		for _, d := range add {
			pl, err := br.attachPull(ctx, sess, d, want[d], peer)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if isConnErr(err) {
					return err
				}
				retry[d] = time.Now().Add(pullRetry)
				br.log.Warn().Err(err).Str("destination", d.String()).Msg("network: the peer refused a pull; retrying")
				continue
			}
			delete(retry, d)
			links[d] = pl
		}
		for d, t := range retry {
			if _, ok := want[d]; !ok || now.After(t.Add(time.Minute)) {
				delete(retry, d)
			}
		}
		names := make([]string, 0, len(links))
		for d := range links {
			names = append(names, d.String())
		}
		slices.Sort(names)
		br.setPulling(names)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-br.pullKick:
		case <-tick.C:
		}
	}
}

// isConnErr reports whether err ended the connection or the session, not
// just a link.
func isConnErr(err error) bool {
	var ce *amqp.ConnError
	var se *amqp.SessionError
	return errors.As(err, &ce) || errors.As(err, &se)
}

// setPulling records the destinations pulled, for Status.
func (br *bridge) setPulling(names []string) {
	br.mu.Lock()
	br.pulling = names
	br.mu.Unlock()
}

// attachPull attaches a pull of dest at the peer, hops away from the
// consumers here, and starts its receiving and settling goroutines.
func (br *bridge) attachPull(ctx context.Context, sess *amqp.Session, dest backend.Destination, hops int, peer string) (*pullLink, error) {
	o := br.n.opts
	prio := 0
	if o.DecreasePriority {
		prio = PriorityBase - (hops - 1)
	}
	actx, acancel := context.WithTimeout(ctx, connectTimeout)
	defer acancel()
	recv, err := sess.NewReceiver(actx, dest.String(), &amqp.ReceiverOptions{
		Credit:         int32(min(o.Prefetch, 1<<20)),
		SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(),
		Properties: map[string]any{
			"mqgate-pull-hops":     int64(hops),
			"mqgate-pull-ttl":      int64(o.TTL),
			"mqgate-pull-priority": int64(prio),
		},
	})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	pl := &pullLink{dest: dest, hops: hops, recv: recv, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pl.err = br.pullReceive(lctx, pl, peer) }()
	go func() { defer wg.Done(); br.pullSettle(lctx, pl) }()
	go func() { wg.Wait(); close(pl.done) }()
	br.log.Debug().Str("destination", dest.String()).Int("hops", hops).Msg("network: pulling from the peer")
	return pl, nil
}

// stop detaches the pull and waits for its goroutines. What it received
// and did not accept stays with the peer, which sends it again.
func (pl *pullLink) stop() {
	pl.cancel()
	<-pl.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pl.recv.Close(ctx)
}

// pullReceive publishes here each message the pull receives, until ctx
// ends or the link fails.
func (br *bridge) pullReceive(ctx context.Context, pl *pullLink, peer string) error {
	for {
		msg, err := pl.recv.Receive(ctx, nil)
		if err != nil {
			return err
		}
		m, err := fromAMQP(msg, pl.dest, peer)
		if err != nil {
			// It will not map next time either: the peer dead-letters it.
			br.log.Warn().Err(err).Str("destination", pl.dest.String()).Msg("network: rejecting a pulled message that does not map")
			if err := pl.recv.RejectMessage(ctx, msg, &amqp.Error{Condition: amqp.ErrCondDecodeError, Description: err.Error()}); err != nil {
				return err
			}
			continue
		}
		done := func(err error) { pl.outcome(pulled{msg: msg, err: err}) }
		if err := br.n.b.PublishForwarded(m, done); err != nil {
			done(err)
		}
	}
}

// outcome queues a pulled message's outcome for pullSettle. Any
// goroutine (a publish's completion); it does not block.
func (pl *pullLink) outcome(p pulled) {
	pl.mu.Lock()
	pl.settle = append(pl.settle, p)
	pl.mu.Unlock()
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// pullSettle settles pulled messages at the peer as their publishing here
// completes: accepted once stored (the peer removes its copy); released
// after rejectBackoff on a failure (the peer sends it again), until ctx
// ends.
func (br *bridge) pullSettle(ctx context.Context, pl *pullLink) {
	for {
		pl.mu.Lock()
		batch := pl.settle
		pl.settle = nil
		pl.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-pl.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		for _, p := range batch {
			if p.err == nil {
				br.pulled.Add(1)
				if err := pl.recv.AcceptMessage(ctx, p.msg); err != nil {
					return // the link is gone: the peer sends it again
				}
				continue
			}
			if k := br.pullFails.Add(1); k == 1 || k%100 == 0 {
				br.log.Warn().Err(p.err).Str("destination", pl.dest.String()).Uint64("times", k).
					Msg("network: a pulled message could not be stored here; it is released and retried")
			}
			msg := p.msg
			time.AfterFunc(rejectBackoff, func() {
				if ctx.Err() == nil {
					_ = pl.recv.ReleaseMessage(ctx, msg)
				}
			})
		}
	}
}
