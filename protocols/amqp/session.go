package amqp

import (
	"math"
	"sync/atomic"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// session is one AMQP session: a pair of channels with transfer windows and
// the links attached to it. AMQP 1.0 §2.5.
type session struct {
	c     *conn
	inCh  uint16 // the peer's channel
	outCh uint16 // ours

	// Owned by the reader goroutine.
	links  map[uint32]*link // by handle: the peer's, which ours mirror
	ending bool             // we sent end and wait for the peer's

	// ended: no more frames on this session. Set by the reader.
	ended atomic.Bool
	// Our incoming window, AMQP 1.0 §2.5.6: the transfer-id expected next
	// from the peer and how many transfer frames we still take. Written by
	// the reader, read by the writer for flows.
	nextIncomingID atomic.Uint32
	incomingWindow atomic.Uint32

	// Guarded by c.wmu: the outgoing side, owned by the writer.
	nextOutgoingID       uint32 // transfer-id of our next transfer frame
	remoteIncomingWindow uint32 // transfer frames the peer still takes
	nextDeliveryID       uint32 // delivery-id of our next delivery
	held                 []outItem
	blocked              bool                    // s is in c.blocked
	unsettled            map[uint32]unsettledOut // our deliveries the peer has not settled

	// Guarded by c.mu.
	acks    ackQueue // the peer's deliveries waiting for their outcome
	acksDue bool     // s is in c.acksDue
}

// onBegin handles a begin from the peer and answers it. AMQP 1.0 §2.5.1,
// §2.7.2.
func (c *conn) onBegin(ch uint16, b *wire.Begin) *protoError {
	if b.RemoteChannel != nil {
		return connErr(wire.CondIllegalState, "begin on channel %d answers a session the broker did not begin", ch)
	}
	if ch > c.opts.ChannelMax {
		return connErr(wire.CondNotAllowed, "channel %d is above channel-max %d", ch, c.opts.ChannelMax)
	}
	if c.sessions[ch] != nil {
		return connErr(wire.CondIllegalState, "channel %d already has a session", ch)
	}
	var out uint16
	for c.outChans[out] {
		out++
	}
	s := &session{
		c:                    c,
		inCh:                 ch,
		outCh:                out,
		links:                map[uint32]*link{},
		remoteIncomingWindow: b.IncomingWindow,
		unsettled:            map[uint32]unsettledOut{},
	}
	s.nextIncomingID.Store(b.NextOutgoingID)
	s.incomingWindow.Store(c.opts.SessionWindow)
	c.sessions[ch] = s
	c.outChans[out] = true
	remote := ch
	c.queuePerf(out, &wire.Begin{
		RemoteChannel:  &remote,
		NextOutgoingID: 0,
		IncomingWindow: c.opts.SessionWindow,
		OutgoingWindow: math.MaxUint32,
		HandleMax:      c.opts.HandleMax,
	})
	return nil
}

// handle runs one session frame on the reader goroutine.
func (s *session) handle(p wire.Performative) *protoError {
	switch p := p.(type) {
	case *wire.Attach:
		return s.onAttach(p)
	case *wire.Flow:
		return s.onFlow(p)
	case *wire.Transfer:
		return s.onTransfer(p)
	case *wire.Disposition:
		return s.onDisposition(p)
	case *wire.Detach:
		return s.onDetach(p)
	case *wire.End:
		s.endLinks()
		s.c.queuePerf(s.outCh, &wire.End{})
		s.c.removeSession(s)
	}
	return nil
}

// fail ends the session with err (AMQP 1.0 §2.5.5); frames that follow
// from the peer are dropped until its end.
func (s *session) fail(err *wire.Error) {
	s.c.log.Debug().Str("error", err.Error()).Uint16("channel", s.inCh).Msg("ending session")
	s.endLinks() // first: nothing of the session may follow its end
	s.c.queuePerf(s.outCh, &wire.End{Error: err})
	s.ending = true
}

// endLinks detaches every link of s without frames (the session is
// ending) and drops its outbound state. Durable subscriptions stay.
func (s *session) endLinks() {
	for h, l := range s.links {
		if !l.closing {
			s.detachLink(l, false)
		}
		delete(s.links, h)
	}
	c := s.c
	s.ended.Store(true)
	c.wmu.Lock()
	s.dropHeldLocked()
	clear(s.unsettled)
	c.wmu.Unlock()
	c.mu.Lock()
	s.acks.reset()
	c.mu.Unlock()
}

func (c *conn) removeSession(s *session) {
	delete(c.sessions, s.inCh)
	delete(c.outChans, s.outCh)
}

// onFlow updates the session window and, with a handle, the link's flow
// state. AMQP 1.0 §2.5.6, §2.6.7, §2.7.4.
func (s *session) onFlow(f *wire.Flow) *protoError {
	c := s.c
	var l *link
	if f.Handle != nil {
		if l = s.links[*f.Handle]; l == nil {
			return sessionErr(wire.CondUnattachedHandle, "flow for handle %d, which is not attached", *f.Handle)
		}
	}
	c.wmu.Lock()
	var nextIn uint32 // our initial next-outgoing-id when the peer has not seen our begin
	if f.NextIncomingID != nil {
		nextIn = *f.NextIncomingID
	}
	s.remoteIncomingWindow = nextIn + f.IncomingWindow - s.nextOutgoingID
	resume := s.blocked && s.remoteIncomingWindow > 0
	c.wmu.Unlock()
	if f.Echo && l == nil {
		c.mu.Lock()
		c.queueFlowLocked(outItem{s: s})
		c.mu.Unlock()
		resume = true
	}
	if resume {
		c.signal()
	}
	if l == nil || l.closing {
		return nil
	}
	if l.out != nil {
		return l.out.onFlow(f)
	}
	if f.Echo {
		c.mu.Lock()
		l.in.queueFlowLocked()
		c.mu.Unlock()
		c.signal()
	}
	return nil
}

// countIncoming accounts for one transfer frame from the peer against our
// incoming window, reopening the window when half of it is used. It
// reports a window violation. Reader goroutine.
func (s *session) countIncoming() bool {
	w := s.incomingWindow.Load()
	if w == 0 {
		return false
	}
	s.nextIncomingID.Add(1)
	if w-1 > s.c.opts.SessionWindow/2 {
		s.incomingWindow.Store(w - 1)
		return true
	}
	s.incomingWindow.Store(s.c.opts.SessionWindow)
	c := s.c
	c.mu.Lock()
	c.queueFlowLocked(outItem{s: s})
	c.mu.Unlock()
	c.signal()
	return true
}

// onTransfer handles one transfer frame from the peer.
func (s *session) onTransfer(t *wire.Transfer) *protoError {
	c := s.c
	if !s.countIncoming() {
		return sessionErr(wire.CondWindowViolation, "transfer beyond the incoming-window of %d frames", c.opts.SessionWindow)
	}
	l := s.links[t.Handle]
	if l == nil {
		return sessionErr(wire.CondUnattachedHandle, "transfer for handle %d, which is not attached", t.Handle)
	}
	if l.closing {
		return nil // in flight when we detached
	}
	if l.in == nil {
		return linkErr(t.Handle, wire.CondNotAllowed, "transfer on link %q, whose peer is its receiver", l.name)
	}
	return l.in.onTransfer(t)
}

// onDetach handles the peer's detach: it answers ours, or detaches the
// link and is answered. AMQP 1.0 §2.6.5, §2.7.7.
func (s *session) onDetach(d *wire.Detach) *protoError {
	l := s.links[d.Handle]
	if l == nil {
		return sessionErr(wire.CondUnattachedHandle, "detach for handle %d, which is not attached", d.Handle)
	}
	delete(s.links, d.Handle)
	if l.closing {
		return nil
	}
	if d.Error != nil {
		s.c.log.Debug().Str("link", l.name).Str("error", d.Error.Error()).Msg("peer detached a link with an error")
	}
	s.detachLink(l, d.Closed)
	s.c.queuePerf(s.outCh, &wire.Detach{Handle: d.Handle, Closed: d.Closed})
	return nil
}

// failLink detaches l with err, closing it (AMQP 1.0 §2.6.5); the link
// stays in the table until the peer's detach.
func (s *session) failLink(l *link, err *wire.Error) {
	s.c.log.Debug().Str("link", l.name).Str("error", err.Error()).Msg("detaching link")
	s.detachLink(l, false)
	l.closing = true
	s.c.queuePerf(s.outCh, &wire.Detach{Handle: l.handle, Closed: true, Error: err})
}

// detachLink releases what l holds. closed is the peer's detach closed
// flag: it deletes a durable subscription and the link's dynamic node.
func (s *session) detachLink(l *link, closed bool) {
	switch {
	case l.out != nil:
		l.out.detach(closed)
	case l.in != nil:
		l.in.detach()
	}
	if closed && !l.dynamic.IsZero() {
		s.c.deleteTemp(l.dynamic)
	}
}
