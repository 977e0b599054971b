package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SendOptions are the optional parts of a message.
type SendOptions struct {
	// ContentType is the STOMP content-type header / AMQP content-type.
	ContentType string
	// Persistent asks the broker to store the message durably (STOMP
	// persistent:true, AMQP header durable).
	Persistent bool
	// Props are user properties: STOMP headers (values in their text
	// form) or AMQP application-properties (string, bool, integer, float
	// and []byte values keep their type). The names destination, receipt,
	// content-length, content-type, transaction and the mqgate-producer-*
	// names are set by the Conn and ignored here.
	Props map[string]any
}

// Receipt is the future of one sent message: it completes when the broker
// confirmed it (STOMP RECEIPT, AMQP accepted), refused it (a *BrokerError),
// or the Conn gave up on it (ErrTimeout, ErrClosed, ErrNoBroker, or the
// context of Send).
type Receipt struct {
	c      *Conn
	seq    uint64
	dest   string
	body   []byte // owned by the caller, who must not change it until done
	opts   SendOptions
	queued time.Time
	// sends counts the times the message was handed to a broker; from the
	// second on it is marked HeaderResend. Guarded by c.sendLock.
	sends int

	done     chan struct{}
	err      error // set before done is closed
	finished bool  // guarded by c.mu
}

// Seq returns the message's mqgate-producer-seq.
func (r *Receipt) Seq() uint64 { return r.seq }

// Done is closed when the outcome is known.
func (r *Receipt) Done() <-chan struct{} { return r.done }

// Err returns the outcome once Done is closed: nil when the broker
// confirmed the message. Before that it returns nil too.
func (r *Receipt) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Wait blocks until the outcome is known or ctx ends. When ctx ends first
// it returns ctx's error and the message stays queued: it may still be
// sent and confirmed.
func (r *Receipt) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send sends body to dest (a STOMP destination such as /queue/orders or
// /topic/prices; over AMQP it maps to queue://orders and topic://prices,
// or the prefixes the broker announces) and returns once the broker
// confirmed it: a STOMP RECEIPT, an AMQP accepted outcome. A connection
// failure in between is hidden: the message is sent again to the next
// broker, with the same mqgate-producer-seq.
//
// An error means the Conn gave up on the message and will not send it
// again: a *BrokerError (refused), ErrTimeout, ErrClosed, ErrNoBroker or
// ctx's error. A message written before a failure may still have been
// stored by the old broker. body must not change until Send returns.
func (c *Conn) Send(ctx context.Context, dest string, body []byte, opts *SendOptions) error {
	r, err := c.SendAsync(ctx, dest, body, opts)
	if err != nil {
		return err
	}
	if err := r.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			c.finish(r, err) // withdrawn: not sent again
		}
		return err
	}
	return nil
}

// SendAsync queues a message for sending and returns its Receipt without
// waiting for the broker, so that many sends are in flight at once (STOMP
// receipts and AMQP unsettled transfers are pipelined). It blocks while
// Options.SendWindow sends are unconfirmed, and returns an error only when
// ctx ends first or the Conn has ended. Messages go out, and after a
// failover are sent again, in the order of the SendAsync calls. body must
// not change until the Receipt is done.
func (c *Conn) SendAsync(ctx context.Context, dest string, body []byte, opts *SendOptions) (*Receipt, error) {
	if dest == "" {
		return nil, errors.New("failover: empty destination")
	}
	if err := c.lockCh(ctx, c.window); err != nil {
		return nil, err
	}
	if err := c.lockCh(ctx, c.sendLock); err != nil {
		<-c.window
		return nil, err
	}
	c.mu.Lock()
	if c.closed || c.err != nil {
		err := c.err
		if err == nil {
			err = ErrClosed
		}
		c.mu.Unlock()
		<-c.sendLock
		<-c.window
		return nil, err
	}
	c.seq++
	r := &Receipt{c: c, seq: c.seq, dest: dest, body: body, queued: time.Now(), done: make(chan struct{})}
	if opts != nil {
		r.opts = *opts
	}
	c.pending[r.seq] = r
	t := c.cur
	if t == nil && c.expiry != nil {
		c.expiry.kick()
	}
	c.mu.Unlock()
	if t != nil {
		// A failure here leaves r pending; the reconnection sends it.
		_ = t.send(r)
	}
	<-c.sendLock
	return r, nil
}

// finish completes r with err, once; later calls are ignored.
func (c *Conn) finish(r *Receipt, err error) {
	c.mu.Lock()
	ok := c.finishLocked(r, err)
	c.mu.Unlock()
	if ok {
		c.complete(r)
	}
}

// finishLocked records r's outcome and takes it off the pending sends,
// reporting false if it was already finished; the caller then calls
// complete without c.mu. c.mu must be held.
func (c *Conn) finishLocked(r *Receipt, err error) bool {
	if r.finished {
		return false
	}
	r.finished = true
	r.err = err
	delete(c.pending, r.seq)
	if len(c.pending) == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
	return true
}

// complete publishes the outcome finishLocked recorded.
func (c *Conn) complete(r *Receipt) {
	close(r.done)
	<-c.window
}

// sortedPending returns the pending sends in send order. c.mu must be
// held.
func (c *Conn) sortedPending() []*Receipt {
	rs := make([]*Receipt, 0, len(c.pending))
	for _, r := range c.pending {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *Receipt) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return rs
}

// expiry fails the sends that waited Config.Timeout for a connection; it
// runs on its own goroutine during an outage.
type expiry struct {
	kickCh chan struct{} // capacity 1: a send was queued
	stopCh chan struct{} // closed to stop it
}

func (e *expiry) kick() {
	select {
	case e.kickCh <- struct{}{}:
	default:
	}
}

// startExpiry starts the expiry of an outage that began at c.outageStart,
// if Config.Timeout is set. c.mu must be held.
func (c *Conn) startExpiry() {
	if c.cfg.Timeout < 0 || c.expiry != nil || c.err != nil {
		return
	}
	e := &expiry{kickCh: make(chan struct{}, 1), stopCh: make(chan struct{})}
	c.expiry = e
	go c.runExpiry(e, c.outageStart)
}

// stopExpiry stops the running expiry, if any. c.mu must be held.
func (c *Conn) stopExpiry() {
	if c.expiry != nil {
		close(c.expiry.stopCh)
		c.expiry = nil
	}
}

// runExpiry fails each pending send once it has waited Config.Timeout
// since the later of its queueing and the start of the outage.
func (c *Conn) runExpiry(e *expiry, start time.Time) {
	timeout := c.cfg.Timeout
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := time.Now()
		var expired []*Receipt
		var next time.Time
		c.mu.Lock()
		if c.expiry != e {
			c.mu.Unlock()
			return
		}
		for _, r := range c.pending {
			dl := r.queued
			if dl.Before(start) {
				dl = start
			}
			dl = dl.Add(timeout)
			if !now.Before(dl) {
				expired = append(expired, r)
			} else if next.IsZero() || dl.Before(next) {
				next = dl
			}
		}
		// Finished under c.mu, so that a reconnection (which stops the
		// expiry under c.mu before resending) never resends one of them.
		err := fmt.Errorf("%w: no broker connected within timeout=%d ms", ErrTimeout, timeout.Milliseconds())
		for i := 0; i < len(expired); {
			if c.finishLocked(expired[i], err) {
				i++
			} else {
				expired = slices.Delete(expired, i, i+1)
			}
		}
		c.mu.Unlock()
		for _, r := range expired {
			c.complete(r)
		}
		var tc <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			tc = timer.C
		}
		select {
		case <-e.stopCh:
			return
		case <-e.kickCh:
		case <-tc:
		}
		timer.Stop()
	}
}
