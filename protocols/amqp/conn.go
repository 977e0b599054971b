package amqp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// writeTimeout bounds one write to a client; a client that reads nothing
// for this long is cut off.
const writeTimeout = 30 * time.Second

// readBufSize is the size of a connection's read buffer: a burst of
// transfers is read with few system calls.
const readBufSize = 64 << 10

// closeLinger is how long a connection we close keeps reading (and
// discarding) after its close frame, so that the peer reads the frame
// instead of a reset.
const closeLinger = time.Second

// Connection capabilities and properties. Qpid JMS and ActiveMQ use these
// names.
const (
	capAnonymousRelay    wire.Symbol = "ANONYMOUS-RELAY"
	capSoleConnection    wire.Symbol = "sole-connection-for-container"
	propProduct          wire.Symbol = "product"
	propVersion          wire.Symbol = "version"
	propQueuePrefix      wire.Symbol = "queue-prefix"
	propTopicPrefix      wire.Symbol = "topic-prefix"
	infoInvalidField     wire.Symbol = "invalid-field"
	fieldContainerID     wire.Symbol = "container-id"
	condIdleTimeoutLocal             = "local-idle-timeout expired"
)

// conn is one AMQP connection.
type conn struct {
	srv  *Server
	b    *backend.Broker
	opts *Options
	nc   net.Conn
	br   *bufio.Reader
	fr   *wire.FrameReader
	log  zerolog.Logger

	id         string // unique connection ID
	tempPrefix string // this connection's dynamic node names start with it

	// Set by the reader while opening, before any session exists;
	// read-only afterwards.
	containerID  string
	owner        string // no-local and temporary destination ownership
	user         string // SASL PLAIN authcid, not verified yet
	peerMaxFrame uint32 // the largest frame we may send
	claimedID    bool

	// Owned by the reader goroutine.
	amqpUp   bool // the AMQP protocol headers were exchanged
	opened   bool // the peer's open was handled and ours queued
	sessions map[uint16]*session
	outChans map[uint16]bool
	temps    map[backend.Destination]struct{}
	txns     map[string]*txn
	txnSeq   uint64
	tempSeq  uint64
	deadline time.Time // the read deadline last set
	settles  []settleRef
	xferIn   wire.Transfer // the transfer being handled: decoded in place

	// Guarded by mu: the outbound queue and what the broker's goroutines
	// touch (link flow state, acks, publish accounting).
	mu        sync.Mutex
	out       []outItem // drained by the writer, in order
	ctl       []byte    // encoded frames that out refers to
	outBytes  int       // bytes queued in out
	wclosed   bool      // nothing more is queued
	slow      bool
	overSince time.Time     // when the queue went over MaxPendingBytes
	hbSend    time.Duration // empty frame interval: half the peer's idle-time-out
	pending   int           // publishes waiting for the store
	waiting   bool          // the reader waits in pubCond
	pubCond   *sync.Cond
	starved   []*inbound // sender links owed credit once publishes drain
	acksDue   []*session // sessions with dispositions to queue (completeLocked)
	acksSpare []*session
	// settledDone is publishDone for pre-settled publishes, which all
	// share it. Set by newConn.
	settledDone func(error)

	// Guarded by wmu: the writer's state (sessions' outgoing windows and
	// held items, see session) and its scratch.
	wmu        sync.Mutex
	blocked    []*session // sessions with items held back by the window
	xfer       wire.Transfer
	xflow      wire.Flow
	xferID     uint32
	xferFormat uint32
	xferTag    [8]byte

	// to is the writer goroutine's address cache for appendMessage.
	to addrCache

	heldBytes atomic.Int64 // payload bytes held back by session windows

	// tooLarge: a performative did not fit the peer's max-frame-size; the
	// connection is closing with amqp:frame-size-too-small.
	tooLarge atomic.Bool

	wake  chan struct{}
	wdone chan struct{}

	stopping chan struct{} // closed by shutdown or redirect
	stopOnce sync.Once
	// redirectTo is where Redirect sent the client (redirect.go); set
	// once, before stopping closes.
	redirectTo atomic.Pointer[ServerAddr]
	// client is set once the peer's open is handled, unless the peer is a
	// network bridge: Redirect may move it.
	client atomic.Bool
}

func newConn(s *Server, nc net.Conn, n uint64) *conn {
	id := "ID:" + s.b.NodeID() + "-" + s.boot + "-amqp-" + strconv.FormatUint(n, 10)
	c := &conn{
		srv:          s,
		b:            s.b,
		opts:         &s.opts,
		nc:           nc,
		br:           bufio.NewReaderSize(nc, readBufSize),
		id:           id,
		tempPrefix:   id + ":",
		owner:        id,
		peerMaxFrame: wire.MinMaxFrameSize,
		sessions:     map[uint16]*session{},
		outChans:     map[uint16]bool{},
		temps:        map[backend.Destination]struct{}{},
		txns:         map[string]*txn{},
		wake:         make(chan struct{}, 1),
		wdone:        make(chan struct{}),
		stopping:     make(chan struct{}),
	}
	c.fr = wire.NewFrameReader(c.br, s.opts.MaxFrameSize)
	c.settledDone = c.publishDone(nil, 0, true)
	c.pubCond = sync.NewCond(&c.mu)
	c.log = s.log.With().Str("conn", id).Str("remote", nc.RemoteAddr().String()).Logger()
	return c
}

// shutdown asks the connection to stop reading, finish what is in flight
// and close with amqp:connection:forced.
func (c *conn) shutdown() { c.stop(nil) }

// stop stops the connection as shutdown says; with to set, the close is a
// redirect there (redirect.go). It reports whether this call stopped it.
func (c *conn) stop(to *ServerAddr) bool {
	stopped := false
	c.stopOnce.Do(func() {
		if to != nil {
			c.redirectTo.Store(to)
		}
		close(c.stopping)
		_ = c.nc.SetReadDeadline(time.Now())
		c.mu.Lock()
		c.pubCond.Broadcast()
		c.mu.Unlock()
		stopped = true
	})
	return stopped
}

// setReadDeadline sets the socket's read deadline to t, unless the
// connection is stopping or a frame did not fit: then (even if that
// happened between the two steps) the deadline is now, so the reader's
// wake-up is never overwritten. Reader goroutine.
func (c *conn) setReadDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	if c.isStopping() || c.tooLarge.Load() {
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

// ending says how the connection ends.
type ending struct {
	reason     string               // for the log; "" is an ordinary end
	peerClosed bool                 // the peer sent close: answer it
	closeErr   *wire.Error          // send close with this error (and open first if not yet sent)
	header     *wire.ProtocolHeader // send this header, then close the socket
	linger     bool                 // let the peer read what we sent last (a SASL outcome)
}

func (c *conn) fail(cond wire.Symbol, desc string) ending {
	return ending{reason: string(cond) + ": " + desc, closeErr: &wire.Error{Condition: cond, Description: desc}}
}

// serve runs the connection until it ends.
func (c *conn) serve() {
	c.log.Debug().Msg("connection opened")
	go c.writeLoop()
	e := c.run()
	c.finish(e)
}

// finish sends what the ending needs, releases everything the connection
// held, flushes and closes the socket.
func (c *conn) finish(e ending) {
	c.waitPublishes()
	switch {
	case e.peerClosed:
		c.cleanup()
		c.queuePerf(0, &wire.Close{})
	case e.closeErr != nil && c.amqpUp:
		if !c.opened {
			c.queueOpen(false)
		}
		c.queuePerf(0, &wire.Close{Error: e.closeErr})
		c.cleanup()
	case e.header != nil:
		c.queueRaw(e.header.Append(nil))
		c.cleanup()
	default:
		c.cleanup()
	}
	c.closeWriter()
	<-c.wdone
	// Linger after any close we send, our answer to the peer's included:
	// a socket closed with unread input (a peer's late frame) is reset,
	// and the reset can destroy our close before the peer reads it.
	if (e.closeErr != nil && c.amqpUp) || e.peerClosed || e.header != nil || e.linger || c.tooLarge.Load() {
		c.linger()
	}
	c.nc.Close()
	c.mu.Lock()
	if c.slow {
		e.reason = "slow consumer: more than " + strconv.Itoa(c.opts.MaxPendingBytes) + " bytes queued"
	}
	c.mu.Unlock()
	ev := c.log.Debug()
	if e.reason != "" {
		ev = c.log.Info()
	}
	ev.Str("reason", e.reason).Str("container_id", c.containerID).Msg("connection closed")
}

// linger half-closes the socket and reads until the peer answers our
// close with its own or closes the socket, or closeLinger passes: what we
// wrote last is read, not reset. Input that does not parse as frames (a
// read cut off inside one) is discarded. AMQP 1.0 §2.4.3: a peer that
// closes keeps reading until its partner's close, with a timeout.
func (c *conn) linger() {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(closeLinger))
	for c.amqpUp {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var fe *wire.FrameError
			if !errors.As(err, &fe) {
				return
			}
			break
		}
		if p, err := wire.DecodeFrameBody(f); err == nil {
			if _, ok := p.(*wire.Close); ok {
				return
			}
		}
	}
	_, _ = io.Copy(io.Discard, c.br)
}

// run negotiates the protocol headers and SASL, then runs the AMQP
// connection until it ends.
func (c *conn) run() ending {
	c.setReadDeadline(time.Now().Add(c.opts.ConnectTimeout))
	h, err := wire.ReadProtocolHeader(c.br)
	if err != nil {
		return c.headerFailed(err)
	}
	sasl := len(c.opts.SASLMechanisms) > 0
	switch {
	case h == wire.HeaderSASL && sasl:
		c.queueRaw(wire.HeaderSASL.Append(nil))
		if e, ok := c.sasl(); !ok {
			return e
		}
		if h, err = wire.ReadProtocolHeader(c.br); err != nil {
			return c.headerFailed(err)
		}
		if h != wire.HeaderAMQP {
			return ending{reason: "unsupported protocol header " + h.String() + " after SASL", header: &wire.HeaderAMQP}
		}
	case h == wire.HeaderAMQP:
	default:
		return c.badHeader(h)
	}
	c.queueRaw(wire.HeaderAMQP.Append(nil))
	c.amqpUp = true
	return c.amqp()
}

// preferred returns the header the server answers an unsupported one with.
func (c *conn) preferred() *wire.ProtocolHeader {
	if len(c.opts.SASLMechanisms) > 0 {
		return &wire.HeaderSASL
	}
	return &wire.HeaderAMQP
}

// badHeader answers an unsupported protocol header with ours and ends the
// connection. AMQP 1.0 §2.2.
func (c *conn) badHeader(h wire.ProtocolHeader) ending {
	return ending{reason: "unsupported protocol header " + h.String(), header: c.preferred()}
}

func (c *conn) headerFailed(err error) ending {
	var fe *wire.FrameError
	if errors.As(err, &fe) {
		return ending{reason: "not an AMQP protocol header", header: c.preferred()}
	}
	if c.isStopping() {
		return ending{reason: "shutdown before the protocol header"}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ending{reason: "no protocol header in " + c.opts.ConnectTimeout.String()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ending{}
	}
	return ending{reason: err.Error()}
}

// sasl runs the SASL exchange after the SASL headers (AMQP 1.0 §5.3.2):
// mechanisms, init, outcome. Credentials are accepted as they are.
func (c *conn) sasl() (ending, bool) {
	mechs := make([]wire.Symbol, len(c.opts.SASLMechanisms))
	for i, m := range c.opts.SASLMechanisms {
		mechs[i] = wire.Symbol(m)
	}
	c.queuePerf(0, &wire.SASLMechanisms{Mechanisms: mechs})
	f, err := c.fr.ReadFrame()
	if err != nil {
		return c.readFailed(err), false
	}
	p, err := wire.DecodeFrameBody(f)
	init, ok := p.(*wire.SASLInit)
	if err != nil || !ok || f.Type != wire.FrameSASL {
		c.queuePerf(0, &wire.SASLOutcome{Code: wire.SASLSysPerm})
		return ending{reason: "expected sasl-init", linger: true}, false
	}
	offered := false
	for _, m := range mechs {
		offered = offered || m == init.Mechanism
	}
	if !offered {
		c.queuePerf(0, &wire.SASLOutcome{Code: wire.SASLAuth})
		return ending{reason: "SASL mechanism " + strconv.Quote(string(init.Mechanism)) + " is not offered", linger: true}, false
	}
	if init.Mechanism == MechPLAIN {
		// RFC 4616: [authzid] NUL authcid NUL passwd.
		parts := bytes.Split(init.InitialResponse, []byte{0})
		if len(parts) != 3 {
			c.queuePerf(0, &wire.SASLOutcome{Code: wire.SASLAuth})
			return ending{reason: "malformed SASL PLAIN response", linger: true}, false
		}
		c.user = string(parts[1])
	}
	c.queuePerf(0, &wire.SASLOutcome{Code: wire.SASLOK})
	return ending{}, true
}

// readFailed classifies a read error.
func (c *conn) readFailed(err error) ending {
	var fe *wire.FrameError
	switch {
	case c.tooLarge.Load():
		return ending{reason: errTooLarge.Error()}
	case c.isStopping():
		return c.stopEnding()
	case errors.As(err, &fe):
		return c.fail(wire.CondFramingError, fe.Reason)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !c.opened {
			return ending{reason: "no open frame in " + c.opts.ConnectTimeout.String(), closeErr: &wire.Error{Condition: wire.CondResourceLimitExceeded, Description: "no open frame in time"}}
		}
		return c.fail(wire.CondResourceLimitExceeded, condIdleTimeoutLocal)
	case errors.Is(err, io.EOF):
		return ending{reason: "connection closed without a close frame"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ending{reason: "connection closed inside a frame"}
	}
	return ending{reason: err.Error()}
}

// errTooLarge ends the read loop once a frame we had to send did not fit.
var errTooLarge = errors.New("a frame did not fit the peer's max-frame-size")

// readFrame reads the next frame, keeping the idle-time-out deadline.
func (c *conn) readFrame() (wire.Frame, error) {
	if c.tooLarge.Load() {
		return wire.Frame{}, errTooLarge
	}
	if c.opened && c.opts.IdleTimeout > 0 && !c.frameBuffered() && !c.isStopping() {
		// Setting a deadline per frame costs a timer update; a stale one
		// by up to an eighth of the timeout is close enough. A frame
		// that is already buffered is read without waiting: no clock.
		now := time.Now()
		if now.Sub(c.deadline) > c.opts.IdleTimeout/8 {
			c.deadline = now
			c.setReadDeadline(now.Add(c.opts.IdleTimeout))
		}
	}
	return c.fr.ReadFrame()
}

// frameBuffered reports whether the whole next frame is in the read
// buffer, so that reading it does not touch the socket.
func (c *conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < wire.FrameHeaderSize {
		return false
	}
	hdr, _ := c.br.Peek(wire.FrameHeaderSize)
	return int(binary.BigEndian.Uint32(hdr)) <= n
}

// amqp runs the AMQP layer: open, then frames until the connection ends.
func (c *conn) amqp() ending {
	var f wire.Frame
	var err error
	for {
		if f, err = c.fr.ReadFrame(); err != nil {
			return c.readFailed(err)
		}
		if !f.Empty() {
			break
		}
	}
	if f.Type != wire.FrameAMQP {
		return c.fail(wire.CondFramingError, "expected an AMQP frame holding open")
	}
	p, err := wire.DecodeFrameBody(f)
	if err != nil {
		return c.decodeFailed(err)
	}
	open, ok := p.(*wire.Open)
	if !ok {
		return c.fail(wire.CondIllegalState, "the first frame must be open")
	}
	if e, ok := c.onOpen(open); !ok {
		return e
	}
	if c.opts.IdleTimeout > 0 {
		c.deadline = time.Now()
		c.setReadDeadline(c.deadline.Add(c.opts.IdleTimeout))
	} else {
		c.setReadDeadline(time.Time{})
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return c.readFailed(err)
		}
		if e, done := c.handleFrame(f); done {
			return e
		}
	}
}

// decodeFailed answers a frame whose body does not decode.
func (c *conn) decodeFailed(err error) ending {
	var fe *wire.FrameError
	if errors.As(err, &fe) {
		return c.fail(wire.CondFramingError, fe.Reason)
	}
	return c.fail(wire.CondDecodeError, err.Error())
}

// onOpen handles the peer's open and answers with ours. AMQP 1.0 §2.4.1,
// §2.7.1.
func (c *conn) onOpen(o *wire.Open) (ending, bool) {
	c.containerID = o.ContainerID
	if o.ContainerID != "" {
		c.owner = o.ContainerID
	}
	if o.MaxFrameSize < wire.MinMaxFrameSize {
		return c.fail(wire.CondInvalidField, "max-frame-size "+strconv.FormatUint(uint64(o.MaxFrameSize), 10)+" is below 512"), false
	}
	c.peerMaxFrame = o.MaxFrameSize
	sole := false
	for _, d := range o.DesiredCapabilities {
		sole = sole || d == capSoleConnection
	}
	if sole && o.ContainerID != "" {
		if err := c.b.ClaimClientID(o.ContainerID); err != nil {
			e := c.fail(wire.CondInvalidField, err.Error())
			e.closeErr.Info = wire.Map{{Key: infoInvalidField, Value: fieldContainerID}}
			return e, false
		}
		c.claimedID = true
	}
	if o.IdleTimeOut > 0 {
		c.mu.Lock() // the writer reads hbSend under mu
		c.hbSend = max(time.Duration(o.IdleTimeOut)*time.Millisecond/2, 10*time.Millisecond)
		c.mu.Unlock()
	}
	if c.opts.OnPeerClients != nil && c.network() {
		if uris := peerClientURIs(o.Properties); len(uris) > 0 {
			c.opts.OnPeerClients(strings.TrimPrefix(c.containerID, NetworkContainerPrefix), uris)
		}
	}
	c.queueOpen(sole)
	c.opened = true
	c.client.Store(!c.network())
	c.log.Debug().Str("container_id", c.containerID).Str("user", c.user).Uint32("max_frame", o.MaxFrameSize).
		Uint32("peer_idle_ms", o.IdleTimeOut).Msg("opened")
	return ending{}, true
}

// queueOpen queues our open. sole echoes the sole-connection-for-container
// capability the peer asked for.
func (c *conn) queueOpen(sole bool) {
	open := &wire.Open{
		ContainerID:         c.opts.ContainerID,
		MaxFrameSize:        c.opts.MaxFrameSize,
		ChannelMax:          c.opts.ChannelMax,
		OfferedCapabilities: []wire.Symbol{capAnonymousRelay},
		Properties: wire.Map{
			{Key: propProduct, Value: c.opts.ServerName},
			{Key: propQueuePrefix, Value: prefixQueue},
			{Key: propTopicPrefix, Value: prefixTopic},
		},
	}
	if c.opts.Version != "" {
		open.Properties = append(open.Properties, wire.MapEntry{Key: propVersion, Value: c.opts.Version})
	}
	if c.opts.ServerList != nil {
		if list := c.opts.ServerList(); len(list) > 0 {
			open.Properties = append(open.Properties, wire.MapEntry{Key: propFailoverServerList, Value: serverListProperty(list)})
		}
	}
	if c.opts.IdleTimeout > 0 {
		open.IdleTimeOut = uint32(c.opts.IdleTimeout.Milliseconds())
	}
	if sole {
		open.OfferedCapabilities = append(open.OfferedCapabilities, capSoleConnection)
	}
	c.queuePerf(0, open)
	c.opened = true
}

// handleFrame handles one frame after open; done reports the end of the
// connection.
func (c *conn) handleFrame(f wire.Frame) (ending, bool) {
	if f.Type != wire.FrameAMQP {
		return c.fail(wire.CondFramingError, "SASL frame after the SASL exchange"), true
	}
	if f.Empty() {
		return ending{}, false // an empty frame keeps the connection alive, AMQP 1.0 §2.4.5
	}
	var p wire.Performative
	if code, err := wire.PeekDescriptor(f.Body); err == nil && code == wire.DescTransfer {
		// The hot path: a transfer decodes into the reader's own.
		if err := c.xferIn.Unmarshal(f.Body); err != nil {
			return c.decodeFailed(err), true
		}
		p = &c.xferIn
	} else if p, err = wire.DecodeFrameBody(f); err != nil {
		return c.decodeFailed(err), true
	}
	var pe *protoError
	var s *session
	switch p := p.(type) {
	case *wire.Open:
		return c.fail(wire.CondIllegalState, "open received twice"), true
	case *wire.Close:
		e := ending{peerClosed: true}
		if p.Error != nil {
			e.reason = "peer closed with " + p.Error.Error()
		}
		return e, true
	case *wire.Begin:
		pe = c.onBegin(f.Channel, p)
	default:
		s = c.sessions[f.Channel]
		if s == nil {
			return c.fail(wire.CondIllegalState, describe("%s on channel %d, which has no session", performativeName(p), f.Channel)), true
		}
		if s.ending {
			if _, ok := p.(*wire.End); ok {
				c.removeSession(s)
			}
			return ending{}, false // frames after our end are dropped, AMQP 1.0 §2.5.5
		}
		pe = s.handle(p)
	}
	if pe == nil {
		return ending{}, false
	}
	switch pe.scope {
	case scopeLink:
		if l := s.links[pe.handle]; l != nil && !l.closing {
			s.failLink(l, pe.err)
			return ending{}, false
		}
		fallthrough
	case scopeSession:
		if s != nil {
			s.fail(pe.err)
			return ending{}, false
		}
	}
	return ending{reason: pe.Error(), closeErr: pe.err}, true
}

// performativeName names p for error descriptions.
func performativeName(p wire.Performative) string {
	switch p.(type) {
	case *wire.Attach:
		return "attach"
	case *wire.Flow:
		return "flow"
	case *wire.Transfer:
		return "transfer"
	case *wire.Disposition:
		return "disposition"
	case *wire.Detach:
		return "detach"
	case *wire.End:
		return "end"
	}
	return "frame"
}

// cleanup releases what the connection held: links (unsettled deliveries
// are redelivered), transactions (rolled back), dynamic nodes, the claimed
// container ID. It runs on the reader goroutine once reading is over;
// running it twice is harmless.
func (c *conn) cleanup() {
	for _, s := range c.sessions {
		s.endLinks()
	}
	clear(c.sessions)
	for id, t := range c.txns {
		t.tx.Abort()
		delete(c.txns, id)
	}
	for d := range c.temps {
		c.b.DeleteTemp(d)
		delete(c.temps, d)
	}
	if c.claimedID {
		c.b.ReleaseClientID(c.containerID)
		c.claimedID = false
	}
}

// createTemp creates a dynamic node (AMQP 1.0 §3.5.3 dynamic) as a
// temporary queue or topic owned by this connection.
func (c *conn) createTemp(kind backend.Kind) (backend.Destination, error) {
	c.tempSeq++
	d := backend.Destination{Kind: kind, Name: c.tempPrefix + strconv.FormatUint(c.tempSeq, 10)}
	if err := c.b.CreateTemp(d, c.owner); err != nil {
		return d, err
	}
	c.temps[d] = struct{}{}
	return d, nil
}

// deleteTemp deletes a dynamic node this connection created.
func (c *conn) deleteTemp(d backend.Destination) {
	if _, ok := c.temps[d]; ok {
		delete(c.temps, d)
		c.b.DeleteTemp(d)
	}
}
