package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// supervise watches the live transport and replaces it when it fails (or
// when a priority broker answers), until the Conn ends. It runs on its own
// goroutine from Dial.
func (c *Conn) supervise() {
	defer close(c.supDone)
	for {
		c.mu.Lock()
		t := c.cur
		c.mu.Unlock()
		if t == nil {
			return
		}
		next := c.watch(t)
		if c.life.Err() != nil {
			if next != nil {
				c.closeTransport(next)
			}
			return
		}
		from, cause, start := t.broker(), t.err(), time.Now()
		c.mu.Lock()
		if c.cur == t {
			c.cur = nil
			c.outageStart = start
			c.startExpiry()
			c.signal()
		}
		if c.gone[from.Addr] {
			c.dropBroker(from.Addr) // discovery reported it gone while in use
		}
		c.mu.Unlock()
		if next != nil {
			// A priority broker answered: leave the current one first, as
			// ActiveMQ does, so that it releases the client id and the
			// durable subscriptions, then replay on the new connection.
			c.closeTransport(t)
			stats, err := c.takeover(c.life, next)
			if err == nil {
				c.emit(Event{From: from.String(), To: next.broker().String(), Took: time.Since(start),
					Resubscribed: stats.resubscribed, Resent: stats.resent})
				continue
			}
			if c.life.Err() != nil {
				return
			}
			cause = err
		}
		var redirect *RedirectError
		if errors.As(cause, &redirect) && c.uri.Failover && redirect.To.Addr != from.Addr {
			// A move the broker asked for, not a failure: the connect
			// loop goes there first, at once.
			c.log.Info().Str("from", from.String()).Str("to", redirect.To.String()).Msg("failover: redirected by the broker")
		} else {
			redirect = nil
			c.log.Warn().Err(cause).Str("broker", from.String()).Msg("failover: connection lost")
		}
		if c.cfg.MaxReconnectAttempts == 0 && redirect == nil {
			why := "maxReconnectAttempts=0"
			if !c.uri.Failover {
				why = "a single-broker URI does not reconnect"
			}
			err := fmt.Errorf("%w: lost %s (%s): %w", ErrNoBroker, from, why, cause)
			c.emit(Event{From: from.String(), Err: err, Took: time.Since(start)})
			c.end(err)
			return
		}
		nt, stats, err := c.connect(c.life, false, from.Addr, redirect)
		if err != nil {
			if c.life.Err() != nil {
				// Closed. If it closed while a new broker was taking the
				// resends (their confirmations can let the application
				// finish and close first), the messages went there: say
				// so.
				if stats.resentTo.Addr != "" {
					c.emit(Event{From: from.String(), To: stats.resentTo.String(), Err: cause, Took: time.Since(start),
						Resubscribed: stats.resubscribed, Resent: stats.resent})
				}
				return
			}
			c.emit(Event{From: from.String(), Err: err, Took: time.Since(start)})
			c.end(err)
			return
		}
		c.emit(Event{From: from.String(), To: nt.broker().String(), Err: cause, Took: time.Since(start),
			Resubscribed: stats.resubscribed, Resent: stats.resent})
	}
}

// watch waits until t fails (nil) or the Conn is closed (nil), or, with
// PriorityBackup while t is not a priority broker, until a priority
// broker accepts a connection, which it returns not yet in use.
func (c *Conn) watch(t transport) transport {
	if !c.cfg.PriorityBackup || c.isPriority(t.broker()) {
		select {
		case <-t.done():
		case <-c.life.Done():
		}
		return nil
	}
	bo := newBackoff(&c.cfg)
	timer := time.NewTimer(bo.delay())
	defer timer.Stop()
	for {
		select {
		case <-t.done():
			return nil
		case <-c.life.Done():
			return nil
		case <-timer.C:
			if nt := c.dialPriority(); nt != nil {
				return nt
			}
			timer.Reset(bo.delay())
		}
	}
}

// isPriority reports whether b is a priority broker.
func (c *Conn) isPriority(b Broker) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return isPriority(&c.cfg, c.brokers, b)
}

// dialPriority tries to connect to each priority broker, returning the
// first connection made, or nil.
func (c *Conn) dialPriority() transport {
	c.mu.Lock()
	var pri []Broker
	for _, b := range connectList(&c.cfg, c.brokers, "") {
		if isPriority(&c.cfg, c.brokers, b) {
			pri = append(pri, b)
		}
	}
	c.mu.Unlock()
	for _, b := range pri {
		ctx, cancel := context.WithTimeout(c.life, c.opts.ConnectTimeout)
		t, err := c.dial(ctx, b)
		cancel()
		if err == nil {
			return t
		}
		c.log.Debug().Err(err).Str("broker", b.String()).Msg("failover: priority broker not available")
	}
	return nil
}

// closeTransport disconnects t, waiting at most ConnectTimeout.
func (c *Conn) closeTransport(t transport) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
	defer cancel()
	_ = t.close(ctx)
}

// takeoverStats counts what a new connection replayed.
type takeoverStats struct {
	resubscribed, resent int
	// resentTo is the broker that took every resend, set even when the
	// Conn began closing before the take-over finished: the messages went
	// there, and the failover is reported.
	resentTo Broker
}

// connect makes passes over the brokers, the one that failed last, until
// one connects and takes over (establish), the attempt limit is reached,
// or ctx ends. startup selects Dial's limit and skips the initial delay.
// A redirect (the reason the last connection ended) is followed first, at
// once; only if its broker fails do the delay and the passes follow (with
// maxReconnectAttempts=0, none). A pass while the list is empty (no
// broker discovered yet) counts as a pass, and a broker added by
// discovery ends the wait between passes early.
func (c *Conn) connect(ctx context.Context, startup bool, failed string, redirect *RedirectError) (transport, takeoverStats, error) {
	limit := attemptLimit(&c.cfg, startup)
	bo := newBackoff(&c.cfg)
	var lastErr error
	if redirect != nil {
		c.mu.Lock()
		to, _ := c.addBroker(redirect.To)
		c.mu.Unlock()
		t, stats, err := c.establishFollow(ctx, to)
		if err == nil {
			return t, stats, nil
		}
		if ctx.Err() != nil {
			return nil, stats, ctxErr(ctx, err)
		}
		c.log.Debug().Err(err).Str("broker", to.String()).Msg("failover: the broker redirected to is not available")
		lastErr = err
		if limit == 0 {
			return nil, takeoverStats{}, fmt.Errorf("%w: %s redirected to %s, which failed (maxReconnectAttempts=0): %w",
				ErrNoBroker, redirect.From, to, err)
		}
	}
	if !startup && c.cfg.InitialReconnectDelay > 0 {
		// ActiveMQ waits initialReconnectDelay before the first pass of a
		// reconnection too.
		if err := c.pause(ctx, bo.delay(), nil); err != nil {
			return nil, takeoverStats{}, err
		}
	}
	for pass := 1; ; pass++ {
		c.mu.Lock()
		list := connectList(&c.cfg, c.brokers, failed)
		wake, discErr := c.listCh, c.discErr
		c.mu.Unlock()
		if len(list) == 0 {
			if discErr != nil {
				return nil, takeoverStats{}, fmt.Errorf("%w: discovery by %s failed: %w", ErrNoBroker, c.agentName(), discErr)
			}
			lastErr = errors.New("no broker discovered yet")
		}
		for _, b := range list {
			t, stats, err := c.establishFollow(ctx, b)
			if err == nil {
				return t, stats, nil
			}
			if ctx.Err() != nil {
				return nil, stats, ctxErr(ctx, lastErr)
			}
			lastErr = err
			c.log.Debug().Err(err).Str("broker", b.String()).Int("attempt", pass).Msg("failover: connection attempt failed")
		}
		if limit != -1 && pass >= limit {
			names := make([]string, len(list))
			for i, b := range list {
				names[i] = b.String()
			}
			over := strings.Join(names, ", ")
			if len(list) == 0 {
				over = "no broker (none discovered by " + c.agentName() + ")"
			}
			opt := "maxReconnectAttempts"
			if startup && c.cfg.StartupMaxReconnectAttempts != -1 {
				opt = "startupMaxReconnectAttempts"
			}
			return nil, takeoverStats{}, fmt.Errorf("%w after %d attempt(s) over %s (%s=%d): last error: %w",
				ErrNoBroker, pass, over, opt, limit, lastErr)
		}
		if err := c.pause(ctx, bo.delay(), wake); err != nil {
			return nil, takeoverStats{}, ctxErr(ctx, lastErr)
		}
	}
}

// agentName names the URI's discovery agent, for errors.
func (c *Conn) agentName() string {
	if c.uri.Discovery == nil {
		return "no discovery agent"
	}
	return c.uri.Discovery.Agent
}

// pause waits d, or until wake is closed (the list changed), or ctx ends.
func (c *Conn) pause(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// establishFollow is establish, following the redirects the broker (and
// the ones it sends the client to) answer with, up to maxRedirects in a
// row; a redirect is not a failed attempt. A single-broker URI does not
// follow redirects.
func (c *Conn) establishFollow(ctx context.Context, b Broker) (transport, takeoverStats, error) {
	for hops := 0; ; hops++ {
		t, stats, err := c.establish(ctx, b)
		var re *RedirectError
		if err == nil || !c.uri.Failover || ctx.Err() != nil || !errors.As(err, &re) {
			return t, stats, err
		}
		if hops == maxRedirects {
			return nil, stats, fmt.Errorf("%w (after %d redirects in a row; not following more)", err, hops)
		}
		c.mu.Lock()
		b, _ = c.addBroker(re.To)
		c.mu.Unlock()
		c.log.Info().Str("from", re.From).Str("to", b.String()).Msg("failover: redirected by the broker while connecting")
	}
}

// ctxErr is ctx's error, with the last connection error when there is one.
func ctxErr(ctx context.Context, last error) error {
	if last == nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
}

// establish connects to b and makes the new connection the live one
// (takeover).
func (c *Conn) establish(ctx context.Context, b Broker) (transport, takeoverStats, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	t, err := c.dial(dctx, b)
	cancel()
	if err != nil {
		return nil, takeoverStats{}, err
	}
	stats, err := c.takeover(ctx, t)
	if err != nil {
		return nil, stats, err
	}
	return t, stats, nil
}

// takeover makes t the live transport: it subscribes every subscription
// again and resends every unconfirmed send in order first, holding
// subLock and sendLock so that nothing new slips in between. On failure,
// or when ctx ends meanwhile, it closes t.
func (c *Conn) takeover(ctx context.Context, t transport) (takeoverStats, error) {
	var stats takeoverStats
	// A send blocked on a silent broker (AMQP link credit) must not hold
	// sendLock past ctx: closing t at once unblocks it.
	unwatch := context.AfterFunc(ctx, func() { _ = t.close(cancelled) })
	fail := func(err error) (takeoverStats, error) {
		unwatch()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = t.close(cctx)
		cancel()
		return stats, err
	}
	if err := c.lockCh(ctx, c.subLock); err != nil {
		return fail(err)
	}
	defer func() { <-c.subLock }()
	c.mu.Lock()
	subs := slices.Clone(c.subs)
	c.mu.Unlock()
	for _, s := range subs {
		s.dropStale()
		sctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
		err := t.subscribe(sctx, s)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("subscribing again to %s: %w", s.dest, err))
		}
		stats.resubscribed++
	}
	if err := c.lockCh(ctx, c.sendLock); err != nil {
		return fail(err)
	}
	defer func() { <-c.sendLock }()
	c.mu.Lock()
	c.stopExpiry() // no send may fail for want of a broker while being resent
	rs := c.sortedPending()
	c.mu.Unlock()
	for _, r := range rs {
		if err := t.send(r); err != nil {
			c.mu.Lock()
			if c.cur == nil && !c.outageStart.IsZero() { // an outage, not Dial
				c.startExpiry()
			}
			c.mu.Unlock()
			return fail(fmt.Errorf("resending: %w", err))
		}
		stats.resent++
	}
	stats.resentTo = t.broker()
	c.mu.Lock()
	if c.err != nil || ctx.Err() != nil {
		c.mu.Unlock()
		return fail(ErrClosed)
	}
	if !unwatch() {
		c.mu.Unlock()
		return fail(ctx.Err())
	}
	c.cur = t
	if c.cfg.UpdateURIsSupported {
		c.addBrokers(t.servers())
	}
	c.signal()
	c.mu.Unlock()
	return stats, nil
}

// addBrokers appends the announced brokers not yet in the list. c.mu must
// be held.
func (c *Conn) addBrokers(bs []Broker) {
	for _, b := range bs {
		if b.Protocol == c.uri.Protocol && !slices.ContainsFunc(c.brokers, func(x Broker) bool { return x.Addr == b.Addr }) {
			c.brokers = append(c.brokers, b)
			c.log.Info().Str("broker", b.String()).Msg("failover: broker announced, added to the list")
		}
	}
}

// dial opens a transport to b in the URI's protocol.
func (c *Conn) dial(ctx context.Context, b Broker) (transport, error) {
	if b.Protocol == AMQP {
		return dialAMQP(ctx, c, b)
	}
	return dialSTOMP(ctx, c, b)
}

// credentials returns the login and passcode for b.
func (c *Conn) credentials(b Broker) (string, string) {
	login, pass := b.Login, b.Passcode
	if c.opts.Login != "" {
		login = c.opts.Login
	}
	if c.opts.Passcode != "" {
		pass = c.opts.Passcode
	}
	return login, pass
}

// cancelled is a context that has ended: a transport closed with it
// closes at once, without a graceful disconnect.
var cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
