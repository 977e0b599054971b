// Package redis is the shared message store on Redis: the store.Store and
// store.Leaser of a master/slave group whose brokers all point at one
// Redis (standalone, Sentinel-managed or a Cluster, through go-redis's
// UniversalClient). Appends are folded into their net effect per message
// on the appender's goroutine (encode.go) and applied by a Lua script,
// atomic per batch, idempotent if resent, and fenced by the master lease's
// token once a lease is held. One writer goroutine sends everything queued
// while the previous call was in flight as the next call (group commit).
// The key layout is in scripts.go and docs/redis-store.md.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// Group commit limits: one script call carries at most this much, unless
// a single Append is bigger (it is still sent alone, as one batch).
const (
	maxGroupRecords = 4096
	maxGroupBytes   = 8 << 20
)

// callTimeout bounds one append call, go-redis's retries included; each
// attempt is bounded by the client's read and write timeouts.
const callTimeout = 30 * time.Second

// Store is the Redis store. It implements store.Store and store.Leaser.
type Store struct {
	opts     Options
	client   goredis.UniversalClient
	own      bool // Close closes client
	prefix   string
	lease    string   // the lease key
	token    string   // the token key
	keys     []string // the append script's keys: lease, applied
	maxSize  string   // opts.MaxSize, as a script argument
	instance string   // random: tells this store's append calls from others'
	log      zerolog.Logger

	// fence is the lease every append is conditional on; nil: unfenced.
	// Set by Acquire, read by the writer.
	fence atomic.Pointer[fence]
	held  atomic.Pointer[redisLease]

	reqs    chan *request // Append → writer; closed by Close
	done    chan struct{} // closed when the writer has exited
	closeMu sync.RWMutex  // orders Append's send on reqs before Close closes it
	closed  bool          // guarded by closeMu

	seq   uint64       // append calls sent; owned by the writer
	calls atomic.Int64 // append calls sent, for tests
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
)

// fence is a held lease as the writer sees it.
type fence struct {
	value string      // the lease key's value: "<node> <token>"
	lost  atomic.Bool // the lease is lost or released: no more writes
}

// request is one Append on its way through the writer.
type request struct {
	ctx  context.Context // the caller's: a batch whose caller gave up is not sent
	b    batch
	done chan error // buffered: the writer never blocks on it
}

// Open connects to Redis and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	clientLog.Do(func() { goredis.SetLogger(zlog{opts.Logger}) })
	if opts.Group == "" {
		opts.Group = "mqgate"
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &Store{
		opts:     opts,
		prefix:   "{mqgate:" + opts.Group + "}:",
		maxSize:  strconv.FormatInt(max(opts.MaxSize, 0), 10),
		instance: hex.EncodeToString(id[:]),
		log:      opts.Logger,
		reqs:     make(chan *request, 1024),
		done:     make(chan struct{}),
	}
	s.lease, s.token = s.prefix+"lease", s.prefix+"token"
	s.keys = []string{s.lease, s.prefix + "applied"}
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
	// Not needed (a call falls back to EVAL), but it spares the first
	// Append sending its arguments twice.
	if err := appendScript.Load(pctx, s.client).Err(); err != nil {
		s.log.Debug().Err(err).Msg("redis: loading the append script")
	}
	go s.writer()
	return s, nil
}

// Append applies recs atomically and returns once Redis acknowledged them:
// they are then as durable as Redis's appendonly and appendfsync settings
// make them. Concurrent callers share script calls (group commit), and
// their batches are applied in the order their Appends queued. Append
// copies what it needs of recs before it returns.
//
// It returns store.ErrFull when the batch adds data past Options.MaxSize
// or Redis is at its maxmemory, store.ErrFenced when this store's lease
// was lost (in both cases nothing was written), store.ErrClosed after
// Close, and another error when Redis cannot be reached or fails: then the
// batch may or may not have been applied. A caller whose ctx ends first
// gets ctx's error; a batch not yet sent is then dropped, one already sent
// may still be applied (as with the disk store).
func (s *Store) Append(ctx context.Context, recs []store.Record) error {
	req, err := s.submit(ctx, recs)
	if err != nil || req == nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // req stays with the writer, then the garbage collector
	}
}

// submit encodes recs and queues them for the writer; it returns nil for
// an empty batch. Batches are applied in the order submit queued them.
func (s *Store) submit(ctx context.Context, recs []store.Record) (*request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		return nil, nil
	}
	req := &request{ctx: ctx, b: encodeBatch(recs), done: make(chan error, 1)}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	select {
	case s.reqs <- req:
		return req, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) isClosed() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}

// writer is the goroutine that sends appends: each call carries all that
// queued while the previous one was in flight. One call at a time keeps
// batches in order across connections and lets the script's idempotence
// check remember only the last call.
func (s *Store) writer() {
	defer close(s.done)
	var group []*request
	for {
		req, ok := <-s.reqs
		if !ok {
			return
		}
		group = append(group[:0], req)
		recs, size := req.b.recs, req.b.size
		open := true
	more:
		for recs < maxGroupRecords && size < maxGroupBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					open = false
					break more
				}
				group = append(group, r)
				recs += r.b.recs
				size += r.b.size
			default:
				break more
			}
		}
		s.commit(group)
		clear(group)
		if !open {
			return
		}
	}
}

// commit sends group as one script call and answers every request. Writer
// goroutine.
func (s *Store) commit(group []*request) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- err // never sent: not applied
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	f := s.fence.Load()
	fv := ""
	if f != nil {
		if f.lost.Load() {
			for _, r := range live {
				r.done <- store.ErrFenced
			}
			return
		}
		fv = f.value
	}
	s.seq++
	batches := make([]*batch, len(live))
	for i, r := range live {
		batches[i] = &r.b
	}
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	res, err := appendScript.Run(ctx, s.client, s.keys, s.callArgs(fv, s.seq, batches)...).Text()
	cancel()
	if err == nil && len(res) != len(live) {
		err = fmt.Errorf("redis: the append script answered %q to %d batches", res, len(live))
	}
	if err != nil {
		err = s.appendError(err, f)
		for _, r := range live {
			r.done <- err
		}
		return
	}
	for i, r := range live {
		if res[i] == 'F' {
			r.done <- store.ErrFull
		} else {
			r.done <- nil
		}
	}
}

// callArgs returns the append script's arguments for one call: seq is the
// call's number, fence the lease value it is conditional on ("" for none).
func (s *Store) callArgs(fence string, seq uint64, batches []*batch) []any {
	n := 6
	for _, b := range batches {
		n += 2 + len(b.args)
	}
	args := make([]any, 0, n)
	args = append(args, s.prefix, fence, s.maxSize, s.instance, strconv.FormatUint(seq, 10), strconv.Itoa(len(batches)))
	for _, b := range batches {
		args = append(args, strconv.Itoa(len(b.args)), strconv.FormatInt(b.grows, 10))
		args = append(args, b.args...)
	}
	return args
}

// appendError maps an append script error to the store's errors. f is the
// fence the call was sent with.
func (s *Store) appendError(err error, f *fence) error {
	switch {
	case goredis.HasErrorPrefix(err, "FENCED"):
		if f != nil {
			f.lost.Store(true)
		}
		if l := s.held.Load(); l != nil && l.fence == f {
			l.lose()
		}
		return store.ErrFenced
	case goredis.HasErrorPrefix(err, "OOM"):
		// Redis at its maxmemory refused the script's first write:
		// nothing was written.
		return fmt.Errorf("%w: redis: %v", store.ErrFull, err)
	}
	return fmt.Errorf("redis: append: %w", err)
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
		if err := l.Release(ctx); err != nil {
			s.log.Warn().Err(err).Msg("redis: releasing the master lease at close; it lapses after its ttl")
		}
		cancel()
	}
	if s.own {
		return s.client.Close()
	}
	return nil
}

// errLeaseHeld is returned by Acquire on a store that already holds one.
var errLeaseHeld = errors.New("redis: this store already holds the lease")
