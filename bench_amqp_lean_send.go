package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// amqpLeanSender is a producer over the lean AMQP client. The sending
// goroutine encodes transfers into the connection's write buffer within
// the broker's link credit and session window (and, for unsettled sends,
// the window of unconfirmed transfers) and flushes when it has to wait or
// the buffer fills. A reader goroutine applies the broker's flows and
// dispositions and wakes the sender.
type amqpLeanSender struct {
	c      *amqpLeanConn
	window int64 // unsettled transfers allowed; 0: pre-settled sends

	// Owned by the sending goroutine.
	msg          amqpBenchTemplate
	xfer         wire.Transfer
	deliveryID   uint32 // also the link's delivery-count: both start at 0
	id           uint32 // the delivery-id of the transfer being encoded
	format       uint32
	tag          [4]byte
	nextOutgoing uint32 // session transfer-id of the next frame
	sendMax      int    // largest frame sent
	framesPerMsg uint32 // session window one message needs
	sent         int64

	// Written by the reader goroutine, read by the sender.
	creditLimit atomic.Uint32 // the delivery-count up to which the broker gave credit
	sessLimit   atomic.Uint32 // the transfer-id up to which the broker's session window reaches
	settled     atomic.Int64  // transfers the broker settled
	detached    atomic.Bool   // the broker answered our detach
	wake        chan struct{} // a token after each change
	readDone    chan struct{} // closed when the reader exits
	readErr     error         // why; read after readDone

	errMu     sync.Mutex
	err       error // the first rejected transfer
	failed    atomic.Bool
	closing   atomic.Bool
	closeOnce sync.Once
}

// amqpBenchTemplate is one producer's encoded message, of which only the
// bench-seq and bench-ts application properties change: they are encoded
// as 8-byte longs and patched in place.
type amqpBenchTemplate struct {
	b             []byte
	seqOff, tsOff int // offsets of the 8 value bytes
}

// newAMQPBenchTemplate encodes the bench message of producer with wire: a
// header (durable) when persistent, the application properties bench-p,
// bench-seq and bench-ts, and body as one data section. AMQP 1.0 §3.2.
func newAMQPBenchTemplate(body []byte, persistent bool, producer int) (amqpBenchTemplate, error) {
	// Values above 255 take the fixed 8-byte long encoding (0x81), so the
	// placeholders reserve room for any sequence number and time stamp.
	const placeholder = int64(math.MaxInt64)
	m := wire.Message{
		ApplicationProperties: wire.Map{
			{Key: amqpPropProducer, Value: int64(producer)},
			{Key: amqpPropSeq, Value: placeholder},
			{Key: amqpPropTS, Value: placeholder},
		},
		Data: [][]byte{body},
	}
	if persistent {
		m.Header = &wire.Header{Durable: true, Priority: wire.DefaultPriority}
	}
	b, err := m.Marshal(nil)
	if err != nil {
		return amqpBenchTemplate{}, err
	}
	t := amqpBenchTemplate{b: b, seqOff: -1, tsOff: -1}
	for off := 0; off < len(b); {
		sp, err := wire.NextSection(b, off)
		if err != nil {
			return t, err
		}
		if sp.Descriptor == wire.DescApplicationProperties {
			section := b[sp.Value:sp.End]
			err = wire.ScanMap(section, func(k, v []byte) bool {
				name, _ := amqpLeanString(k)
				// Keys are unique, so the key and value encodings occur
				// once; the value bytes follow the 0x81 constructor.
				at := sp.Value + bytes.Index(section, append(append([]byte(nil), k...), v...)) + len(k) + 1
				if v[0] == 0x81 {
					switch string(name) {
					case amqpPropSeq:
						t.seqOff = at
					case amqpPropTS:
						t.tsOff = at
					}
				}
				return true
			})
			if err != nil {
				return t, err
			}
		}
		off = sp.End
	}
	if t.seqOff < 0 || t.tsOff < 0 {
		return t, errors.New("bench message template: bench-seq or bench-ts not found")
	}
	return t, nil
}

// stamp writes seq and ts into the template.
func (t *amqpBenchTemplate) stamp(seq, ts int64) {
	binary.BigEndian.PutUint64(t.b[t.seqOff:], uint64(seq))
	binary.BigEndian.PutUint64(t.b[t.tsOff:], uint64(ts))
}

// newAMQPLeanSender connects one producer, attaches its sending link to
// dest (in the broker's address form) and starts its reader goroutine.
func newAMQPLeanSender(ctx context.Context, cfg benchConfig, dest string, body []byte, index int) (*amqpLeanSender, error) {
	msg, err := newAMQPBenchTemplate(body, cfg.persistent, index)
	if err != nil {
		return nil, err
	}
	c, err := dialAMQPLean(ctx, cfg.target)
	if err != nil {
		return nil, err
	}
	s := &amqpLeanSender{
		c: c, window: int64(cfg.receiptEvery), msg: msg,
		wake: make(chan struct{}, 1), readDone: make(chan struct{}),
	}
	s.sendMax = int(min(c.peerMaxFrame, amqpLeanWriteBuf))
	// A frame carries at least sendMax-64 payload bytes after its header
	// and transfer performative.
	s.framesPerMsg = uint32(len(msg.b)/(s.sendMax-64) + 1)
	s.sessLimit.Store(c.peerInWindow) // our first transfer-id is 0
	mode := wire.SndUnsettled
	if s.window == 0 {
		mode = wire.SndSettled
	}
	zero := uint32(0)
	addr := amqpBrokerAddress(dest, c.peerProps)
	if _, err := c.attach(&wire.Attach{
		Name:                 fmt.Sprintf("bench-producer-%d", index),
		Handle:               amqpLeanHandle,
		Role:                 wire.RoleSender,
		SndSettleMode:        mode,
		RcvSettleMode:        wire.RcvFirst,
		Source:               &wire.Source{Address: fmt.Sprintf("bench-producer-%d", index)},
		Target:               &wire.Target{Address: addr},
		InitialDeliveryCount: &zero,
	}); err != nil {
		c.close()
		return nil, fmt.Errorf("attach sender to %s: %w", addr, err)
	}
	go s.readLoop()
	return s, nil
}

// readLoop applies the broker's frames until the connection ends.
func (s *amqpLeanSender) readLoop() {
	defer close(s.readDone)
	for {
		typ, ch, body, err := s.c.readFrame()
		if err != nil {
			if !s.closing.Load() {
				s.readErr = err
			}
			return
		}
		if len(body) == 0 {
			continue
		}
		p, err := wire.DecodeFrameBody(wire.Frame{Type: typ, Channel: ch, Body: body})
		if err != nil {
			s.readErr = err
			return
		}
		switch p := p.(type) {
		case *wire.Flow:
			s.onFlow(p)
		case *wire.Disposition:
			if p.Role != wire.RoleReceiver {
				break
			}
			last := p.First
			if p.Last != nil {
				last = *p.Last
			}
			// Settled without an outcome takes the default outcome,
			// accepted for every broker this bench targets.
			if _, ok := p.State.(*wire.Accepted); !ok && p.State != nil {
				s.fail(fmt.Errorf("broker did not accept a message: %s", describeState(p.State)))
			}
			if p.Settled {
				s.settled.Add(int64(last-p.First) + 1)
			}
		case *wire.Detach:
			if p.Error != nil {
				s.readErr = &amqpLeanError{what: "detach", err: p.Error}
				return
			}
			s.detached.Store(true)
		case *wire.End:
			s.readErr = &amqpLeanError{what: "end", err: p.Error}
			return
		case *wire.Close:
			if p.Error != nil || !s.closing.Load() {
				s.readErr = &amqpLeanError{what: "close", err: p.Error}
			}
			return
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// onFlow applies a flow: the session window and, for our link, the credit.
// AMQP 1.0 §2.5.6, §2.6.7.
func (s *amqpLeanSender) onFlow(f *wire.Flow) {
	var next uint32 // our initial next-outgoing-id when the peer saw no begin
	if f.NextIncomingID != nil {
		next = *f.NextIncomingID
	}
	s.sessLimit.Store(next + f.IncomingWindow)
	if f.Handle != nil && *f.Handle == amqpLeanHandle && f.LinkCredit != nil {
		var dc uint32
		if f.DeliveryCount != nil {
			dc = *f.DeliveryCount
		}
		s.creditLimit.Store(dc + *f.LinkCredit)
	}
}

// describeState names a delivery state for an error.
func describeState(st wire.DeliveryState) string {
	switch st := st.(type) {
	case *wire.Rejected:
		if st.Error != nil {
			return "rejected: " + st.Error.Error()
		}
		return "rejected"
	case *wire.Released:
		return "released"
	case *wire.Modified:
		return "modified"
	}
	return fmt.Sprintf("%T", st)
}

func (s *amqpLeanSender) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.failed.Store(true)
}

func (s *amqpLeanSender) firstErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// ready reports whether one more message may go now.
func (s *amqpLeanSender) ready() bool {
	return int32(s.creditLimit.Load()-s.deliveryID) > 0 &&
		int32(s.sessLimit.Load()-s.nextOutgoing) >= int32(s.framesPerMsg) &&
		(s.window == 0 || s.sent-s.settled.Load() < s.window)
}

// waitUntil flushes and waits until cond holds, the reader fails or a
// transfer is rejected.
func (s *amqpLeanSender) waitUntil(cond func() bool) error {
	if err := s.c.flush(); err != nil {
		return s.writeErr(err)
	}
	for {
		if s.failed.Load() {
			return s.firstErr()
		}
		if cond() {
			return nil
		}
		select {
		case <-s.wake:
		case <-s.readDone:
			if s.failed.Load() {
				return s.firstErr()
			}
			if cond() {
				return nil
			}
			if s.readErr != nil {
				return s.readErr
			}
			return errors.New("connection closed")
		}
	}
}

// writeErr prefers the broker's reason (a close or detach) over the broken
// pipe it caused.
func (s *amqpLeanSender) writeErr(err error) error {
	select {
	case <-s.readDone:
		if s.readErr != nil && !errors.Is(s.readErr, net.ErrClosed) {
			return s.readErr
		}
	case <-time.After(100 * time.Millisecond):
	}
	return err
}

// send buffers message seq, stamped ts, as one delivery (several transfer
// frames when it exceeds a frame). receipt is ignored: the window of
// unsettled transfers replaces STOMP's periodic receipts.
func (s *amqpLeanSender) send(seq, ts int64, _ bool) error {
	if s.failed.Load() {
		return s.firstErr()
	}
	if !s.ready() {
		if err := s.waitUntil(s.ready); err != nil {
			return err
		}
	}
	s.msg.stamp(seq, ts)
	c := s.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	s.id = s.deliveryID
	binary.BigEndian.PutUint32(s.tag[:], s.id)
	s.xfer = wire.Transfer{
		Handle:        amqpLeanHandle,
		DeliveryID:    &s.id,
		DeliveryTag:   s.tag[:],
		MessageFormat: &s.format,
		Settled:       s.window == 0,
	}
	payload := s.msg.b
	for first := true; first || len(payload) > 0; first = false {
		if c.w.Available() < min(s.sendMax, len(payload)+128) {
			if err := c.flushLocked(); err != nil {
				return s.writeErr(err)
			}
		}
		b := c.w.AvailableBuffer()
		var n int
		b, n = amqpLeanTransfer(b, &s.xfer, payload, s.sendMax)
		payload = payload[n:]
		s.nextOutgoing++
		if _, err := c.w.Write(b); err != nil {
			return s.writeErr(err)
		}
		s.xfer = wire.Transfer{Handle: amqpLeanHandle, Settled: s.window == 0}
	}
	s.deliveryID++
	s.sent++
	return nil
}

// amqpLeanTransfer appends one transfer frame on channel 0 carrying as
// much of payload as fits in maxFrame, setting more when some is left, and
// returns how much it carried. AMQP 1.0 §2.7.5.
func amqpLeanTransfer(b []byte, t *wire.Transfer, payload []byte, maxFrame int) ([]byte, int) {
	start := len(b)
	for {
		b = append(b[:start], 0, 0, 0, 0, 2, byte(wire.FrameAMQP), 0, 0)
		b, _ = t.Marshal(b) // a transfer of these fields always encodes
		n := min(maxFrame-(len(b)-start), len(payload))
		if n < len(payload) && !t.More {
			t.More = true // re-encode: the flag takes a byte
			continue
		}
		b = append(b, payload[:n]...)
		binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
		return b, n
	}
}

func (s *amqpLeanSender) pause() error {
	if err := s.c.flush(); err != nil {
		return s.writeErr(err)
	}
	return nil
}

// finish waits until the broker settled every unsettled transfer, then
// detaches the link (the broker answers after handling the transfers
// before it) and closes the connection.
func (s *amqpLeanSender) finish() error {
	if s.window > 0 {
		if err := s.waitUntil(func() bool { return s.settled.Load() >= s.sent }); err != nil {
			return err
		}
	}
	if err := s.c.writeFrame(0, &wire.Detach{Handle: amqpLeanHandle, Closed: true}); err != nil {
		return s.writeErr(err)
	}
	if err := s.waitUntil(s.detached.Load); err != nil {
		return err
	}
	s.closing.Store(true)
	if err := s.c.sendClose(); err == nil {
		select { // let the broker answer rather than read a reset
		case <-s.readDone:
		case <-time.After(2 * time.Second):
		}
	}
	s.close()
	return nil
}

func (s *amqpLeanSender) close() {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.c.close()
	})
}
