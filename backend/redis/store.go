// Package redis is the shared message store on Redis: the store.Store and
// store.Leaser of a master/slave group whose brokers all point at one
// Redis (standalone, Sentinel-managed or a Cluster, through go-redis's
// UniversalClient). Appends are Lua scripts, atomic per batch, pipelined by
// one writer so that concurrent producers share round trips (group
// commit), and fenced by the master lease's token once a lease is held.
// The key layout is in scripts.go and docs/redis-store.md.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// Options configures a Store.
type Options struct {
	// Client, if set, is used as is (and not closed by Close); the
	// connection fields below are ignored.
	Client goredis.UniversalClient
	// URL names a standalone server: redis://[user:password@]host:port/db
	// or rediss:// for TLS. Ignored when Addrs is set.
	URL string
	// Addrs are seed addresses: Sentinels when MasterName is set, Cluster
	// nodes when there are several, else one standalone server.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	DB         int
	// TLS, when set, connects with it (rediss:// in URL does the same).
	TLS *tls.Config
	// Group names the master/slave group: the key prefix.
	Group string
	// MaxSize is the bytes of message data and definitions at which
	// growth is refused with store.ErrFull; 0 means no limit.
	MaxSize int64
	// Logger receives connection trouble and lease changes.
	Logger zerolog.Logger
}

// maxBatchArgs bounds the records sent in one script call, so that one
// call stays small; a larger Append is still one call (atomic), this only
// limits how many Appends are merged.
const maxMergedRecords = 1024

// Store is the Redis store. It implements store.Store and store.Leaser.
type Store struct {
	opts   Options
	client goredis.UniversalClient
	own    bool // Close closes client
	prefix string
	lease  string // the lease key
	token  string // the token key
	log    zerolog.Logger

	fence atomic.Pointer[string] // the held lease's value; nil: unfenced
	held  atomic.Pointer[redisLease]

	reqs    chan *request
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
)

type request struct {
	args []any // four per record
	done chan error
}

// clientLog sends go-redis's own messages (reconnects, pool trouble) to
// the first Store's logger at debug level: the store reports what matters
// to the broker itself.
var clientLog sync.Once

type zlog struct{ l zerolog.Logger }

func (z zlog) Printf(_ context.Context, format string, v ...any) {
	z.l.Debug().Msgf("go-redis: "+format, v...)
}

// Open connects to Redis and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	clientLog.Do(func() { goredis.SetLogger(zlog{opts.Logger}) })
	if opts.Group == "" {
		opts.Group = "mqgate"
	}
	s := &Store{
		opts:   opts,
		prefix: "{mqgate:" + opts.Group + "}:",
		log:    opts.Logger,
		reqs:   make(chan *request, 1024),
		done:   make(chan struct{}),
	}
	s.lease, s.token = s.prefix+"lease", s.prefix+"token"
	if opts.Client != nil {
		s.client = opts.Client
	} else {
		c, err := newClient(opts)
		if err != nil {
			return nil, err
		}
		s.client, s.own = c, true
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.client.Ping(pctx).Err(); err != nil {
		if s.own {
			s.client.Close()
		}
		return nil, fmt.Errorf("redis: %w", err)
	}
	go s.writer()
	return s, nil
}

// newClient builds the UniversalClient opts names.
func newClient(opts Options) (goredis.UniversalClient, error) {
	if len(opts.Addrs) == 0 {
		o, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis: store.redis.url: %w", err)
		}
		if opts.Username != "" {
			o.Username = opts.Username
		}
		if opts.Password != "" {
			o.Password = opts.Password
		}
		if opts.TLS != nil {
			o.TLSConfig = opts.TLS
		}
		return goredis.NewClient(o), nil
	}
	return goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:      opts.Addrs,
		MasterName: opts.MasterName,
		Username:   opts.Username,
		Password:   opts.Password,
		DB:         opts.DB,
		TLSConfig:  opts.TLS,
	}), nil
}

// Append applies recs atomically and returns once Redis acknowledged them.
// A caller whose ctx ends first gets ctx's error; its records may still be
// applied (as with the disk store).
func (s *Store) Append(ctx context.Context, recs []store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	args := make([]any, 0, 4*len(recs))
	for _, r := range recs {
		var aux any
		switch r.Op {
		case store.OpEnqueue, store.OpQueueCreate:
			aux = string(r.Data) // copied: Append does not retain Data
		case store.OpDelivered:
			aux = strconv.FormatUint(uint64(r.Count), 10)
		default:
			aux = ""
		}
		args = append(args, strconv.Itoa(int(r.Op)), r.Queue, strconv.FormatUint(r.ID, 10), aux)
	}
	req := &request{args: args, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return store.ErrClosed
	}
	select {
	case s.reqs <- req:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer sends queued Appends, all that queued while the previous round
// trip was in flight, as one pipeline of script calls.
func (s *Store) writer() {
	defer close(s.done)
	var batch []*request
	for {
		req, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		n := len(req.args) / 4
	more:
		for n < maxMergedRecords {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
				n += len(r.args) / 4
			default:
				break more
			}
		}
		s.flush(batch)
	}
}

// flush runs one pipeline for batch and answers every request.
func (s *Store) flush(batch []*request) {
	fence := ""
	if f := s.fence.Load(); f != nil {
		fence = *f
	}
	head := []any{s.prefix, fence, strconv.FormatInt(s.opts.MaxSize, 10)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pipe := s.client.Pipeline()
	cmds := make([]*goredis.Cmd, len(batch))
	for i, r := range batch {
		cmds[i] = appendScript.EvalSha(ctx, pipe, []string{s.lease}, append(head[:3:3], r.args...)...)
	}
	_, _ = pipe.Exec(ctx)
	// A script not yet loaded (a new server, a restart, a failover) fails
	// with NOSCRIPT: load it and send those calls again.
	var again []int
	for i, c := range cmds {
		if err := c.Err(); err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		if err := appendScript.Load(ctx, s.client).Err(); err == nil {
			pipe = s.client.Pipeline()
			for _, i := range again {
				cmds[i] = appendScript.EvalSha(ctx, pipe, []string{s.lease}, append(head[:3:3], batch[i].args...)...)
			}
			_, _ = pipe.Exec(ctx)
		}
	}
	for i, c := range cmds {
		batch[i].done <- s.result(c.Err())
	}
}

// result maps a script error to the store's errors.
func (s *Store) result(err error) error {
	switch {
	case err == nil:
		return nil
	case goredis.HasErrorPrefix(err, "FENCED"):
		if l := s.held.Load(); l != nil {
			l.lose()
		}
		return store.ErrFenced
	case goredis.HasErrorPrefix(err, "FULL"):
		return store.ErrFull
	}
	return fmt.Errorf("redis: %w", err)
}

// Recover replays the live state: queues in creation order, then messages
// in log order, each with its delivery count. It reads in pages.
func (s *Store) Recover(ctx context.Context, fn func(store.Record) error) error {
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	const page = 1000
	queues, err := s.client.ZRange(ctx, s.prefix+"qpos", 0, -1).Result()
	if err != nil {
		return fmt.Errorf("redis: reading queues: %w", err)
	}
	for i := 0; i < len(queues); i += page {
		names := queues[i:min(i+page, len(queues))]
		defs, err := s.client.HMGet(ctx, s.prefix+"q", names...).Result()
		if err != nil {
			return fmt.Errorf("redis: reading queues: %w", err)
		}
		for j, d := range defs {
			def, ok := d.(string)
			if !ok {
				continue
			}
			if err := fn(store.Record{Op: store.OpQueueCreate, Queue: names[j], Data: []byte(def)}); err != nil {
				return err
			}
		}
	}
	for start := int64(0); ; start += page {
		mems, err := s.client.ZRange(ctx, s.prefix+"pos", start, start+page-1).Result()
		if err != nil {
			return fmt.Errorf("redis: reading messages: %w", err)
		}
		if len(mems) == 0 {
			return nil
		}
		type key struct{ q, id string }
		keys := make([]key, len(mems))
		pipe := s.client.Pipeline()
		data := make([]*goredis.StringCmd, len(mems))
		for j, mem := range mems {
			q, idText, found := cutLast(mem, "\x00")
			if !found {
				return fmt.Errorf("redis: malformed message key %q", mem)
			}
			keys[j] = key{q, idText}
			data[j] = pipe.HGet(ctx, s.prefix+"m:"+q, idText)
		}
		dlv := pipe.HMGet(ctx, s.prefix+"dlv", mems...)
		if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
			return fmt.Errorf("redis: reading messages: %w", err)
		}
		cv := dlv.Val()
		for j, k := range keys {
			d, err := data[j].Result()
			if err == goredis.Nil {
				continue
			}
			if err != nil {
				return fmt.Errorf("redis: reading messages: %w", err)
			}
			id, perr := strconv.ParseUint(k.id, 10, 64)
			if perr != nil {
				return fmt.Errorf("redis: malformed message id %q", k.id)
			}
			if err := fn(store.Record{Op: store.OpEnqueue, Queue: k.q, ID: id, Data: []byte(d)}); err != nil {
				return err
			}
			if c, ok := cv[j].(string); ok {
				n, _ := strconv.ParseUint(c, 10, 32)
				if err := fn(store.Record{Op: store.OpDelivered, Queue: k.q, ID: id, Count: uint32(n)}); err != nil {
					return err
				}
			}
		}
		if len(mems) < page {
			return nil
		}
	}
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// Close waits for queued Appends, gives up a held lease, and closes the
// connection it opened.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.closeMu.Unlock()
	<-s.done
	if l := s.held.Load(); l != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = l.Release(ctx)
		cancel()
	}
	if s.own {
		return s.client.Close()
	}
	return nil
}

// errLeaseHeld is returned by Acquire on a store that already holds one.
var errLeaseHeld = errors.New("redis: this store already holds the lease")
