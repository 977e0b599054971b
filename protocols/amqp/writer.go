package amqp

import (
	"math"
	"slices"
	"time"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// emptyFrame is an AMQP frame with no body: a heartbeat. AMQP 1.0 §2.4.5.
var emptyFrame = []byte{0, 0, 0, 8, 2, 0, 0, 0}

// outKind is the kind of an outItem.
type outKind uint8

const (
	// outFrames: frames encoded when queued, ctl[start:end].
	outFrames outKind = iota
	// outDelivery: a delivery the writer encodes and sends as transfers.
	outDelivery
	// outFlow: a flow whose session fields are filled when it is written.
	outFlow
)

// outItem is one entry of the connection's outbound queue, which the writer
// drains in order. Queued under c.mu; held items (waiting for the peer's
// session window) are guarded by c.wmu.
type outItem struct {
	kind       outKind
	start, end int // outFrames: in c.ctl; outDelivery: the encoding in the writer's arena
	s          *session
	o          *outbound // outDelivery, and outFlow of a link we send on
	d          backend.Delivery

	// outFlow link fields (link false: a session flow).
	link                  bool
	handle, count, credit uint32
	drain                 bool

	// A delivery whose first frames are out (or which waits for the
	// window): its encoding, how much of it went, its delivery-id.
	payload []byte
	off     int
	started bool
	id      uint32
}

// Slow consumers: a connection whose outbound queue stays over
// MaxPendingBytes for slowGrace, or passes slowHardFactor times it, is cut
// off. A burst (a receiver's credit filled at once) that the peer reads in
// time is not slow.
const (
	slowGrace      = 3 * time.Second
	slowHardFactor = 16
)

// deliverySize estimates the bytes a delivery's transfers take.
func deliverySize(d backend.Delivery) int { return len(d.Msg.Body) + 256 }

// queuePerf queues one performative frame on channel ch for the writer.
func (c *conn) queuePerf(ch uint16, p wire.Performative) {
	c.mu.Lock()
	c.appendPerfLocked(ch, p)
	c.mu.Unlock()
	c.signal()
}

// queueRaw queues bytes (a protocol header) for the writer.
func (c *conn) queueRaw(b []byte) {
	c.mu.Lock()
	if !c.wclosed {
		c.flushAcksLocked()
		start := len(c.ctl)
		c.ctl = append(c.ctl, b...)
		c.pushFramesLocked(start)
	}
	c.mu.Unlock()
	c.signal()
}

// pushFramesLocked queues ctl[start:] as frames, joining the previous item
// when it holds the frames just before. c.mu must be held.
func (c *conn) pushFramesLocked(start int) {
	c.outBytes += len(c.ctl) - start
	if n := len(c.out); n > 0 && c.out[n-1].kind == outFrames && c.out[n-1].end == start {
		c.out[n-1].end = len(c.ctl)
		return
	}
	c.out = append(c.out, outItem{kind: outFrames, start: start, end: len(c.ctl)})
}

// appendPerfLocked encodes p as a frame on channel ch and queues it. A
// performative larger than the peer's max-frame-size is not sent: the
// connection is closed with amqp:frame-size-too-small instead (AMQP 1.0
// §2.8.15). c.mu must be held.
func (c *conn) appendPerfLocked(ch uint16, p wire.Performative) {
	if c.wclosed {
		return
	}
	if len(c.acksDue) > 0 {
		c.flushAcksLocked() // outcomes known before p go first
	}
	start := len(c.ctl)
	buf, err := wire.AppendPerformative(c.ctl, ch, p)
	if err != nil {
		c.log.Error().Err(err).Msg("encoding a performative failed")
		c.ctl = buf[:start]
		return
	}
	c.ctl = buf
	if size := len(buf) - start; c.opened && size > int(c.peerMaxFrame) {
		c.ctl, _ = wire.AppendPerformative(buf[:start], 0, &wire.Close{Error: wire.Errorf(wire.CondFrameSizeTooSmall,
			"a %d-byte %s frame does not fit max-frame-size %d", size, performativeName(p), c.peerMaxFrame)})
		c.tooLarge.Store(true)
		c.pushFramesLocked(start)
		c.wclosed = true
		_ = c.nc.SetReadDeadline(time.Now()) // wake the reader to end the connection
		return
	}
	c.pushFramesLocked(start)
}

// queueFlowLocked queues a flow of s; its session fields are filled when
// it is written. c.mu must be held.
func (c *conn) queueFlowLocked(it outItem) {
	if c.wclosed {
		return
	}
	if len(c.acksDue) > 0 {
		c.flushAcksLocked()
	}
	it.kind = outFlow
	c.out = append(c.out, it)
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeWriter lets the writer flush what is queued and stop.
func (c *conn) closeWriter() {
	c.mu.Lock()
	c.wclosed = true
	c.mu.Unlock()
	c.signal()
}

// overCapLocked reports whether the outbound queue, which held before bytes
// before the last item, makes this connection a slow consumer now. One
// item larger than the cap alone does not. c.mu must be held.
func (c *conn) overCapLocked(before int) bool {
	max := c.opts.MaxPendingBytes
	queued := c.outBytes + int(c.heldBytes.Load())
	if c.slow || before == 0 || queued <= max {
		return false
	}
	now := time.Now()
	if c.overSince.IsZero() {
		c.overSince = now
	}
	if queued > slowHardFactor*max || now.Sub(c.overSince) > slowGrace {
		c.slow = true
		return true
	}
	return false
}

// slowConsumer cuts a connection whose outbound queue passed the cap; its
// unsettled deliveries go back to their queues when its links close.
func (c *conn) slowConsumer() {
	c.log.Warn().Int("max_pending_bytes", c.opts.MaxPendingBytes).Msg("slow consumer: closing the connection")
	go c.nc.Close()
}

// writeLoop drains the outbound queue: it encodes the deliveries (no lock
// held), then, under c.wmu, turns them into transfer frames within the
// peer's session windows, assigning delivery-ids, and writes everything in
// one write per wake-up. It sends an empty frame when nothing was written
// for half the peer's idle-time-out.
func (c *conn) writeLoop() {
	defer close(c.wdone)
	var items, spare []outItem
	var ctl []byte
	var ctlSpare, arenaSpare, bufSpare scratch
	var hb *time.Timer
	var hbC <-chan time.Time
	var hbEvery time.Duration
	for {
		select {
		case <-c.wake:
		case <-hbC:
		}
		c.mu.Lock()
		c.flushAcksLocked()
		items, c.out = c.out, spare[:0]
		ctl, c.ctl = c.ctl, ctlSpare.b
		c.outBytes = 0
		closed := c.wclosed
		if c.hbSend > 0 && hb == nil {
			hbEvery = c.hbSend
			hb = time.NewTimer(hbEvery)
			hbC = hb.C
		}
		c.mu.Unlock()

		// One allocation at most for each buffer a wake-up fills: growing
		// by doubling costs more than encoding.
		size, deliveries := 0, 0
		var recorded uint64
		for i := range items {
			if it := &items[i]; it.kind == outDelivery {
				size += deliverySize(it.d)
				deliveries++
				recorded = max(recorded, it.d.RecordedAt)
			}
		}
		arena := slices.Grow(arenaSpare.b, size)
		for i := range items {
			it := &items[i]
			if it.kind == outDelivery && !it.o.detached.Load() && !it.o.s.ended.Load() {
				it.start = len(arena)
				arena = appendMessage(arena, it.d, c)
				it.end = len(arena)
			}
		}
		buf := slices.Grow(bufSpare.b, len(ctl)+len(arena)+transferOverhead*deliveries)
		c.wmu.Lock()
		buf = c.pumpLocked(buf)
		for i := range items {
			buf = c.writeItemLocked(buf, &items[i], ctl, arena)
		}
		c.wmu.Unlock()
		clear(items)
		idle := len(buf) == 0 // nothing to send but, perhaps, a heart-beat
		spare = items[:0]
		arenaSpare.keep(arena, idle)
		ctlSpare.keep(ctl, idle)

		if len(buf) == 0 && hb != nil && !closed {
			buf = append(buf, emptyFrame...)
		}
		if len(buf) > 0 {
			// A message goes out only once the store knows it was
			// delivered: after a crash it then comes back with a
			// delivery-count above 0 (encoding above overlapped the wait).
			c.b.WaitRecorded(recorded)
			_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				c.mu.Lock()
				c.wclosed = true
				c.out, c.outBytes = nil, 0
				c.mu.Unlock()
				c.nc.Close()
				if hb != nil {
					hb.Stop()
				}
				return
			}
			if hb != nil {
				hb.Reset(hbEvery)
			}
			c.mu.Lock()
			if c.outBytes+int(c.heldBytes.Load()) <= c.opts.MaxPendingBytes {
				c.overSince = time.Time{} // the peer keeps up
			}
			c.mu.Unlock()
		}
		bufSpare.keep(buf, idle)
		if closed {
			c.mu.Lock()
			empty := len(c.out) == 0
			c.mu.Unlock()
			if empty {
				if hb != nil {
					hb.Stop()
				}
				return
			}
		}
	}
}

// transferOverhead bounds the frame header and transfer performative in
// front of a delivery's payload, for sizing the write buffer.
const transferOverhead = 64

// scratch is a buffer the writer reuses across wake-ups: a connection
// under steady load keeps its buffers instead of growing them again each
// time, and one whose load fell (a quarter of the buffer used for
// scratchIdle wake-ups in a row, or a wake-up with nothing to send but a
// heart-beat) lets a burst's buffer go. Writer goroutine.
type scratch struct {
	b   []byte
	low int // consecutive wake-ups that used less than a quarter of b
}

const scratchIdle = 64

// keep takes back the buffer after a wake-up used len(used) bytes of it;
// idle says the wake-up had nothing to send.
func (s *scratch) keep(used []byte, idle bool) {
	if cap(used) > 64<<10 && (idle || len(used) < cap(used)/4) {
		if s.low++; idle || s.low >= scratchIdle {
			s.b, s.low = nil, 0
			return
		}
	} else {
		s.low = 0
	}
	s.b = used[:0]
}

// writeItemLocked appends the frames of one queued item to buf, or holds
// it back behind its session's window. c.wmu must be held.
func (c *conn) writeItemLocked(buf []byte, it *outItem, ctl, arena []byte) []byte {
	switch it.kind {
	case outFrames:
		return append(buf, ctl[it.start:it.end]...)
	case outDelivery:
		s := it.o.s
		if it.o.detached.Load() || s.ended.Load() {
			return buf
		}
		it.payload = arena[it.start:it.end]
		if len(s.held) > 0 || s.remoteIncomingWindow == 0 {
			s.hold(it)
			return buf
		}
		buf, done := s.writeDeliveryLocked(buf, it)
		if !done {
			s.hold(it)
		}
		return buf
	case outFlow:
		s := it.s
		if s.ended.Load() || it.o != nil && it.o.detached.Load() {
			return buf
		}
		if it.o != nil && len(s.held) > 0 {
			s.hold(it) // a link flow follows the link's transfers
			return buf
		}
		return s.appendFlow(buf, it)
	}
	return buf
}

// hold keeps it (copying what is left of its encoding) until the peer's
// session window opens. c.wmu must be held.
func (s *session) hold(it *outItem) {
	h := *it
	if h.kind == outDelivery {
		h.payload = append([]byte(nil), it.payload[it.off:]...)
		h.off = 0
		s.c.heldBytes.Add(int64(len(h.payload)))
	}
	h.d = backend.Delivery{Tag: it.d.Tag} // the encoding is kept; the message is not needed
	s.held = append(s.held, h)
	if !s.blocked {
		s.blocked = true
		s.c.blocked = append(s.c.blocked, s)
	}
}

// pumpLocked writes held items of sessions whose window reopened. c.wmu
// must be held.
func (c *conn) pumpLocked(buf []byte) []byte {
	kept := c.blocked[:0]
	for _, s := range c.blocked {
		for len(s.held) > 0 && !s.ended.Load() {
			it := &s.held[0]
			if it.kind == outDelivery && !it.o.detached.Load() {
				if s.remoteIncomingWindow == 0 {
					break
				}
				before := len(it.payload) - it.off
				var done bool
				buf, done = s.writeDeliveryLocked(buf, it)
				c.heldBytes.Add(-int64(before - (len(it.payload) - it.off)))
				if !done {
					break
				}
			} else if it.kind == outDelivery {
				c.heldBytes.Add(-int64(len(it.payload) - it.off))
			} else if it.kind == outFlow && !it.o.detached.Load() {
				buf = s.appendFlow(buf, it)
			}
			s.held[0] = outItem{}
			s.held = s.held[1:]
		}
		if len(s.held) > 0 && !s.ended.Load() {
			kept = append(kept, s)
			continue
		}
		s.dropHeldLocked()
	}
	clear(c.blocked[len(kept):])
	c.blocked = kept
	return buf
}

// dropHeldLocked forgets s's held items. c.wmu must be held.
func (s *session) dropHeldLocked() {
	for i := range s.held {
		if it := &s.held[i]; it.kind == outDelivery {
			s.c.heldBytes.Add(-int64(len(it.payload) - it.off))
		}
	}
	clear(s.held)
	s.held, s.blocked = nil, false
}

// writeDeliveryLocked appends transfer frames of it while the peer's
// session window is open; it reports whether the whole delivery went. The
// first frame takes the session's next delivery-id and, unless pre-settled,
// records the delivery as unsettled. AMQP 1.0 §2.6.12, §2.7.5.
// c.wmu must be held.
func (s *session) writeDeliveryLocked(buf []byte, it *outItem) ([]byte, bool) {
	c := s.c
	o := it.o
	for s.remoteIncomingWindow > 0 {
		t := &c.xfer
		*t = wire.Transfer{Handle: o.l.handle, Settled: o.presettled}
		if !it.started {
			it.started = true
			it.id = s.nextDeliveryID
			s.nextDeliveryID++
			if !o.presettled {
				s.unsettled[it.id] = unsettledOut{o: o, tag: it.d.Tag}
			}
			c.xferID = it.id
			c.xferTag = [8]byte{byte(it.d.Tag >> 56), byte(it.d.Tag >> 48), byte(it.d.Tag >> 40), byte(it.d.Tag >> 32),
				byte(it.d.Tag >> 24), byte(it.d.Tag >> 16), byte(it.d.Tag >> 8), byte(it.d.Tag)}
			t.DeliveryID, t.DeliveryTag, t.MessageFormat = &c.xferID, c.xferTag[:], &c.xferFormat
		}
		var n int
		buf, n = appendTransfer(buf, s.outCh, t, it.payload[it.off:], c.peerMaxFrame)
		it.off += n
		s.nextOutgoingID++
		s.remoteIncomingWindow--
		if it.off == len(it.payload) {
			return buf, true
		}
	}
	return buf, false
}

// appendFlow appends a flow with the session's current state and, for a
// link flow, the link fields captured when it was queued. c.wmu must be
// held.
func (s *session) appendFlow(buf []byte, it *outItem) []byte {
	next := s.nextIncomingID.Load()
	f := &s.c.xflow
	*f = wire.Flow{
		NextIncomingID: &next,
		IncomingWindow: s.incomingWindow.Load(),
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: math.MaxUint32,
	}
	if it.link {
		f.Handle, f.DeliveryCount, f.LinkCredit, f.Drain = &it.handle, &it.count, &it.credit, it.drain
	}
	buf, _ = wire.AppendPerformative(buf, s.outCh, f)
	return buf
}

// trackPublish counts a publish waiting for the store and, for an
// unsettled delivery (id on s), queues it for its disposition, returning
// its place. The reader waits while far too many publishes are pending
// (sender links stop getting credit well before).
func (c *conn) trackPublish(s *session, id uint32, settled bool) (seq uint64) {
	c.mu.Lock()
	for c.pending >= 4*c.opts.MaxPendingPublishes && !c.isStopping() {
		c.waiting = true
		c.pubCond.Wait()
	}
	c.waiting = false
	c.pending++
	if !settled {
		seq = s.acks.push(id)
	}
	c.mu.Unlock()
	return seq
}

// publishSettledLocked accounts for a finished publish: it wakes the
// reader and grants credit to starved sender links once few publishes are
// left. c.mu must be held.
func (c *conn) publishSettledLocked() {
	c.pending--
	if c.waiting {
		c.pubCond.Broadcast()
	}
	if len(c.starved) > 0 && c.pending <= c.opts.MaxPendingPublishes/2 {
		for i, in := range c.starved {
			in.starved = false
			in.grantLocked()
			c.starved[i] = nil
		}
		c.starved = c.starved[:0]
	}
}

// waitPublishes waits until every tracked publish is stored or failed.
func (c *conn) waitPublishes() {
	c.mu.Lock()
	for c.pending > 0 {
		c.waiting = true
		c.pubCond.Wait()
	}
	c.waiting = false
	c.mu.Unlock()
}
