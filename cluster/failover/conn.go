package failover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Header and application-property names of the producer identity every
// message carries, for duplicate detection on the broker.
const (
	// HeaderProducerID is random per Conn and stable across reconnects.
	HeaderProducerID = "mqgate-producer-id"
	// HeaderProducerSeq increases by one with each message of a Conn,
	// from 1; a resend carries the number of the original.
	HeaderProducerSeq = "mqgate-producer-seq"
	// HeaderResend ("true") marks a message sent again after a failover:
	// a broker that cannot tell it from the original (another broker of a
	// network, which has its own producer audit) delivers it flagged
	// redelivered, so that consumers see the possible duplicate.
	HeaderResend = "mqgate-resend"
)

// Defaults of Options.
const (
	DefaultHeartbeat      = 10 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultSendWindow     = 1000
	// DefaultPrefetch is the AMQP link credit, and the receive buffer of
	// a subscription, when SubOptions.Prefetch is 0.
	DefaultPrefetch = 1000
)

// Errors callers branch on.
var (
	// ErrClosed: the Conn (or the Subscription) was closed.
	ErrClosed = errors.New("failover: connection closed")
	// ErrTimeout: a send waited the URI's timeout for a connection.
	ErrTimeout = errors.New("failover: timeout waiting for a broker")
	// ErrNoBroker: the attempt limit (maxReconnectAttempts,
	// startupMaxReconnectAttempts) was reached without a connection.
	ErrNoBroker = errors.New("failover: no broker reachable")
	// ErrStaleAck: the message came on a connection that has since been
	// lost; its acknowledgement would reach the wrong broker (or none), so
	// it is not sent. The broker that delivered it redelivers it, flagged
	// as redelivered (STOMP redelivered:true, AMQP delivery-count > 0).
	ErrStaleAck = errors.New("failover: message came on a lost connection; the broker redelivers it")
)

// BrokerError is a refusal by the broker: a STOMP ERROR frame or an AMQP
// error condition (rejected outcome, refused attach). A send it refuses is
// not resent.
type BrokerError struct {
	// Broker is the broker that refused, as stomp://host:port.
	Broker string
	// Condition is the AMQP error condition; empty for STOMP.
	Condition string
	// Message is the STOMP message header or AMQP description.
	Message string
}

func (e *BrokerError) Error() string {
	s := "broker " + e.Broker + " refused"
	if e.Condition != "" {
		s += " (" + e.Condition + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Event reports a failover: the client lost its broker and connected to
// another one (or the same one again), or gave up. A priority backup
// switch (Config.PriorityBackup) is reported the same way, with a nil Err.
type Event struct {
	// From is the broker that was lost, as stomp://host:port.
	From string
	// To is the broker now connected; empty when the client gave up.
	To string
	// Err is why From was lost (a *RedirectError when the broker moved
	// the client, errors.Is(Err, ErrRedirect)), or when To is empty why
	// the client gave up (errors.Is(Err, ErrNoBroker)).
	Err error
	// Took is the time from noticing the loss to the new connection
	// taking over (or to giving up).
	Took time.Duration
	// Resubscribed and Resent count the subscriptions made again and the
	// unconfirmed messages sent again on To.
	Resubscribed, Resent int
}

// Options configure a Conn. The zero value works.
type Options struct {
	// Login and Passcode authenticate (STOMP login/passcode, AMQP SASL
	// PLAIN; ANONYMOUS when Login is empty). They override user:pass@ in
	// the URI.
	Login, Passcode string
	// ClientID is the STOMP client-id header and the AMQP container-id; a
	// durable subscription needs it.
	ClientID string
	// Host is the STOMP host header and the AMQP open hostname (the
	// virtual host); empty means the broker's host name.
	Host string
	// Heartbeat is the STOMP heart-beat asked for each way and the AMQP
	// idle timeout: how soon a silent broker is declared lost. 0 means
	// DefaultHeartbeat; negative turns it off.
	Heartbeat time.Duration
	// ConnectTimeout bounds one connection attempt (dial and handshake).
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// SendWindow bounds the sends not yet confirmed by the broker; SendAsync
	// blocks while it is full. 0 means DefaultSendWindow.
	SendWindow int
	// OnFailover, if set, is called for every Event, on the goroutine that
	// reconnects: it must return quickly and must not call Close.
	OnFailover func(Event)
	// Logger receives connection losses (warn), failovers (info) and
	// failed attempts (debug). The zero value logs nothing.
	Logger zerolog.Logger
}

// Conn is a connection to one broker of a failover URI at a time, that
// hides failures from the application: when the connection is lost it
// reconnects with back-off, makes every subscription again (a durable one
// by its name), and sends again, in their order, the messages not yet
// confirmed by the broker. Its methods are safe for concurrent use.
//
// Lock order: subLock, then sendLock, then mu. No lock is held while
// waiting for the network, except subLock and sendLock, which serialize
// subscribing and sending with the reconnection that replays them.
type Conn struct {
	uri        *URI
	cfg        Config
	opts       Options
	log        zerolog.Logger
	producerID string

	life context.Context // ended by Close
	stop context.CancelFunc

	subLock  chan struct{} // capacity 1: held while (re)subscribing
	sendLock chan struct{} // capacity 1: held while handing sends to a transport, in seq order
	window   chan struct{} // one token per unconfirmed send

	mu sync.Mutex
	// Guarded by mu.
	cur         transport // the live transport; nil while reconnecting
	brokers     []Broker  // the URI's brokers, then announced ones
	seq         uint64
	pending     map[uint64]*Receipt // sent, not yet confirmed, refused or given up
	drained     chan struct{}       // closed when pending becomes empty, if not nil
	subs        []*Subscription     // in the order made
	subSeq      int
	stateCh     chan struct{} // closed and replaced whenever cur changes or the Conn ends
	outageStart time.Time     // when cur was lost
	expiry      *expiry       // fails sends past Timeout during an outage
	closed      bool
	err         error           // why the Conn ended; nil while it runs
	listCh      chan struct{}   // closed and replaced when discovery or a redirect adds a broker
	gone        map[string]bool // by Addr: reported down by discovery while in use; dropped when its connection ends
	discErr     error           // why the discovery agent stopped, if it did

	done     chan struct{} // closed when the Conn has ended
	supDone  chan struct{} // closed when supervise returned
	discStop context.CancelFunc
	discDone chan struct{} // closed when the discovery agent returned; nil without discovery
}

// Dial parses uri (see ParseURI) and connects to one of its brokers. It
// makes passes over the brokers until one answers, up to the URI's
// startupMaxReconnectAttempts (else maxReconnectAttempts) passes, or until
// ctx ends; with no limit it waits for a broker as long as ctx allows.
// The returned Conn keeps reconnecting until Close.
//
// With a discovery: URI, Dial starts the discovery agent and waits for it
// to find a broker that accepts: a pass while none is known counts as a
// pass (as in ActiveMQ), and the wait between passes ends early when a
// broker is discovered. The URI's timeout, when set, also bounds Dial
// (ErrTimeout).
func Dial(ctx context.Context, uri string, opts Options) (*Conn, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return DialURI(ctx, u, opts)
}

// DialURI is Dial with a parsed URI.
func DialURI(ctx context.Context, u *URI, opts Options) (*Conn, error) {
	if len(u.Brokers) == 0 && u.Discovery == nil {
		return nil, errors.New("failover: the URI names no broker")
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.SendWindow <= 0 {
		opts.SendWindow = DefaultSendWindow
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	c := &Conn{
		uri:        u,
		cfg:        u.Config,
		opts:       opts,
		log:        opts.Logger,
		producerID: hex.EncodeToString(id[:]),
		subLock:    make(chan struct{}, 1),
		sendLock:   make(chan struct{}, 1),
		window:     make(chan struct{}, opts.SendWindow),
		brokers:    slices.Clone(u.Brokers),
		pending:    map[uint64]*Receipt{},
		stateCh:    make(chan struct{}),
		listCh:     make(chan struct{}),
		gone:       map[string]bool{},
		done:       make(chan struct{}),
		supDone:    make(chan struct{}),
	}
	c.life, c.stop = context.WithCancel(context.Background())
	if u.Discovery != nil {
		var dctx context.Context
		dctx, c.discStop = context.WithCancel(c.life)
		c.discDone = make(chan struct{})
		go c.runDiscovery(dctx)
		if u.Config.Timeout >= 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, u.Config.Timeout, errDialTimeout)
			defer cancel()
		}
	}
	t, _, err := c.connect(ctx, true, "", nil)
	if err != nil {
		c.stop()
		c.stopDiscovery()
		if errors.Is(context.Cause(ctx), errDialTimeout) {
			err = fmt.Errorf("%w: no broker of %s accepted within timeout=%s ms: %w", ErrTimeout, c.uri, ms(c.cfg.Timeout), err)
		} else if ctx.Err() != nil {
			err = fmt.Errorf("failover: connecting to %s: %w", c.uri, err)
		}
		return nil, err
	}
	c.log.Info().Str("broker", t.broker().String()).Msg("failover: connected")
	go c.supervise()
	return c, nil
}

// errDialTimeout is the cause of Dial's context when the URI's timeout
// ended the wait for a discovered broker.
var errDialTimeout = errors.New("timeout")

// stopDiscovery ends the discovery agent, if any, and waits for it.
func (c *Conn) stopDiscovery() {
	if c.discDone == nil {
		return
	}
	c.discStop()
	<-c.discDone
}

// ProducerID returns the mqgate-producer-id of the messages this Conn
// sends.
func (c *Conn) ProducerID() string { return c.producerID }

// Broker returns the broker the Conn is connected to, as
// stomp://host:port, or "" while it reconnects.
func (c *Conn) Broker() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.broker().String()
}

// Brokers returns the brokers the Conn may connect to: the URI's, then
// those the brokers announced, discovery found or a redirect named, less
// those discovery reported gone.
func (c *Conn) Brokers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.brokers))
	for i, b := range c.brokers {
		out[i] = b.String()
	}
	return out
}

// Done is closed when the Conn has ended: closed, or given up after the
// attempt limit.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the Conn ended (ErrClosed, or an error wrapping
// ErrNoBroker), or nil while it runs.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close waits until ctx ends for the sends not yet confirmed, then
// disconnects (STOMP DISCONNECT, AMQP close) and ends the Conn: sends
// still unconfirmed fail with ErrClosed, and so do Receive and later
// calls. A durable subscription is kept by the broker.
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed || c.err != nil {
		c.closed = true
		c.mu.Unlock()
		c.stopDiscovery()
		return nil
	}
	c.closed = true
	var drained chan struct{}
	if len(c.pending) > 0 {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained = c.drained
	}
	c.mu.Unlock()
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
		case <-c.done:
		}
	}
	c.stop()
	<-c.supDone
	c.stopDiscovery()
	c.mu.Lock()
	t := c.cur
	c.mu.Unlock()
	var err error
	if t != nil {
		err = t.close(ctx)
	}
	c.end(ErrClosed)
	return err
}

// lockCh takes a channel lock unless ctx or the Conn ends first.
func (c *Conn) lockCh(ctx context.Context, l chan struct{}) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

// signal wakes whoever waits on a state change. c.mu must be held.
func (c *Conn) signal() {
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

// end ends the Conn with err: pending sends and subscriptions fail with
// it. Only the first call counts.
func (c *Conn) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.cur = nil
	c.stopExpiry()
	rs := c.sortedPending()
	subs := c.subs
	c.subs = nil
	c.signal()
	c.mu.Unlock()
	close(c.done)
	if c.discStop != nil {
		c.discStop() // Close waits for it
	}
	for _, r := range rs {
		c.finish(r, err)
	}
	for _, s := range subs {
		s.end(err)
	}
}

// emit reports e to the log and to Options.OnFailover.
func (c *Conn) emit(e Event) {
	switch {
	case e.To == "":
		c.log.Error().Err(e.Err).Str("from", e.From).Dur("took", e.Took).Msg("failover: gave up")
	default:
		ev := c.log.Info().Str("from", e.From).Str("to", e.To).Dur("took", e.Took).
			Int("resubscribed", e.Resubscribed).Int("resent", e.Resent)
		if e.Err != nil {
			ev = ev.AnErr("cause", e.Err)
		}
		ev.Msg("failover: reconnected")
	}
	if c.opts.OnFailover != nil {
		c.opts.OnFailover(e)
	}
}
