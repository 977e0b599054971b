package backend

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// commitReq is one unit of work for the committer: records written
// atomically, then apply run (in submission order) once they are durable.
type commitReq struct {
	recs  []store.Record
	apply func()      // run on the committer goroutine after a successful write
	done  func(error) // must not block
}

// committer is the single goroutine that writes to the store. Everything
// submitted while a write is in progress goes into the next write: group
// commit above the store's own. It also carries asynchronous records (acks,
// delivery counts) that nobody waits for.
type committer struct {
	st  store.Store
	log zerolog.Logger

	reqs chan *commitReq
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex
	// Guarded by mu.
	async    []store.Record
	asyncPos uint64 // asynchronous records queued so far

	// recorded is how many asynchronous records are durable (or past
	// saving: failed writes count, so nobody waits forever); recMu guards
	// recCh, closed and replaced whenever recorded advances.
	recorded atomic.Uint64
	recMu    sync.Mutex
	recCh    chan struct{}
}

func newCommitter(st store.Store, log zerolog.Logger) *committer {
	c := &committer{
		st:    st,
		log:   log,
		reqs:  make(chan *commitReq, 4096),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		recCh: make(chan struct{}),
	}
	go c.run()
	return c
}

// commit submits r; it blocks only while the submission queue is full.
func (b *Broker) commit(r *commitReq) {
	if b.com == nil {
		if r.apply != nil {
			r.apply()
		}
		if r.done != nil {
			r.done(nil)
		}
		return
	}
	select {
	case b.com.reqs <- r:
	case <-b.com.done:
		if r.done != nil {
			r.done(ErrClosed)
		}
	}
}

// commitWait writes recs and waits until they are durable.
func (b *Broker) commitWait(ctx context.Context, recs []store.Record) error {
	ch := make(chan error, 1)
	b.commit(&commitReq{recs: recs, done: func(err error) { ch <- err }})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendAsync queues records nobody waits for; it never blocks.
func (b *Broker) appendAsync(recs []store.Record) {
	if len(recs) == 0 || b.com == nil {
		return
	}
	c := b.com
	c.mu.Lock()
	c.async = append(c.async, recs...)
	c.asyncPos += uint64(len(recs))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// appendAsyncPos queues one record nobody waits for and returns its
// position, for WaitRecorded.
func (c *committer) appendAsyncPos(rec store.Record) uint64 {
	c.mu.Lock()
	c.async = append(c.async, rec)
	c.asyncPos++
	pos := c.asyncPos
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return pos
}

// setRecorded records that the first upto asynchronous records are written.
func (c *committer) setRecorded(upto uint64) {
	if upto <= c.recorded.Load() {
		return
	}
	c.recorded.Store(upto)
	c.recMu.Lock()
	close(c.recCh)
	c.recCh = make(chan struct{})
	c.recMu.Unlock()
}

// WaitRecorded blocks until the delivered mark of every delivery with a
// RecordedAt up to pos is durable, or the broker closes. Protocol writers
// call it before sending such deliveries, so that a message that reached a
// consumer is known to the store as delivered: after a crash or a
// fail-over it comes back flagged redelivered.
func (b *Broker) WaitRecorded(pos uint64) {
	c := b.com
	if c == nil || pos == 0 {
		return
	}
	for c.recorded.Load() < pos {
		c.recMu.Lock()
		ch := c.recCh
		c.recMu.Unlock()
		if c.recorded.Load() >= pos {
			return
		}
		select {
		case <-ch:
		case <-c.done:
			return
		}
	}
}

func (c *committer) close() {
	close(c.stop)
	<-c.done
}

const maxBatch = 1024

func (c *committer) run() {
	defer close(c.done)
	var batch []*commitReq
	var recs []store.Record
	for {
		batch = batch[:0]
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		case <-c.wake:
		case <-c.stop:
			c.drainAndStop()
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.mu.Lock()
		recs = append(recs[:0], c.async...)
		clear(c.async)
		c.async = c.async[:0]
		upto := c.asyncPos
		c.mu.Unlock()
		nAsync := len(recs)
		for _, r := range batch {
			recs = append(recs, r.recs...)
		}
		c.write(recs, nAsync, batch)
		c.setRecorded(upto)
		clear(recs)
	}
}

// write appends recs (the first nAsync of which are asynchronous) and
// completes batch.
func (c *committer) write(recs []store.Record, nAsync int, batch []*commitReq) {
	var err error
	if len(recs) > 0 {
		err = c.st.Append(context.Background(), recs)
	}
	if errors.Is(err, store.ErrFull) {
		// A full store still takes acks and deletes, so consumers can drain
		// it: write those alone and fail only the units that add messages.
		var keep []store.Record
		var failed = make(map[*commitReq]bool)
		keep = append(keep, recs[:nAsync]...)
		for _, r := range batch {
			if addsData(r.recs) {
				failed[r] = true
				continue
			}
			keep = append(keep, r.recs...)
		}
		err = nil
		if len(keep) > 0 {
			err = c.st.Append(context.Background(), keep)
		}
		for _, r := range batch {
			rerr := err
			if failed[r] {
				rerr = store.ErrFull
			}
			c.finish(r, rerr)
		}
		return
	}
	if err != nil && nAsync > 0 {
		c.log.Error().Err(err).Int("records", nAsync).Msg("store write failed; acknowledgements may be replayed after a restart")
	}
	for _, r := range batch {
		c.finish(r, err)
	}
}

func (c *committer) finish(r *commitReq, err error) {
	if err == nil && r.apply != nil {
		r.apply()
	}
	if r.done != nil {
		r.done(err)
	}
}

func addsData(recs []store.Record) bool {
	for _, r := range recs {
		if r.Op == store.OpEnqueue || r.Op == store.OpQueueCreate {
			return true
		}
	}
	return false
}

// drainAndStop writes what is queued, then fails later submissions.
func (c *committer) drainAndStop() {
	for {
		var batch []*commitReq
	more:
		for {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.mu.Lock()
		recs := append([]store.Record(nil), c.async...)
		c.async = nil
		upto := c.asyncPos
		c.mu.Unlock()
		nAsync := len(recs)
		if len(batch) == 0 && nAsync == 0 {
			return
		}
		for _, r := range batch {
			recs = append(recs, r.recs...)
		}
		c.write(recs, nAsync, batch)
		c.setRecorded(upto)
	}
}
