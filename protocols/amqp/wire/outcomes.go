package wire

// DeliveryState is the state of a delivery at an endpoint, carried by
// transfer and disposition, and (for outcomes) by a source's
// default-outcome: one of *Received, *Accepted, *Rejected, *Released,
// *Modified (AMQP 1.0 §3.4), *Declared or *TransactionalState (§4.5).
// The terminal ones are outcomes.
type DeliveryState interface {
	Marshaler
	Unmarshaler
	// Descriptor returns the state's descriptor code.
	Descriptor() uint64
	deliveryState()
}

// decodeState decodes a described delivery state, choosing its type by
// descriptor. An unknown descriptor is a DecodeError.
func decodeState(d *decoder) (DeliveryState, error) {
	start := d.off
	code, ok, err := d.peekDescriptor()
	if err != nil {
		return nil, err
	}
	var s interface {
		DeliveryState
		decode(*decoder) error
	}
	switch {
	case !ok:
	case code == DescReceived:
		s = new(Received)
	case code == DescAccepted:
		s = new(Accepted)
	case code == DescRejected:
		s = new(Rejected)
	case code == DescReleased:
		s = new(Released)
	case code == DescModified:
		s = new(Modified)
	case code == DescDeclared:
		s = new(Declared)
	case code == DescTransactionalState:
		s = new(TransactionalState)
	}
	if s == nil {
		return nil, failAt(start, "unknown delivery state "+descriptorLabel(code, ok))
	}
	if err := s.decode(d); err != nil {
		return nil, err
	}
	return s, nil
}

// Received is the non-terminal state of a partially received delivery.
// AMQP 1.0 §3.4.1.
type Received struct {
	SectionNumber uint32 // mandatory
	SectionOffset uint64 // mandatory
}

// Descriptor returns DescReceived.
func (*Received) Descriptor() uint64 { return DescReceived }
func (*Received) deliveryState()     {}

// Marshal appends the encoding of r to b.
func (r *Received) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescReceived)
	c.uint(r.SectionNumber, true)
	c.ulong(r.SectionOffset, true)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one received.
func (r *Received) Unmarshal(b []byte) error { return unmarshalExact(b, r.decode) }

func (r *Received) decode(d *decoder) error {
	*r = Received{}
	f := d.composite(DescReceived, "received")
	f.uint(&r.SectionNumber, "section-number", mandatory)
	f.ulong(&r.SectionOffset, "section-offset", mandatory)
	return f.done()
}

// Accepted is the outcome of a delivery processed successfully.
// AMQP 1.0 §3.4.2.
type Accepted struct{}

// Descriptor returns DescAccepted.
func (*Accepted) Descriptor() uint64 { return DescAccepted }
func (*Accepted) deliveryState()     {}

// Marshal appends the encoding of accepted to b: 00 53 24 45.
func (*Accepted) Marshal(b []byte) ([]byte, error) {
	return append(b, codeDescribed, codeSmallUlong, byte(DescAccepted), codeList0), nil
}

// Unmarshal decodes b, which must hold exactly one accepted.
func (a *Accepted) Unmarshal(b []byte) error { return unmarshalExact(b, a.decode) }

func (*Accepted) decode(d *decoder) error {
	f := d.composite(DescAccepted, "accepted")
	return f.done()
}

// Rejected is the outcome of a delivery found invalid. AMQP 1.0 §3.4.3.
type Rejected struct {
	Error *Error
}

// Descriptor returns DescRejected.
func (*Rejected) Descriptor() uint64 { return DescRejected }
func (*Rejected) deliveryState()     {}

// Marshal appends the encoding of r to b.
func (r *Rejected) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescRejected)
	c.marshal(r.Error, r.Error != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one rejected.
func (r *Rejected) Unmarshal(b []byte) error { return unmarshalExact(b, r.decode) }

func (r *Rejected) decode(d *decoder) error {
	*r = Rejected{}
	f := d.composite(DescRejected, "rejected")
	f.error(&r.Error, "error")
	return f.done()
}

// Released is the outcome of a delivery not (and never to be) processed at
// the receiver, to be redelivered. AMQP 1.0 §3.4.4.
type Released struct{}

// Descriptor returns DescReleased.
func (*Released) Descriptor() uint64 { return DescReleased }
func (*Released) deliveryState()     {}

// Marshal appends the encoding of released to b: 00 53 26 45.
func (*Released) Marshal(b []byte) ([]byte, error) {
	return append(b, codeDescribed, codeSmallUlong, byte(DescReleased), codeList0), nil
}

// Unmarshal decodes b, which must hold exactly one released.
func (r *Released) Unmarshal(b []byte) error { return unmarshalExact(b, r.decode) }

func (*Released) decode(d *decoder) error {
	f := d.composite(DescReleased, "released")
	return f.done()
}

// Modified is the outcome of a delivery modified at the receiver and to be
// redelivered (or not, with UndeliverableHere). AMQP 1.0 §3.4.5.
type Modified struct {
	DeliveryFailed     bool // absent decodes as false
	UndeliverableHere  bool // absent decodes as false
	MessageAnnotations Map  // annotations to merge into the message's
}

// Descriptor returns DescModified.
func (*Modified) Descriptor() uint64 { return DescModified }
func (*Modified) deliveryState()     {}

// Marshal appends the encoding of m to b.
func (m *Modified) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescModified)
	c.bool(m.DeliveryFailed, m.DeliveryFailed)
	c.bool(m.UndeliverableHere, m.UndeliverableHere)
	c.amap(m.MessageAnnotations)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one modified.
func (m *Modified) Unmarshal(b []byte) error { return unmarshalExact(b, m.decode) }

func (m *Modified) decode(d *decoder) error {
	*m = Modified{}
	f := d.composite(DescModified, "modified")
	f.bool(&m.DeliveryFailed, "delivery-failed", optional)
	f.bool(&m.UndeliverableHere, "undeliverable-here", optional)
	f.amap(&m.MessageAnnotations, "message-annotations")
	return f.done()
}

// Declare is the amqp-value body of a message sent to a coordinator to
// start a transaction. AMQP 1.0 §4.5.2. GlobalID is for distributed
// transactions, which mqgate does not support; nil is absent.
type Declare struct {
	GlobalID any
}

// Descriptor returns DescDeclare.
func (*Declare) Descriptor() uint64 { return DescDeclare }

// Marshal appends the encoding of x to b.
func (x *Declare) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescDeclare)
	c.value(x.GlobalID, x.GlobalID != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one declare.
func (x *Declare) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *Declare) decode(d *decoder) error {
	*x = Declare{}
	f := d.composite(DescDeclare, "declare")
	f.any(&x.GlobalID, "global-id", optional)
	return f.done()
}

// Discharge is the amqp-value body of a message sent to a coordinator to
// end a transaction: commit, or roll back when Fail is set.
// AMQP 1.0 §4.5.3.
type Discharge struct {
	TxnID []byte // mandatory
	Fail  bool
}

// Descriptor returns DescDischarge.
func (*Discharge) Descriptor() uint64 { return DescDischarge }

// Marshal appends the encoding of x to b.
func (x *Discharge) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescDischarge)
	c.binary(x.TxnID, true)
	c.bool(x.Fail, x.Fail)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one discharge.
func (x *Discharge) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *Discharge) decode(d *decoder) error {
	*x = Discharge{}
	f := d.composite(DescDischarge, "discharge")
	f.binary(&x.TxnID, "txn-id", mandatory)
	f.bool(&x.Fail, "fail", optional)
	return f.done()
}

// Declared is the outcome of a successful declare: the new transaction's
// id. AMQP 1.0 §4.5.5.
type Declared struct {
	TxnID []byte // mandatory
}

// Descriptor returns DescDeclared.
func (*Declared) Descriptor() uint64 { return DescDeclared }
func (*Declared) deliveryState()     {}

// Marshal appends the encoding of x to b.
func (x *Declared) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescDeclared)
	c.binary(x.TxnID, true)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one declared.
func (x *Declared) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *Declared) decode(d *decoder) error {
	*x = Declared{}
	f := d.composite(DescDeclared, "declared")
	f.binary(&x.TxnID, "txn-id", mandatory)
	return f.done()
}

// TransactionalState is the state of a delivery transferred or settled
// within a transaction, with its provisional outcome. AMQP 1.0 §4.5.6.
type TransactionalState struct {
	TxnID   []byte        // mandatory
	Outcome DeliveryState // an outcome; nil is absent
}

// Descriptor returns DescTransactionalState.
func (*TransactionalState) Descriptor() uint64 { return DescTransactionalState }
func (*TransactionalState) deliveryState()     {}

// Marshal appends the encoding of x to b.
func (x *TransactionalState) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescTransactionalState)
	c.binary(x.TxnID, true)
	c.marshal(x.Outcome, x.Outcome != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one transactional-state.
func (x *TransactionalState) Unmarshal(b []byte) error { return unmarshalExact(b, x.decode) }

func (x *TransactionalState) decode(d *decoder) error {
	*x = TransactionalState{}
	f := d.composite(DescTransactionalState, "transactional-state")
	f.binary(&x.TxnID, "txn-id", mandatory)
	f.state(&x.Outcome, "outcome")
	return f.done()
}

// DecodeInto decodes a value already decoded generically (for example a
// Message's amqp-value, a Described holding a declare or discharge) into
// dst, a typed composite such as *Declare or *Discharge. It re-encodes v, so
// it suits control messages, not the data path.
func DecodeInto(v any, dst Unmarshaler) error {
	b, err := AppendValue(nil, v)
	if err != nil {
		return err
	}
	return dst.Unmarshal(b)
}
