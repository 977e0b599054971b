package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqgate/mqgate/backend/store"
)

// Acquire blocks until node holds the group's lease or ctx ends, trying
// every ttl/10. From then on every Append of this store is fenced by the
// lease's token.
func (s *Store) Acquire(ctx context.Context, node string, ttl time.Duration) (store.Lease, error) {
	if s.held.Load() != nil {
		return nil, errLeaseHeld
	}
	poll := max(ttl/10, 10*time.Millisecond)
	ms := strconv.FormatInt(ttl.Milliseconds(), 10)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		sent := time.Now()
		v, err := acquireScript.Run(ctx, s.client, []string{s.lease, s.token}, node, ms).Text()
		switch {
		case err == nil:
			_, tok, _ := strings.Cut(v, " ")
			token, _ := strconv.ParseUint(tok, 10, 64)
			l := &redisLease{s: s, value: v, fence: &fence{value: v}, tokenN: token, ttl: ttl, lastOK: sent,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			s.fence.Store(l.fence)
			s.held.Store(l)
			go l.renew()
			return l, nil
		case err == goredis.Nil:
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.log.Warn().Err(err).Msg("redis: trying the master lease")
		}
		t.Reset(poll)
	}
}

// redisLease is a held lease, renewed every ttl/3.
type redisLease struct {
	s      *Store
	value  string // "<node> <token>"
	fence  *fence // the store's fence while this lease is held
	tokenN uint64
	ttl    time.Duration

	lastOK   time.Time    // send time of the last successful renewal; owned by renew
	renewals atomic.Int64 // successful renewals, for tests
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func (l *redisLease) Token() uint64         { return l.tokenN }
func (l *redisLease) Lost() <-chan struct{} { return l.lost }

// lose marks the lease lost: the store writes nothing more under it.
func (l *redisLease) lose() {
	l.fence.lost.Store(true)
	l.lostOnce.Do(func() { close(l.lost) })
}

// renewal is the outcome of one renewal call.
type renewal struct {
	sent time.Time
	ok   bool // the lease was ours and is extended
	err  error
}

// renew extends the lease every ttl/3, one call at a time. The lease
// counts as lost when a renewal finds it gone or another's, or when no
// renewal succeeded for 9/10 of ttl since the last good one was sent: the
// key expires no sooner than ttl after that, so the master gives up before
// a slave can take over. That deadline is a timer of its own: a renewal
// stuck on a dead connection (go-redis waits out its read timeout and
// retries) does not hold it back.
func (l *redisLease) renew() {
	defer close(l.done)
	every := max(l.ttl/3, 5*time.Millisecond)
	limit := l.ttl * 9 / 10
	ms := strconv.FormatInt(l.ttl.Milliseconds(), 10)
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.NewTimer(time.Until(l.lastOK.Add(limit)))
	defer deadline.Stop()
	results := make(chan renewal, 1) // one call in flight: its send never blocks
	inFlight := false
	for {
		select {
		case <-l.stop:
			return
		case <-l.lost:
			return
		case <-deadline.C:
			l.s.log.Error().Dur("since_renewal", time.Since(l.lastOK)).Msg("redis: master lease not renewed in time")
			l.lose()
			return
		case r := <-results:
			inFlight = false
			switch {
			case r.err != nil:
				l.s.log.Warn().Err(r.err).Msg("redis: renewing the master lease")
			case !r.ok:
				l.s.log.Error().Msg("redis: the master lease was taken over")
				l.lose()
				return
			default:
				l.lastOK = r.sent
				l.renewals.Add(1)
				deadline.Reset(time.Until(r.sent.Add(limit)))
			}
		case <-tick.C:
			if inFlight {
				continue
			}
			inFlight = true
			go func(sent time.Time) {
				ctx, cancel := context.WithTimeout(context.Background(), l.ttl)
				defer cancel()
				n, err := renewScript.Run(ctx, l.s.client, []string{l.s.lease}, l.value, ms).Int()
				results <- renewal{sent: sent, ok: n == 1, err: err}
			}(time.Now())
		}
	}
}

// Release stops renewing and deletes the lease if it is still ours, so
// that a slave takes over at once. The store writes nothing more under it
// (its Appends fail with store.ErrFenced) until it acquires a new one.
func (l *redisLease) Release(ctx context.Context) error {
	l.fence.lost.Store(true)
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	if !l.s.held.CompareAndSwap(l, nil) {
		return nil // released already
	}
	select {
	case <-l.lost:
		return nil
	default:
	}
	if err := releaseScript.Run(ctx, l.s.client, []string{l.s.lease}, l.value).Err(); err != nil {
		return fmt.Errorf("redis: releasing the lease: %w", err)
	}
	return nil
}
