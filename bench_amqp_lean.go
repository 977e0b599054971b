package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// The lean AMQP 1.0 client of `mqgate bench --protocol amqp` (the default
// --amqp-client), the AMQP counterpart of bench_lean.go: it exists so that
// the client is not what a benchmark measures. go-amqp passes every
// message through several goroutines and allocates per message; this
// client encodes transfers straight into a buffered writer from a
// pre-encoded message template (only the sequence number and time stamp
// change), flushes once per burst, pipelines unsettled transfers within a
// window, reads frames in place from its read buffer and acknowledges in
// ranges. Encoding and decoding go through protocols/amqp/wire.
//
// One connection has one session (channel 0) and one link (handle 0). It
// is a benchmark client for trusted brokers, not a general AMQP library,
// though it checks the sizes the peer declares before reading.

const (
	amqpLeanReadBuf  = 256 << 10
	amqpLeanWriteBuf = 64 << 10
	// amqpLeanMaxFrame is the max-frame-size the client announces: every
	// frame the peer sends fits in the read buffer and is parsed in place.
	amqpLeanMaxFrame = 64 << 10
	// amqpLeanWindow is the session incoming-window (in transfer frames)
	// the client grants; it is renewed when half is used.
	amqpLeanWindow = 1 << 16
	// amqpLeanHandle is the handle of the connection's one link.
	amqpLeanHandle = 0
	// amqpLeanTimeout bounds the handshake and the attach.
	amqpLeanTimeout = 30 * time.Second
)

// Address prefixes of the AMQP bench destinations. mqgate (like ActiveMQ)
// announces its prefixes in its open's queue-prefix and topic-prefix
// properties; a broker that announces none gets RabbitMQ 3.x's /queue/ and
// /topic/ forms (which mqgate accepts too).
const (
	propQueuePrefix = wire.Symbol("queue-prefix")
	propTopicPrefix = wire.Symbol("topic-prefix")
)

// amqpBrokerAddress maps a bench address in mqgate's form (queue://x,
// topic://x, from amqpAddress) to the form the broker announced in the
// properties of its open: its own queue-prefix and topic-prefix when it
// sends them (mqgate, ActiveMQ), else /queue/x and /topic/x (RabbitMQ 3.x).
func amqpBrokerAddress(addr string, props map[string]any) string {
	for _, k := range [...]struct {
		uri, path string
		prop      wire.Symbol
	}{{"queue://", "/queue/", propQueuePrefix}, {"topic://", "/topic/", propTopicPrefix}} {
		name, ok := strings.CutPrefix(addr, k.uri)
		if !ok {
			continue
		}
		if p, ok := props[string(k.prop)].(string); ok && p != "" {
			return p + name
		}
		return k.path + name
	}
	return addr
}

// mapProps turns a decoded properties map into a string-keyed one (symbol
// and string keys only).
func mapProps(m wire.Map) map[string]any {
	props := make(map[string]any, len(m))
	for _, e := range m {
		switch k := e.Key.(type) {
		case wire.Symbol:
			props[string(k)] = e.Value
		case string:
			props[k] = e.Value
		}
	}
	return props
}

// amqpLeanConn is one AMQP connection with one session. The reading side
// (readFrame and what it returns) belongs to one goroutine; writes go
// through writeFrame and flush under wmu, from any goroutine.
type amqpLeanConn struct {
	nc net.Conn
	r  *bufio.Reader

	wmu       sync.Mutex
	w         *bufio.Writer // guarded by wmu
	enc       []byte        // guarded by wmu: encoding scratch
	lastWrite atomic.Int64  // unix nanos of the last flush, for heart-beats

	peerMaxFrame   uint32         // the largest frame the peer takes
	peerProps      map[string]any // the peer's open properties
	peerNextOutID  uint32         // the peer's next-outgoing-id from its begin
	peerInWindow   uint32         // the peer's incoming-window from its begin
	heartbeatEvery time.Duration  // half the peer's idle-time-out; 0: none
	hbStop         chan struct{}
	closeSent      atomic.Bool // our close frame went out
	closeOnce      sync.Once
}

// amqpLeanError is a close, end or detach carrying an error from the peer.
type amqpLeanError struct {
	what string // "close", "end", "detach"
	err  *wire.Error
}

func (e *amqpLeanError) Error() string {
	if e.err == nil {
		return "broker sent " + e.what
	}
	return "broker sent " + e.what + ": " + e.err.Error()
}

// dialAMQPLean connects, runs SASL (ANONYMOUS, or PLAIN with the target's
// login), opens the connection and begins one session.
func dialAMQPLean(ctx context.Context, t stompTarget) (*amqpLeanConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &amqpLeanConn{
		nc:     nc,
		r:      newAMQPLeanReader(nc),
		w:      bufio.NewWriterSize(nc, amqpLeanWriteBuf),
		hbStop: make(chan struct{}),
	}
	nc.SetDeadline(time.Now().Add(amqpLeanTimeout))
	if err := c.handshake(t); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	nc.SetDeadline(time.Time{})
	if c.heartbeatEvery > 0 {
		go c.heartbeats()
	}
	return c, nil
}

// newAMQPLeanReader returns the connection's read buffer: every frame up
// to amqpLeanMaxFrame fits, so frames are parsed in place.
func newAMQPLeanReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, amqpLeanReadBuf) }

// handshake runs the protocol headers, SASL, open and begin. AMQP 1.0
// §2.2, §5.3, §2.4.1, §2.5.1.
func (c *amqpLeanConn) handshake(t stompTarget) error {
	if err := c.exchangeHeader(wire.HeaderSASL); err != nil {
		return err
	}
	p, err := c.readPerformative()
	if err != nil {
		return fmt.Errorf("sasl: %w", err)
	}
	mechs, ok := p.(*wire.SASLMechanisms)
	if !ok {
		return fmt.Errorf("sasl: expected sasl-mechanisms, got %T", p)
	}
	init := &wire.SASLInit{Mechanism: "ANONYMOUS", InitialResponse: []byte{}}
	anonymous := false
	for _, m := range mechs.Mechanisms {
		anonymous = anonymous || m == "ANONYMOUS"
	}
	if t.Login != "" || !anonymous {
		user, pass := t.Login, t.Passcode
		if user == "" {
			user, pass = "guest", "guest" // RabbitMQ's default user
		}
		init = &wire.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00" + user + "\x00" + pass)}
	}
	if err := c.writeFlush(0, init); err != nil {
		return err
	}
	if p, err = c.readPerformative(); err != nil {
		return fmt.Errorf("sasl: %w", err)
	}
	outcome, ok := p.(*wire.SASLOutcome)
	switch {
	case !ok:
		return fmt.Errorf("sasl: expected sasl-outcome, got %T", p)
	case outcome.Code != wire.SASLOK:
		return fmt.Errorf("sasl %s: authentication failed (code %d)", init.Mechanism, outcome.Code)
	}
	if err := c.exchangeHeader(wire.HeaderAMQP); err != nil {
		return err
	}
	var id [8]byte
	rand.Read(id[:])
	if err := c.writeFlush(0, &wire.Open{
		ContainerID:  "mqgate-bench-" + hex.EncodeToString(id[:]),
		MaxFrameSize: amqpLeanMaxFrame,
		ChannelMax:   0,
	}); err != nil {
		return err
	}
	if p, err = c.readPerformative(); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	open, ok := p.(*wire.Open)
	if !ok {
		return fmt.Errorf("open: expected open, got %T", p)
	}
	c.peerMaxFrame = max(open.MaxFrameSize, wire.MinMaxFrameSize)
	c.peerProps = mapProps(open.Properties)
	if open.IdleTimeOut > 0 {
		c.heartbeatEvery = max(time.Duration(open.IdleTimeOut)*time.Millisecond/2, 10*time.Millisecond)
	}
	if err := c.writeFlush(0, &wire.Begin{
		NextOutgoingID: 0,
		IncomingWindow: amqpLeanWindow,
		OutgoingWindow: math.MaxUint32,
		HandleMax:      amqpLeanHandle,
	}); err != nil {
		return err
	}
	if p, err = c.readPerformative(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	begin, ok := p.(*wire.Begin)
	switch {
	case !ok:
		return fmt.Errorf("begin: expected begin, got %T", p)
	case begin.RemoteChannel == nil || *begin.RemoteChannel != 0:
		return errors.New("begin: the broker's begin does not answer channel 0")
	}
	c.peerNextOutID, c.peerInWindow = begin.NextOutgoingID, begin.IncomingWindow
	return nil
}

// exchangeHeader sends protocol header h and reads the peer's, which must
// be the same.
func (c *amqpLeanConn) exchangeHeader(h wire.ProtocolHeader) error {
	c.wmu.Lock()
	c.w.Write(h.Append(nil))
	err := c.w.Flush()
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	got, err := wire.ReadProtocolHeader(c.r)
	if err != nil {
		return fmt.Errorf("protocol header: %w", err)
	}
	if got != h {
		return fmt.Errorf("sent protocol header %s, the broker answered %s", h, got)
	}
	return nil
}

// readPerformative reads the next non-empty frame and decodes it (for the
// handshake and attach; the hot paths decode transfers themselves). A
// close or end carrying an error is returned as an *amqpLeanError.
func (c *amqpLeanConn) readPerformative() (wire.Performative, error) {
	for {
		typ, ch, body, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if len(body) == 0 {
			continue
		}
		p, err := wire.DecodeFrameBody(wire.Frame{Type: typ, Channel: ch, Body: body})
		if err != nil {
			return nil, err
		}
		switch p := p.(type) {
		case *wire.Close:
			return nil, &amqpLeanError{what: "close", err: p.Error}
		case *wire.End:
			return nil, &amqpLeanError{what: "end", err: p.Error}
		}
		return p, nil
	}
}

// readFrame reads the next frame and returns its body, which aliases the
// read buffer: it is valid until the next read. An empty body is a
// heart-beat. AMQP 1.0 §2.3.1.
func (c *amqpLeanConn) readFrame() (wire.FrameType, uint16, []byte, error) {
	hdr, err := c.r.Peek(wire.FrameHeaderSize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr)
	doff := uint32(hdr[4]) * 4
	typ, ch := wire.FrameType(hdr[5]), binary.BigEndian.Uint16(hdr[6:])
	if size < wire.FrameHeaderSize || size > amqpLeanMaxFrame || doff < wire.FrameHeaderSize || doff > size {
		return 0, 0, nil, fmt.Errorf("malformed frame header (size %d, data offset %d)", size, doff)
	}
	b, err := c.r.Peek(int(size))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, err
	}
	c.r.Discard(int(size))
	return typ, ch, b[doff:size:size], nil
}

// appendFrameLocked appends a frame holding p on channel ch to the write
// buffer. c.wmu must be held.
func (c *amqpLeanConn) appendFrameLocked(ch uint16, p wire.Performative) error {
	b, err := wire.AppendPerformative(c.enc[:0], ch, p)
	if err != nil {
		return err
	}
	c.enc = b
	_, err = c.w.Write(b)
	return err
}

// writeFrame buffers one frame.
func (c *amqpLeanConn) writeFrame(ch uint16, p wire.Performative) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.appendFrameLocked(ch, p)
}

// writeFlush buffers one frame and flushes.
func (c *amqpLeanConn) writeFlush(ch uint16, p wire.Performative) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.appendFrameLocked(ch, p); err != nil {
		return err
	}
	return c.flushLocked()
}

// flushLocked writes out the buffer. c.wmu must be held.
func (c *amqpLeanConn) flushLocked() error {
	if c.w.Buffered() == 0 {
		return nil
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return c.w.Flush()
}

// flush writes out the buffered frames.
func (c *amqpLeanConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// heartbeats sends an empty frame when nothing was written for half the
// peer's idle-time-out (AMQP 1.0 §2.4.5), until the connection closes.
func (c *amqpLeanConn) heartbeats() {
	t := time.NewTicker(c.heartbeatEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-c.hbStop:
			return
		case now := <-t.C:
			if now.UnixNano()-c.lastWrite.Load() < int64(c.heartbeatEvery) {
				continue
			}
			c.wmu.Lock()
			if c.closeSent.Load() { // nothing follows our close
				c.wmu.Unlock()
				return
			}
			c.w.Write([]byte{0, 0, 0, 8, 2, 0, 0, 0})
			err := c.flushLocked()
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// attach sends an attach for the connection's link and waits for the
// broker's, which must carry a terminus on its side: a broker that refuses
// the link answers with none and then detaches with the reason. AMQP 1.0
// §2.6.3.
func (c *amqpLeanConn) attach(a *wire.Attach) (*wire.Attach, error) {
	if err := c.writeFlush(0, a); err != nil {
		return nil, err
	}
	c.nc.SetReadDeadline(time.Now().Add(amqpLeanTimeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		p, err := c.readPerformative()
		if err != nil {
			return nil, err
		}
		switch p := p.(type) {
		case *wire.Attach:
			if (a.Role == wire.RoleSender && p.Target != nil) || (a.Role == wire.RoleReceiver && p.Source != nil) {
				return p, nil
			}
		case *wire.Detach:
			return nil, &amqpLeanError{what: "detach", err: p.Error}
		}
	}
}

// sendClose sends our close frame (AMQP 1.0 §2.4.3), once.
func (c *amqpLeanConn) sendClose() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Swap(true) {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if err := c.appendFrameLocked(0, &wire.Close{}); err != nil {
		return err
	}
	return c.flushLocked()
}

// close sends close, unless it went already, and closes the socket
// without waiting for the broker's (best effort). Safe from any
// goroutine, more than once.
func (c *amqpLeanConn) close() {
	c.closeOnce.Do(func() {
		close(c.hbStop)
		c.sendClose()
		c.nc.Close()
	})
}

// amqpLeanInt reads an AMQP integer of any width from its encoding
// (constructor included). AMQP 1.0 §1.6.
func amqpLeanInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	v := b[1:]
	switch b[0] {
	case 0x43, 0x44: // uint0, ulong0
		return 0, true
	case 0x50, 0x52, 0x53: // ubyte, smalluint, smallulong
		if len(v) >= 1 {
			return int64(v[0]), true
		}
	case 0x51, 0x54, 0x55: // byte, smallint, smalllong
		if len(v) >= 1 {
			return int64(int8(v[0])), true
		}
	case 0x60: // ushort
		if len(v) >= 2 {
			return int64(binary.BigEndian.Uint16(v)), true
		}
	case 0x61: // short
		if len(v) >= 2 {
			return int64(int16(binary.BigEndian.Uint16(v))), true
		}
	case 0x70: // uint
		if len(v) >= 4 {
			return int64(binary.BigEndian.Uint32(v)), true
		}
	case 0x71: // int
		if len(v) >= 4 {
			return int64(int32(binary.BigEndian.Uint32(v))), true
		}
	case 0x80, 0x81: // ulong, long
		if len(v) >= 8 {
			return int64(binary.BigEndian.Uint64(v)), true
		}
	}
	return 0, false
}

// amqpLeanString returns the bytes of an encoded string or symbol.
func amqpLeanString(b []byte) ([]byte, bool) {
	if len(b) < 2 {
		return nil, false
	}
	switch b[0] {
	case 0xa1, 0xa3: // str8, sym8
		return b[2:], true
	case 0xb1, 0xb3: // str32, sym32
		if len(b) >= 5 {
			return b[5:], true
		}
	}
	return nil, false
}

// amqpBenchFields returns the bench-p, bench-seq and bench-ts application
// properties of an encoded message (-1 for each that is absent or not an
// integer), stepping over the sections before them without decoding.
func amqpBenchFields(payload []byte) (p, seq, ts int64) {
	p, seq, ts = -1, -1, -1
	for off := 0; off < len(payload); {
		sp, err := wire.NextSection(payload, off)
		if err != nil {
			return
		}
		switch sp.Descriptor {
		case wire.DescApplicationProperties:
			wire.ScanMap(payload[sp.Value:sp.End], func(k, v []byte) bool {
				name, ok := amqpLeanString(k)
				if !ok {
					return true
				}
				var dst *int64
				switch string(name) {
				case amqpPropProducer:
					dst = &p
				case amqpPropSeq:
					dst = &seq
				case amqpPropTS:
					dst = &ts
				default:
					return true
				}
				if n, ok := amqpLeanInt(v); ok && n >= 0 && *dst < 0 {
					*dst = n
				}
				return true
			})
			return
		case wire.DescData, wire.DescAMQPSequence, wire.DescAMQPValue, wire.DescFooter:
			return // the bare message's body: no application-properties after it
		}
		off = sp.End
	}
	return
}
