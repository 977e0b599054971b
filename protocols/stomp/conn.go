package stomp

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-stomp/stomp/v3/frame"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// writeTimeout bounds one write to a client; a client that reads nothing
// for this long is cut off.
const writeTimeout = 30 * time.Second

// maxPendingPublishes bounds a connection's persistent publishes waiting
// for the store; the reader pauses past it (backpressure on the producer).
const maxPendingPublishes = 4096

// conn is one STOMP connection.
type conn struct {
	srv *Server
	b   *backend.Broker
	nc  net.Conn
	log zerolog.Logger
	rd  *wire.Reader

	id         string // unique connection ID, also the STOMP session header
	tempPrefix string // this connection's temporary destination names start with it

	// Set by the reader while handling CONNECT, before any subscription
	// exists; read-only afterwards.
	version wire.Version
	owner   string // client-id if given, else id: no-local and temp ownership
	hbRecv  time.Duration

	// Owned by the reader goroutine.
	connected    bool
	disconnected bool
	clientID     string
	subs         map[string]*subState
	subsByIndex  []*subState
	txs          map[string]*backend.Tx
	temps        map[backend.Destination]struct{}
	// ackSub and ackTags are plain ACKs read but not yet settled: while
	// the next frame is already buffered, consecutive ACKs of one
	// subscription are settled together (one dispatch pass for all).
	ackSub  *subState
	ackTags []uint64

	// Publishes waiting for the store.
	pmu     sync.Mutex
	pcond   *sync.Cond
	pending int         // guarded by pmu
	perr    error       // guarded by pmu: the first failed publish
	woken   atomic.Bool // a publish failed: the reader must wake (setReadDeadline)

	// Outbound queue, drained by the writer goroutine.
	wmu      sync.Mutex
	out      []outItem   // guarded by wmu: frames waiting for the writer, in order
	outBytes int         // guarded by wmu: about how many bytes out will take
	credits  []*subState // guarded by wmu: auto-ack subscriptions owed credit
	wclosed  bool        // guarded by wmu: nothing more is queued
	slow     bool        // guarded by wmu
	// overSince is when the outbound queue last went over the cap without
	// the writer catching up; guarded by wmu.
	overSince time.Time
	hbSend    time.Duration
	wake      chan struct{}
	wdone     chan struct{}

	stopping chan struct{} // closed by shutdown or redirect
	stopOnce sync.Once
	// redirectTo is where Redirect sent the client (redirect.go); set
	// once, before stopping closes.
	redirectTo atomic.Pointer[string]
}

func newConn(s *Server, nc net.Conn, n uint64) *conn {
	id := "ID:" + s.b.NodeID() + "-" + s.boot + "-" + strconv.FormatUint(n, 10)
	c := &conn{
		srv:        s,
		b:          s.b,
		nc:         nc,
		id:         id,
		tempPrefix: id + ":",
		owner:      id,
		rd:         wire.NewReader(nc, s.opts.Limits),
		subs:       map[string]*subState{},
		txs:        map[string]*backend.Tx{},
		temps:      map[backend.Destination]struct{}{},
		wake:       make(chan struct{}, 1),
		wdone:      make(chan struct{}),
		stopping:   make(chan struct{}),
	}
	c.pcond = sync.NewCond(&c.pmu)
	c.log = s.log.With().Str("conn", id).Str("remote", nc.RemoteAddr().String()).Logger()
	return c
}

// shutdown asks the connection to stop reading and finish what is in flight.
func (c *conn) shutdown() { c.stop(nil) }

// stop stops the connection as shutdown says; with to set, it ends with a
// redirect there (redirect.go). It reports whether this call stopped it.
func (c *conn) stop(to *string) bool {
	stopped := false
	c.stopOnce.Do(func() {
		if to != nil {
			c.redirectTo.Store(to)
		}
		close(c.stopping)
		_ = c.nc.SetReadDeadline(time.Now())
		stopped = true
	})
	return stopped
}

// setReadDeadline sets the socket's read deadline to t, unless the
// connection is stopping or a publish failed: then (even if that happened
// between the two steps) the deadline is now, so the reader's wake-up is
// never overwritten. Reader goroutine.
func (c *conn) setReadDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if c.isStopping() || c.woken.Load() {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

func (c *conn) isStopping() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// serve runs the connection until it ends.
func (c *conn) serve() {
	c.log.Debug().Msg("connection opened")
	go c.writeLoop()
	reason := c.readLoop()
	c.cleanup()
	if reason == "" {
		c.queueRedirect()
	}
	c.closeWriter()
	<-c.wdone
	c.nc.Close()
	ev := c.log.Debug()
	if reason != "" {
		ev = c.log.Info()
	}
	ev.Str("reason", reason).Msg("connection closed")
}

// readLoop reads and handles frames until the connection ends; it returns
// why, or "" for an ordinary end.
func (c *conn) readLoop() string {
	c.setReadDeadline(time.Now().Add(c.srv.opts.ConnectTimeout))
	for {
		if c.ackSub != nil && (c.rd.Buffered() == 0 || len(c.ackTags) >= maxAckBatch) {
			// Nothing more to read without waiting: settle the ACKs
			// held back for batching before blocking.
			c.flushAcks()
		}
		if c.connected && c.hbRecv > 0 && !c.isStopping() {
			// STOMP 1.2 "Heart-beating": allow for timing inaccuracies.
			c.setReadDeadline(time.Now().Add(c.hbRecv * 2))
		}
		f, err := c.rd.Read()
		if err != nil {
			if perr := c.publishError(); perr != nil {
				c.sendError(&frameError{msg: "message could not be stored", detail: perr.Error()}, nil)
				return "store error: " + perr.Error()
			}
			return c.readFailed(err)
		}
		if f == nil {
			continue // heart-beat
		}
		if herr := c.handle(f); herr != nil {
			c.sendError(herr, f)
			return "protocol error: " + herr.msg
		}
		if perr := c.publishError(); perr != nil {
			c.sendError(&frameError{msg: "message could not be stored", detail: perr.Error()}, nil)
			return "store error: " + perr.Error()
		}
		if c.disconnected {
			return ""
		}
	}
}

func (c *conn) readFailed(err error) string {
	var pe *wire.ProtocolError
	switch {
	case c.isStopping():
		return ""
	case errors.As(err, &pe):
		c.sendError(&frameError{msg: pe.Msg}, nil)
		return "protocol error: " + pe.Msg
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.connected {
			c.sendError(&frameError{msg: "no CONNECT frame received in " + c.srv.opts.ConnectTimeout.String()}, nil)
			return "connect timeout"
		}
		return "heart-beat timeout: nothing received in " + (c.hbRecv * 2).String()
	case errors.Is(err, io.EOF):
		return ""
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed inside a frame"
	}
	return err.Error()
}

// cleanup releases what the connection held: subscriptions (unacked
// deliveries are redelivered), open transactions (aborted), temporary
// destinations, the client ID. It waits for publishes still in flight.
func (c *conn) cleanup() {
	c.flushAcks()
	c.waitPublishes()
	for i, s := range c.subsByIndex {
		if s != nil {
			s.sub.Close()
			c.subsByIndex[i] = nil
		}
	}
	clear(c.subs)
	for id, tx := range c.txs {
		tx.Abort()
		delete(c.txs, id)
	}
	for d := range c.temps {
		c.b.DeleteTemp(d)
		delete(c.temps, d)
	}
	if c.clientID != "" {
		c.b.ReleaseClientID(c.clientID)
		c.clientID = ""
	}
}

// frameError is a problem with a client frame: it becomes an ERROR frame.
type frameError struct {
	msg    string // the ERROR frame's message header
	detail string // the body
}

func (e *frameError) Error() string { return e.msg }

func errorf(msg string) *frameError { return &frameError{msg: msg} }

// sendError queues an ERROR frame for the problem with f (which may be nil).
// STOMP 1.2 "ERROR": the connection is closed after it.
func (c *conn) sendError(e *frameError, f *frame.Frame) {
	ef := frame.New("ERROR", "message", e.msg, frame.ContentType, "text/plain")
	if f != nil {
		if r, ok := f.Header.Contains(frame.Receipt); ok {
			ef.Header.Add(frame.ReceiptId, r)
		}
	}
	body := e.detail
	if body == "" {
		body = e.msg
	}
	if f != nil {
		body += "\n\nframe: " + f.Command
	}
	ef.Body = []byte(body)
	c.queueFrame(ef)
	c.log.Debug().Str("error", e.msg).Msg("sent ERROR")
}

// queueFrame queues a control frame for the writer.
func (c *conn) queueFrame(f *frame.Frame) {
	v := c.version
	if f.Command == "CONNECTED" || f.Command == "ERROR" && !c.connected {
		v = wire.V10 // CONNECTED is never escaped
	}
	raw := wire.AppendFrame(nil, f, v)
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return
	}
	c.out = append(c.out, outItem{raw: raw})
	c.outBytes += len(raw)
	c.wmu.Unlock()
	c.signal()
}

// outItem is one frame waiting for the writer: an encoded control frame,
// or a delivery that the writer encodes (outside the queue's lock).
type outItem struct {
	raw []byte
	d   backend.Delivery
	s   *subState
}

// deliverySize estimates the bytes a delivery's MESSAGE frame takes.
func deliverySize(d backend.Delivery) int { return len(d.Msg.Body) + 256 }

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeWriter lets the writer flush what is queued and stop.
func (c *conn) closeWriter() {
	c.wmu.Lock()
	c.wclosed = true
	c.wmu.Unlock()
	c.signal()
}

// slowGrace is how long a connection's outbound queue may stay over
// stomp.max_pending_bytes before it is cut off as a slow consumer; past
// slowHardFactor times the cap it is cut at once. A burst (a prefetch
// window filled at SUBSCRIBE) that a reader drains in time is not slow.
const (
	slowGrace      = 3 * time.Second
	slowHardFactor = 16
)

// overCapLocked reports whether the outbound queue, which was before bytes
// long before the last frame, makes this connection a slow consumer now.
// One frame larger than the cap alone is not. c.wmu must be held.
func (c *conn) overCapLocked(before int) bool {
	max := c.srv.opts.MaxPendingBytes
	if c.slow || before == 0 || c.outBytes <= max {
		return false
	}
	now := time.Now()
	if c.overSince.IsZero() {
		c.overSince = now
	}
	if c.outBytes > slowHardFactor*max || now.Sub(c.overSince) > slowGrace {
		c.slow = true
		return true
	}
	return false
}

// slowConsumer cuts a connection whose outbound queue passed the cap; its
// unacked deliveries go back to the queue when its subscriptions close.
func (c *conn) slowConsumer() {
	c.log.Warn().Int("max_pending_bytes", c.srv.opts.MaxPendingBytes).Msg("slow consumer: closing the connection")
	go c.nc.Close()
}

// writeLoop writes everything queued in one write per wake-up, sends
// heart-beats when the connection is otherwise idle, and returns credit to
// auto-ack subscriptions once their messages are written.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	var buf []byte
	var items, spare []outItem
	var owed []*backend.Subscription
	var amounts []int
	var hb *time.Timer
	var hbC <-chan time.Time
	for {
		select {
		case <-c.wake:
		case <-hbC:
		}
		c.wmu.Lock()
		items, c.out = c.out, spare[:0]
		c.outBytes = 0
		owed, amounts = owed[:0], amounts[:0]
		for _, s := range c.credits {
			owed = append(owed, s.owedTo)
			amounts = append(amounts, s.owed)
			s.owed, s.creditQueued = 0, false
		}
		clear(c.credits)
		c.credits = c.credits[:0]
		closed := c.wclosed
		if c.hbSend > 0 && hb == nil {
			hb = time.NewTimer(c.hbSend)
			hbC = hb.C
		}
		c.wmu.Unlock()
		// A message goes out only once the store knows it was delivered:
		// after a crash it then comes back flagged redelivered.
		var recorded uint64
		for i := range items {
			recorded = max(recorded, items[i].d.RecordedAt)
		}
		c.srv.b.WaitRecorded(recorded)
		buf = buf[:0]
		for i := range items {
			if it := &items[i]; it.raw != nil {
				buf = append(buf, it.raw...)
			} else {
				buf = c.appendMessage(buf, it.d, it.s)
			}
		}
		clear(items)
		spare = items[:0]
		if len(buf) == 0 && hb != nil && !closed {
			buf = wire.AppendHeartbeat(buf)
		}
		if len(buf) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				c.wmu.Lock()
				c.wclosed = true
				c.out, c.outBytes = nil, 0
				c.wmu.Unlock()
				c.nc.Close()
				return
			}
			if hb != nil {
				hb.Reset(c.hbSend)
			}
			c.wmu.Lock()
			if c.outBytes <= c.srv.opts.MaxPendingBytes {
				c.overSince = time.Time{} // the reader keeps up
			}
			c.wmu.Unlock()
		}
		if cap(buf) > 1<<20 {
			buf = nil // don't hold on to a burst's buffer
		}
		for i, s := range owed {
			s.AddCredit(amounts[i])
			owed[i] = nil
		}
		if closed {
			c.wmu.Lock()
			empty := len(c.out) == 0
			c.wmu.Unlock()
			if empty {
				if hb != nil {
					hb.Stop()
				}
				return
			}
		}
	}
}

// trackPublish counts a publish waiting for the store, pausing the reader
// while too many are.
func (c *conn) trackPublish() {
	c.pmu.Lock()
	for c.pending >= maxPendingPublishes {
		c.pcond.Wait()
	}
	c.pending++
	c.pmu.Unlock()
}

// publishDone is the broker's callback for a tracked publish.
func (c *conn) publishDone(err error) {
	c.pmu.Lock()
	c.pending--
	if err != nil && c.perr == nil {
		c.perr = err
		c.woken.Store(true)
		_ = c.nc.SetReadDeadline(time.Now()) // wake the reader to report it
	}
	c.pcond.Broadcast()
	c.pmu.Unlock()
}

// waitPublishes waits until every tracked publish is stored or failed.
func (c *conn) waitPublishes() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	for c.pending > 0 {
		c.pcond.Wait()
	}
	return c.perr
}

func (c *conn) publishError() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.perr
}
