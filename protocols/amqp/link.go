package amqp

import (
	"context"
	"errors"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/selector"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// link is one attached link. Exactly one of in (the peer sends, we
// receive: publishing or a transaction coordinator) and out (we send: a
// subscription) is set. AMQP 1.0 §2.6.
type link struct {
	name   string
	handle uint32 // the peer's handle; ours is the same number
	// dynamic is the node this link's attach created, deleted when the
	// link closes.
	dynamic backend.Destination
	// closing: we detached the link and wait for the peer's detach.
	// Owned by the reader goroutine.
	closing bool

	in  *inbound
	out *outbound
}

// Outcomes offered on our sources. AMQP 1.0 §3.5.3 outcomes.
var sourceOutcomes = []wire.Symbol{"amqp:accepted:list", "amqp:rejected:list", "amqp:released:list", "amqp:modified:list"}

// onAttach handles the peer's attach. AMQP 1.0 §2.6.3, §2.7.3.
func (s *session) onAttach(a *wire.Attach) *protoError {
	if a.Handle > s.c.opts.HandleMax {
		return sessionErr(wire.CondResourceLimitExceeded, "handle %d is above handle-max %d", a.Handle, s.c.opts.HandleMax)
	}
	if s.links[a.Handle] != nil {
		return sessionErr(wire.CondHandleInUse, "handle %d is already attached", a.Handle)
	}
	if a.Role == wire.RoleSender {
		if a.Coordinator != nil {
			s.attachCoordinator(a)
			return nil
		}
		s.attachReceiver(a)
		return nil
	}
	s.attachSender(a)
	return nil
}

// refuse answers an attach whose terminus could not be made with an attach
// carrying no terminus on our side, then detaches it with err.
// AMQP 1.0 §2.6.3: "the session endpoint MUST immediately detach".
func (s *session) refuse(a *wire.Attach, err *wire.Error) {
	reply := &wire.Attach{Name: a.Name, Handle: a.Handle, Role: !a.Role, SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode}
	if a.Role == wire.RoleSender {
		reply.Source = a.Source
	} else {
		reply.Target = a.Target
		zero := uint32(0)
		reply.InitialDeliveryCount = &zero
	}
	s.links[a.Handle] = &link{name: a.Name, handle: a.Handle, closing: true}
	c := s.c
	c.mu.Lock()
	c.appendPerfLocked(s.outCh, reply)
	c.appendPerfLocked(s.outCh, &wire.Detach{Handle: a.Handle, Closed: true, Error: err})
	c.mu.Unlock()
	c.signal()
	c.log.Debug().Str("link", a.Name).Str("error", err.Error()).Msg("attach refused")
}

// attachReceiver attaches a link on which the peer publishes (we are the
// receiver) and grants it credit.
func (s *session) attachReceiver(a *wire.Attach) {
	c := s.c
	if a.InitialDeliveryCount == nil {
		s.refuse(a, wire.Errorf(wire.CondInvalidField, "a sender's attach needs initial-delivery-count"))
		return
	}
	t := a.Target
	if t == nil {
		s.refuse(a, wire.Errorf(wire.CondInvalidField, "attach has no target"))
		return
	}
	l := &link{name: a.Name, handle: a.Handle}
	in := &inbound{s: s, l: l}
	reply := *t
	switch {
	case t.Dynamic:
		d, err := c.createTemp(dynamicKind(t.Capabilities))
		if err != nil {
			s.refuse(a, brokerError(err))
			return
		}
		in.dest, l.dynamic = d, d
		reply.Address = formatAddress(d)
	case t.Address == "":
		// Anonymous relay: each message names its destination in to.
	default:
		ds, err := parseComposite(t.Address, t.Capabilities)
		if err != nil {
			s.refuse(a, wire.Errorf(wire.CondInvalidField, "target address %q: %v", t.Address, err))
			return
		}
		in.dest, in.more = ds[0], ds[1:]
	}
	if !in.dest.IsZero() {
		reply.Capabilities = withKindCapability(reply.Capabilities, in.dest.Kind)
	}
	l.in = in
	s.links[a.Handle] = l
	c.mu.Lock()
	c.appendPerfLocked(s.outCh, &wire.Attach{
		Name:           a.Name,
		Handle:         a.Handle,
		Role:           wire.RoleReceiver,
		SndSettleMode:  a.SndSettleMode,
		RcvSettleMode:  wire.RcvFirst,
		Source:         a.Source,
		Target:         &reply,
		MaxMessageSize: c.opts.MaxMessageSize,
	})
	in.deliveryCount = *a.InitialDeliveryCount
	in.grantLocked()
	c.mu.Unlock()
	c.signal()
	c.log.Debug().Str("link", a.Name).Str("target", reply.Address).Msg("sender attached")
}

// attachSender attaches a link on which the peer consumes (we are the
// sender): it subscribes to the source with no credit until the peer's
// flow.
func (s *session) attachSender(a *wire.Attach) {
	c := s.c
	src := a.Source
	if src == nil {
		s.refuse(a, wire.Errorf(wire.CondNotFound, "attach has no source (looking up a durable subscription by link name is not supported)"))
		return
	}
	l := &link{name: a.Name, handle: a.Handle}
	out := &outbound{s: s, l: l, presettled: a.SndSettleMode == wire.SndSettled}
	opts := backend.SubscribeOptions{AutoAck: out.presettled, Owner: c.owner}
	reply := *src
	switch {
	case src.Dynamic:
		d, err := c.createTemp(dynamicKind(src.Capabilities))
		if err != nil {
			s.refuse(a, brokerError(err))
			return
		}
		opts.Dest, l.dynamic = d, d
		reply.Address = formatAddress(d)
	case src.Address == "":
		s.refuse(a, wire.Errorf(wire.CondInvalidField, "source has no address and is not dynamic"))
		return
	default:
		ds, err := parseComposite(src.Address, src.Capabilities)
		if err != nil {
			s.refuse(a, wire.Errorf(wire.CondInvalidField, "source address %q: %v", src.Address, err))
			return
		}
		opts.Dest = ds[0]
		if len(ds) > 1 {
			opts.Composite = ds[1:]
		}
	}
	refuse := func(e *wire.Error) { // after the dynamic node was made
		if !l.dynamic.IsZero() {
			c.deleteTemp(l.dynamic)
		}
		s.refuse(a, e)
	}
	reply.Capabilities = withKindCapability(reply.Capabilities, opts.Dest.Kind)
	reply.Filter = nil
	for _, e := range src.Filter {
		f, ok := e.Value.(wire.Described)
		if !ok {
			continue
		}
		code, _ := wire.DescriptorCode(f.Descriptor)
		switch code {
		case wire.DescSelectorFilter:
			sel, ok := f.Value.(string)
			if !ok {
				refuse(wire.Errorf(wire.CondInvalidField, "the selector filter does not hold a string"))
				return
			}
			opts.Selector = sel
		case wire.DescNoLocalFilter:
			opts.NoLocal = true
		default:
			continue // not honoured: left out of the reply, AMQP 1.0 §3.5.3 filter
		}
		reply.Filter = append(reply.Filter, e)
	}
	// Consumer priority and exclusive consumers (ActiveMQ's
	// activemq.priority / activemq.exclusive) come as attach properties
	// "priority" (an integer, as Artemis reads it) and "exclusive" (a
	// boolean).
	if v, ok := a.Properties.Get(wire.Symbol("priority")); ok {
		p, ok := linkInt(v)
		if !ok || p < 0 || p > 127 {
			refuse(wire.Errorf(wire.CondInvalidField, "link property priority %v is not an integer from 0 to 127", v))
			return
		}
		opts.Priority = int(p)
	}
	if v, ok := a.Properties.Get(wire.Symbol("exclusive")); ok {
		b, ok := v.(bool)
		if !ok {
			refuse(wire.Errorf(wire.CondInvalidField, "link property exclusive %v is not a boolean", v))
			return
		}
		opts.Exclusive = b
	}
	pull, perr := c.networkPull(a, &opts) // a duplex bridge's pull (network.go)
	if perr != nil {
		refuse(perr)
		return
	}
	// A queue source in distribution-mode copy is a queue browser (Qpid
	// JMS's QueueBrowser attaches so): it reads a snapshot of the queue
	// without consuming it. A topic subscription is a copy anyway.
	var browse *browseCollector
	if src.DistributionMode == wire.DistCopy && !opts.Dest.Kind.IsTopic() {
		browse = &browseCollector{}
		opts.Browse = true
	}
	if opts.Dest.Kind == backend.Topic && (src.Durable != wire.DurableNone || src.ExpiryPolicy == wire.ExpiryNever) {
		if c.containerID == "" {
			refuse(wire.Errorf(wire.CondInvalidField, "a durable subscription needs a container-id"))
			return
		}
		opts.ClientID, opts.DurableName = c.containerID, a.Name
		out.durable = true
	}
	reply.Outcomes = sourceOutcomes
	var sink backend.Sink = out
	if browse != nil {
		sink = browse
	}
	sub, err := c.b.Subscribe(context.Background(), opts, sink)
	if err != nil {
		e := brokerError(err)
		if errors.Is(err, selector.ErrInvalid) {
			e.Description = "invalid selector: " + err.Error()
		}
		refuse(e)
		return
	}
	out.sub = sub
	out.dest = opts.Dest
	if pull != nil {
		c.b.AddPeerDemand(sub, *pull)
	}
	if browse != nil {
		out.browse = browse.take()
		out.browsing = true
	}
	l.out = out
	s.links[a.Handle] = l
	zero := uint32(0)
	c.queuePerf(s.outCh, &wire.Attach{
		Name:                 a.Name,
		Handle:               a.Handle,
		Role:                 wire.RoleSender,
		SndSettleMode:        a.SndSettleMode,
		RcvSettleMode:        a.RcvSettleMode,
		Source:               &reply,
		Target:               a.Target,
		InitialDeliveryCount: &zero,
	})
	c.log.Debug().Str("link", a.Name).Str("source", opts.Dest.String()).Bool("presettled", out.presettled).
		Str("durable", opts.DurableName).Str("selector", opts.Selector).Bool("browse", out.browsing).Msg("receiver attached")
}

// linkInt reads an AMQP integer of any width.
func linkInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= 1<<62 {
			return int64(x), true
		}
	}
	return 0, false
}
