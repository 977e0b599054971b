package wire

import "math"

// Performative is the body of an AMQP or SASL frame: one of *Open, *Begin,
// *Attach, *Flow, *Transfer, *Disposition, *Detach, *End, *Close (AMQP 1.0
// §2.7) or *SASLMechanisms, *SASLInit, *SASLChallenge, *SASLResponse,
// *SASLOutcome (§5.3.3).
type Performative interface {
	Marshaler
	Unmarshaler
	// Descriptor returns the performative's descriptor code, e.g.
	// DescOpen.
	Descriptor() uint64
}

// Role is the role of a link endpoint. AMQP 1.0 §2.8.1.
type Role bool

// The link roles.
const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

// String returns "sender" or "receiver".
func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// SenderSettleMode is a sender's settlement policy. AMQP 1.0 §2.8.2.
type SenderSettleMode uint8

// The sender settle modes.
const (
	SndUnsettled SenderSettleMode = 0
	SndSettled   SenderSettleMode = 1
	SndMixed     SenderSettleMode = 2 // the default
)

// ReceiverSettleMode is a receiver's settlement policy. AMQP 1.0 §2.8.3.
type ReceiverSettleMode uint8

// The receiver settle modes.
const (
	RcvFirst  ReceiverSettleMode = 0 // the default
	RcvSecond ReceiverSettleMode = 1
)

// Open negotiates connection parameters. AMQP 1.0 §2.7.1.
//
// Unmarshal fills absent fields with the spec's defaults; Marshal omits
// fields equal to them. Zero is not a default: set MaxFrameSize and
// ChannelMax explicitly.
type Open struct {
	ContainerID         string // mandatory
	Hostname            string // "" is absent
	MaxFrameSize        uint32 // default 4294967295
	ChannelMax          uint16 // default 65535
	IdleTimeOut         uint32 // milliseconds; 0 is absent (no timeout)
	OutgoingLocales     []Symbol
	IncomingLocales     []Symbol
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// Descriptor returns DescOpen.
func (*Open) Descriptor() uint64 { return DescOpen }

// Marshal appends the encoding of o to b.
func (o *Open) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescOpen)
	c.string(o.ContainerID, true)
	c.string(o.Hostname, o.Hostname != "")
	c.uint(o.MaxFrameSize, o.MaxFrameSize != math.MaxUint32)
	c.ushort(o.ChannelMax, o.ChannelMax != math.MaxUint16)
	c.uint(o.IdleTimeOut, o.IdleTimeOut != 0)
	c.symbols(o.OutgoingLocales, false)
	c.symbols(o.IncomingLocales, false)
	c.symbols(o.OfferedCapabilities, false)
	c.symbols(o.DesiredCapabilities, false)
	c.amap(o.Properties)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one open.
func (o *Open) Unmarshal(b []byte) error { return unmarshalExact(b, o.decode) }

func (o *Open) decode(d *decoder) error {
	*o = Open{MaxFrameSize: math.MaxUint32, ChannelMax: math.MaxUint16}
	f := d.composite(DescOpen, "open")
	f.string(&o.ContainerID, "container-id", mandatory)
	f.string(&o.Hostname, "hostname", optional)
	f.uint(&o.MaxFrameSize, "max-frame-size", optional)
	f.ushort(&o.ChannelMax, "channel-max", optional)
	f.uint(&o.IdleTimeOut, "idle-time-out", optional)
	f.symbols(&o.OutgoingLocales, "outgoing-locales", optional)
	f.symbols(&o.IncomingLocales, "incoming-locales", optional)
	f.symbols(&o.OfferedCapabilities, "offered-capabilities", optional)
	f.symbols(&o.DesiredCapabilities, "desired-capabilities", optional)
	f.amap(&o.Properties, "properties")
	return f.done()
}

// Begin begins a session on a channel. AMQP 1.0 §2.7.2.
type Begin struct {
	RemoteChannel       *uint16 // nil when the session is initiated by the sender
	NextOutgoingID      uint32  // mandatory
	IncomingWindow      uint32  // mandatory
	OutgoingWindow      uint32  // mandatory
	HandleMax           uint32  // default 4294967295
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// Descriptor returns DescBegin.
func (*Begin) Descriptor() uint64 { return DescBegin }

// Marshal appends the encoding of g to b.
func (g *Begin) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescBegin)
	if g.RemoteChannel != nil {
		c.ushort(*g.RemoteChannel, true)
	} else {
		c.null()
	}
	c.uint(g.NextOutgoingID, true)
	c.uint(g.IncomingWindow, true)
	c.uint(g.OutgoingWindow, true)
	c.uint(g.HandleMax, g.HandleMax != math.MaxUint32)
	c.symbols(g.OfferedCapabilities, false)
	c.symbols(g.DesiredCapabilities, false)
	c.amap(g.Properties)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one begin.
func (g *Begin) Unmarshal(b []byte) error { return unmarshalExact(b, g.decode) }

func (g *Begin) decode(d *decoder) error {
	*g = Begin{HandleMax: math.MaxUint32}
	f := d.composite(DescBegin, "begin")
	f.optUshort(&g.RemoteChannel, "remote-channel")
	f.uint(&g.NextOutgoingID, "next-outgoing-id", mandatory)
	f.uint(&g.IncomingWindow, "incoming-window", mandatory)
	f.uint(&g.OutgoingWindow, "outgoing-window", mandatory)
	f.uint(&g.HandleMax, "handle-max", optional)
	f.symbols(&g.OfferedCapabilities, "offered-capabilities", optional)
	f.symbols(&g.DesiredCapabilities, "desired-capabilities", optional)
	f.amap(&g.Properties, "properties")
	return f.done()
}

// Attach attaches a link to a session. AMQP 1.0 §2.7.3.
//
// The target field holds either a Target or, for a transaction controller's
// link, a Coordinator (AMQP 1.0 §4.5.1); at most one of the two is set.
type Attach struct {
	Name                 string             // mandatory
	Handle               uint32             // mandatory
	Role                 Role               // mandatory
	SndSettleMode        SenderSettleMode   // default SndMixed
	RcvSettleMode        ReceiverSettleMode // default RcvFirst
	Source               *Source
	Target               *Target
	Coordinator          *Coordinator
	Unsettled            Map // delivery-tag ([]byte) → delivery state
	IncompleteUnsettled  bool
	InitialDeliveryCount *uint32 // mandatory when Role is RoleSender
	MaxMessageSize       uint64  // 0 is absent: no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           Map
}

// Descriptor returns DescAttach.
func (*Attach) Descriptor() uint64 { return DescAttach }

// Marshal appends the encoding of a to b.
func (a *Attach) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescAttach)
	c.string(a.Name, true)
	c.uint(a.Handle, true)
	c.bool(bool(a.Role), true)
	c.ubyte(uint8(a.SndSettleMode), a.SndSettleMode != SndMixed)
	c.ubyte(uint8(a.RcvSettleMode), a.RcvSettleMode != RcvFirst)
	c.marshal(a.Source, a.Source != nil)
	if a.Coordinator != nil {
		c.marshal(a.Coordinator, true)
	} else {
		c.marshal(a.Target, a.Target != nil)
	}
	c.amap(a.Unsettled)
	c.bool(a.IncompleteUnsettled, a.IncompleteUnsettled)
	c.optUint(a.InitialDeliveryCount)
	c.ulong(a.MaxMessageSize, a.MaxMessageSize != 0)
	c.symbols(a.OfferedCapabilities, false)
	c.symbols(a.DesiredCapabilities, false)
	c.amap(a.Properties)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one attach.
func (a *Attach) Unmarshal(b []byte) error { return unmarshalExact(b, a.decode) }

func (a *Attach) decode(d *decoder) error {
	*a = Attach{SndSettleMode: SndMixed, RcvSettleMode: RcvFirst}
	f := d.composite(DescAttach, "attach")
	f.string(&a.Name, "name", mandatory)
	f.uint(&a.Handle, "handle", mandatory)
	f.bool((*bool)(&a.Role), "role", mandatory)
	f.enum((*uint8)(&a.SndSettleMode), "snd-settle-mode", uint8(SndMixed))
	f.enum((*uint8)(&a.RcvSettleMode), "rcv-settle-mode", uint8(RcvSecond))
	f.custom("source", func(d *decoder) error {
		a.Source = new(Source)
		return a.Source.decode(d)
	})
	f.custom("target", a.decodeTarget)
	f.amap(&a.Unsettled, "unsettled")
	f.bool(&a.IncompleteUnsettled, "incomplete-unsettled", optional)
	f.optUint(&a.InitialDeliveryCount, "initial-delivery-count")
	f.ulong(&a.MaxMessageSize, "max-message-size", optional)
	f.symbols(&a.OfferedCapabilities, "offered-capabilities", optional)
	f.symbols(&a.DesiredCapabilities, "desired-capabilities", optional)
	f.amap(&a.Properties, "properties")
	return f.done()
}

// decodeTarget decodes the target field: a target or a coordinator.
func (a *Attach) decodeTarget(d *decoder) error {
	code, _, err := d.peekDescriptor()
	if err != nil {
		return err
	}
	if code == DescCoordinator {
		a.Coordinator = new(Coordinator)
		return a.Coordinator.decode(d)
	}
	a.Target = new(Target)
	return a.Target.decode(d)
}

// Flow updates session and link flow state. AMQP 1.0 §2.7.4.
type Flow struct {
	NextIncomingID *uint32 // nil until the first begin from the peer
	IncomingWindow uint32  // mandatory
	NextOutgoingID uint32  // mandatory
	OutgoingWindow uint32  // mandatory
	Handle         *uint32 // nil: session flow only
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     Map
}

// Descriptor returns DescFlow.
func (*Flow) Descriptor() uint64 { return DescFlow }

// Marshal appends the encoding of fl to b.
func (fl *Flow) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescFlow)
	c.optUint(fl.NextIncomingID)
	c.uint(fl.IncomingWindow, true)
	c.uint(fl.NextOutgoingID, true)
	c.uint(fl.OutgoingWindow, true)
	c.optUint(fl.Handle)
	c.optUint(fl.DeliveryCount)
	c.optUint(fl.LinkCredit)
	c.optUint(fl.Available)
	c.bool(fl.Drain, fl.Drain)
	c.bool(fl.Echo, fl.Echo)
	c.amap(fl.Properties)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one flow.
func (fl *Flow) Unmarshal(b []byte) error { return unmarshalExact(b, fl.decode) }

func (fl *Flow) decode(d *decoder) error {
	*fl = Flow{}
	f := d.composite(DescFlow, "flow")
	f.optUint(&fl.NextIncomingID, "next-incoming-id")
	f.uint(&fl.IncomingWindow, "incoming-window", mandatory)
	f.uint(&fl.NextOutgoingID, "next-outgoing-id", mandatory)
	f.uint(&fl.OutgoingWindow, "outgoing-window", mandatory)
	f.optUint(&fl.Handle, "handle")
	f.optUint(&fl.DeliveryCount, "delivery-count")
	f.optUint(&fl.LinkCredit, "link-credit")
	f.optUint(&fl.Available, "available")
	f.bool(&fl.Drain, "drain", optional)
	f.bool(&fl.Echo, "echo", optional)
	f.amap(&fl.Properties, "properties")
	return f.done()
}

// Transfer transfers (part of) a message. AMQP 1.0 §2.7.5.
//
// DeliveryID, DeliveryTag and MessageFormat must be set on the first
// transfer of a delivery and may be omitted on continuation transfers.
// Payload is not part of the performative: it is the rest of the frame
// body (AppendFrameBody and DecodeFrameBody carry it).
type Transfer struct {
	Handle        uint32  // mandatory
	DeliveryID    *uint32 // delivery-number
	DeliveryTag   []byte  // nil is absent; aliases the input when decoded
	MessageFormat *uint32
	Settled       bool // absent decodes as false
	More          bool
	RcvSettleMode *ReceiverSettleMode
	State         DeliveryState
	Resume        bool
	Aborted       bool
	Batchable     bool
	Payload       []byte // frame payload; aliases the input when decoded
}

// Descriptor returns DescTransfer.
func (*Transfer) Descriptor() uint64 { return DescTransfer }

// Marshal appends the encoding of the transfer performative to b; it does
// not append Payload.
func (t *Transfer) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescTransfer)
	c.uint(t.Handle, true)
	c.optUint(t.DeliveryID)
	c.binary(t.DeliveryTag, t.DeliveryTag != nil)
	c.optUint(t.MessageFormat)
	c.bool(t.Settled, t.Settled)
	c.bool(t.More, t.More)
	if t.RcvSettleMode != nil {
		c.ubyte(uint8(*t.RcvSettleMode), true)
	} else {
		c.null()
	}
	c.marshal(t.State, t.State != nil)
	c.bool(t.Resume, t.Resume)
	c.bool(t.Aborted, t.Aborted)
	c.bool(t.Batchable, t.Batchable)
	return c.finish()
}

// Unmarshal decodes the transfer at the start of b and sets Payload to the
// bytes after it.
func (t *Transfer) Unmarshal(b []byte) error {
	d := decoder{b: b}
	if err := t.decode(&d); err != nil {
		return err
	}
	t.Payload = b[d.off:len(b):len(b)]
	return nil
}

// transferOpts holds a decoded transfer's optional scalars, so that they
// cost one allocation together.
type transferOpts struct {
	deliveryID    uint32
	messageFormat uint32
	rcvSettleMode ReceiverSettleMode
}

func (t *Transfer) decode(d *decoder) error {
	*t = Transfer{}
	var (
		o                         transferOpts
		hasID, hasFormat, hasMode bool
		mode                      uint8
	)
	f := d.composite(DescTransfer, "transfer")
	f.uint(&t.Handle, "handle", mandatory)
	if f.next() {
		var err error
		o.deliveryID, hasID, err = d.readUint()
		f.check("delivery-id", hasID, false, err)
	}
	f.binary(&t.DeliveryTag, "delivery-tag", optional)
	if f.next() {
		var err error
		o.messageFormat, hasFormat, err = d.readUint()
		f.check("message-format", hasFormat, false, err)
	}
	f.bool(&t.Settled, "settled", optional)
	f.bool(&t.More, "more", optional)
	if f.next() {
		start := d.off
		var err error
		mode, hasMode, err = d.readUbyte()
		if err == nil && mode > uint8(RcvSecond) {
			err = failAt(start, "value out of range")
		}
		f.check("rcv-settle-mode", hasMode, false, err)
	}
	f.state(&t.State, "state")
	f.bool(&t.Resume, "resume", optional)
	f.bool(&t.Aborted, "aborted", optional)
	f.bool(&t.Batchable, "batchable", optional)
	if err := f.done(); err != nil {
		return err
	}
	if hasID || hasFormat || hasMode {
		o.rcvSettleMode = ReceiverSettleMode(mode)
		p := new(transferOpts)
		*p = o
		if hasID {
			t.DeliveryID = &p.deliveryID
		}
		if hasFormat {
			t.MessageFormat = &p.messageFormat
		}
		if hasMode {
			t.RcvSettleMode = &p.rcvSettleMode
		}
	}
	return nil
}

// Disposition informs the peer of delivery state changes for the range
// First..Last. AMQP 1.0 §2.7.6.
type Disposition struct {
	Role      Role    // mandatory
	First     uint32  // mandatory
	Last      *uint32 // nil: Last is First
	Settled   bool
	State     DeliveryState
	Batchable bool
}

// Descriptor returns DescDisposition.
func (*Disposition) Descriptor() uint64 { return DescDisposition }

// Marshal appends the encoding of p to b.
func (p *Disposition) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescDisposition)
	c.bool(bool(p.Role), true)
	c.uint(p.First, true)
	c.optUint(p.Last)
	c.bool(p.Settled, p.Settled)
	c.marshal(p.State, p.State != nil)
	c.bool(p.Batchable, p.Batchable)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one disposition.
func (p *Disposition) Unmarshal(b []byte) error { return unmarshalExact(b, p.decode) }

func (p *Disposition) decode(d *decoder) error {
	*p = Disposition{}
	f := d.composite(DescDisposition, "disposition")
	f.bool((*bool)(&p.Role), "role", mandatory)
	f.uint(&p.First, "first", mandatory)
	f.optUint(&p.Last, "last")
	f.bool(&p.Settled, "settled", optional)
	f.state(&p.State, "state")
	f.bool(&p.Batchable, "batchable", optional)
	return f.done()
}

// Detach detaches a link endpoint from its session. AMQP 1.0 §2.7.7.
type Detach struct {
	Handle uint32 // mandatory
	Closed bool
	Error  *Error
}

// Descriptor returns DescDetach.
func (*Detach) Descriptor() uint64 { return DescDetach }

// Marshal appends the encoding of x to b.
func (x *Detach) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescDetach)
	c.uint(x.Handle, true)
	c.bool(x.Closed, x.Closed)
	c.marshal(x.Error, x.Error != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one detach.
func (x *Detach) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *Detach) decode(d *decoder) error {
	*x = Detach{}
	f := d.composite(DescDetach, "detach")
	f.uint(&x.Handle, "handle", mandatory)
	f.bool(&x.Closed, "closed", optional)
	f.error(&x.Error, "error")
	return f.done()
}

// End ends a session. AMQP 1.0 §2.7.8.
type End struct {
	Error *Error
}

// Descriptor returns DescEnd.
func (*End) Descriptor() uint64 { return DescEnd }

// Marshal appends the encoding of e to b.
func (e *End) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescEnd)
	c.marshal(e.Error, e.Error != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one end.
func (e *End) Unmarshal(b []byte) error { return unmarshalExact(b, e.decode) }

func (e *End) decode(d *decoder) error {
	*e = End{}
	f := d.composite(DescEnd, "end")
	f.error(&e.Error, "error")
	return f.done()
}

// Close closes the connection. AMQP 1.0 §2.7.9.
type Close struct {
	Error *Error
}

// Descriptor returns DescClose.
func (*Close) Descriptor() uint64 { return DescClose }

// Marshal appends the encoding of x to b.
func (x *Close) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescClose)
	c.marshal(x.Error, x.Error != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one close.
func (x *Close) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *Close) decode(d *decoder) error {
	*x = Close{}
	f := d.composite(DescClose, "close")
	f.error(&x.Error, "error")
	return f.done()
}

// Marshal appends the encoding of e to b. AMQP 1.0 §2.8.14.
func (e *Error) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescError)
	c.symbol(e.Condition, true)
	c.string(e.Description, e.Description != "")
	c.amap(e.Info)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one error.
func (e *Error) Unmarshal(b []byte) error { return unmarshalExact(b, e.decode) }

func (e *Error) decode(d *decoder) error {
	*e = Error{}
	f := d.composite(DescError, "error")
	f.symbol(&e.Condition, "condition", mandatory)
	f.string(&e.Description, "description", optional)
	f.amap(&e.Info, "info")
	return f.done()
}

// unmarshalExact runs decode over b and requires it to consume all of b.
func unmarshalExact(b []byte, decode func(*decoder) error) error {
	d := decoder{b: b}
	if err := decode(&d); err != nil {
		return err
	}
	if d.off != len(b) {
		return d.fail("trailing bytes after value")
	}
	return nil
}
