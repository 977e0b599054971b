package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
			l := &redisLease{s: s, value: v, tokenN: token, ttl: ttl, lastOK: sent,
				lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
			s.fence.Store(&l.value)
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
	tokenN uint64
	ttl    time.Duration

	lastOK   time.Time // send time of the last successful renewal; owned by renew
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func (l *redisLease) Token() uint64         { return l.tokenN }
func (l *redisLease) Lost() <-chan struct{} { return l.lost }

func (l *redisLease) lose() { l.lostOnce.Do(func() { close(l.lost) }) }

// renew extends the lease every ttl/3. The lease counts as lost when a
// renewal finds it gone or another's, or when no renewal succeeded for
// 9/10 of ttl since the last good one was sent: the key expires no sooner
// than ttl after that, so the master gives up before a slave can take over.
func (l *redisLease) renew() {
	defer close(l.done)
	every := max(l.ttl/3, 5*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	ms := strconv.FormatInt(l.ttl.Milliseconds(), 10)
	for {
		select {
		case <-l.stop:
			return
		case <-l.lost:
			return
		case <-t.C:
		}
		if time.Since(l.lastOK) > l.ttl*9/10 {
			l.s.log.Error().Dur("since_renewal", time.Since(l.lastOK)).Msg("redis: master lease not renewed in time")
			l.lose()
			return
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		n, err := renewScript.Run(ctx, l.s.client, []string{l.s.lease}, l.value, ms).Int()
		cancel()
		switch {
		case err != nil:
			l.s.log.Warn().Err(err).Msg("redis: renewing the master lease")
		case n == 0:
			l.s.log.Error().Msg("redis: the master lease was taken over")
			l.lose()
			return
		default:
			l.lastOK = sent
		}
	}
}

// Release stops renewing and deletes the lease if it is still ours, so
// that a slave takes over at once.
func (l *redisLease) Release(ctx context.Context) error {
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
