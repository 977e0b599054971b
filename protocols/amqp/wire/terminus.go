package wire

// TerminusDurability is what state of a terminus is retained durably.
// AMQP 1.0 §3.5.5.
type TerminusDurability uint32

// The terminus durabilities.
const (
	DurableNone           TerminusDurability = 0 // the default
	DurableConfiguration  TerminusDurability = 1
	DurableUnsettledState TerminusDurability = 2
)

// Terminus expiry policies. AMQP 1.0 §3.5.6.
const (
	ExpiryLinkDetach      Symbol = "link-detach"
	ExpirySessionEnd      Symbol = "session-end" // the default
	ExpiryConnectionClose Symbol = "connection-close"
	ExpiryNever           Symbol = "never"
)

// Distribution modes. AMQP 1.0 §3.5.7.
const (
	DistMove Symbol = "move"
	DistCopy Symbol = "copy"
)

// Source is the source terminus of a link. AMQP 1.0 §3.5.3.
//
// Unmarshal fills absent fields with their defaults (Durable DurableNone,
// ExpiryPolicy ExpirySessionEnd, Timeout 0, Dynamic false); Marshal omits
// fields equal to them ("" ExpiryPolicy counts as the default).
type Source struct {
	Address               string // address-string; "" is absent
	Durable               TerminusDurability
	ExpiryPolicy          Symbol
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	DistributionMode      Symbol // "" is absent
	// Filter is the filter-set: symbol keys to described filters (or
	// null). See Selector and NoLocal. AMQP 1.0 §3.5.8.
	Filter         Map
	DefaultOutcome DeliveryState
	Outcomes       []Symbol
	Capabilities   []Symbol
}

// Marshal appends the encoding of s to b.
func (s *Source) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSource)
	c.string(s.Address, s.Address != "")
	c.uint(uint32(s.Durable), s.Durable != DurableNone)
	c.symbol(s.ExpiryPolicy, s.ExpiryPolicy != "" && s.ExpiryPolicy != ExpirySessionEnd)
	c.uint(s.Timeout, s.Timeout != 0)
	c.bool(s.Dynamic, s.Dynamic)
	c.amap(s.DynamicNodeProperties)
	c.symbol(s.DistributionMode, s.DistributionMode != "")
	c.amap(s.Filter)
	c.marshal(s.DefaultOutcome, s.DefaultOutcome != nil)
	c.symbols(s.Outcomes, false)
	c.symbols(s.Capabilities, false)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one source.
func (s *Source) Unmarshal(b []byte) error { return unmarshalExact(b, s.decode) }

func (s *Source) decode(d *decoder) error {
	*s = Source{ExpiryPolicy: ExpirySessionEnd}
	f := d.composite(DescSource, "source")
	f.string(&s.Address, "address", optional)
	f.durability(&s.Durable)
	f.symbol(&s.ExpiryPolicy, "expiry-policy", optional)
	f.uint(&s.Timeout, "timeout", optional)
	f.bool(&s.Dynamic, "dynamic", optional)
	f.amap(&s.DynamicNodeProperties, "dynamic-node-properties")
	f.symbol(&s.DistributionMode, "distribution-mode", optional)
	f.amap(&s.Filter, "filter")
	f.state(&s.DefaultOutcome, "default-outcome")
	f.symbols(&s.Outcomes, "outcomes", optional)
	f.symbols(&s.Capabilities, "capabilities", optional)
	return f.done()
}

// durability reads a terminus-durability field.
func (f *fields) durability(dst *TerminusDurability) {
	if !f.next() {
		return
	}
	start := f.d.off
	v, ok, err := f.d.readUint()
	if err == nil && v > uint32(DurableUnsettledState) {
		err = failAt(start, "value out of range")
	}
	if ok && err == nil {
		*dst = TerminusDurability(v)
	}
	f.check("durable", ok, false, err)
}

// Selector returns the JMS selector of the source's filter-set: the value
// of the entry described by DescSelectorFilter or SymSelectorFilter,
// whatever its key (Qpid JMS uses "jms-selector").
func (s *Source) Selector() (string, bool) {
	for _, e := range s.Filter {
		if f, ok := e.Value.(Described); ok && isFilter(f, DescSelectorFilter) {
			sel, ok := f.Value.(string)
			return sel, ok
		}
	}
	return "", false
}

// NoLocal reports whether the source's filter-set holds a no-local filter
// (DescNoLocalFilter or SymNoLocalFilter; its value is not interpreted).
func (s *Source) NoLocal() bool {
	for _, e := range s.Filter {
		if f, ok := e.Value.(Described); ok && isFilter(f, DescNoLocalFilter) {
			return true
		}
	}
	return false
}

// isFilter reports whether f's descriptor is code, numeric or symbolic.
func isFilter(f Described, code uint64) bool {
	c, ok := DescriptorCode(f.Descriptor)
	return ok && c == code
}

// SelectorFilter returns a filter-set entry value for a JMS selector.
func SelectorFilter(selector string) Described {
	return Described{Descriptor: DescSelectorFilter, Value: selector}
}

// NoLocalFilter returns a filter-set entry value for no-local, with the
// value Qpid JMS sends.
func NoLocalFilter() Described {
	return Described{Descriptor: DescNoLocalFilter, Value: "NoLocalFilter{}"}
}

// Target is the target terminus of a link. AMQP 1.0 §3.5.4. Defaults are
// handled as for Source.
type Target struct {
	Address               string // address-string; "" is absent
	Durable               TerminusDurability
	ExpiryPolicy          Symbol
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	Capabilities          []Symbol
}

// Marshal appends the encoding of t to b.
func (t *Target) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescTarget)
	c.string(t.Address, t.Address != "")
	c.uint(uint32(t.Durable), t.Durable != DurableNone)
	c.symbol(t.ExpiryPolicy, t.ExpiryPolicy != "" && t.ExpiryPolicy != ExpirySessionEnd)
	c.uint(t.Timeout, t.Timeout != 0)
	c.bool(t.Dynamic, t.Dynamic)
	c.amap(t.DynamicNodeProperties)
	c.symbols(t.Capabilities, false)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one target.
func (t *Target) Unmarshal(b []byte) error { return unmarshalExact(b, t.decode) }

func (t *Target) decode(d *decoder) error {
	*t = Target{ExpiryPolicy: ExpirySessionEnd}
	f := d.composite(DescTarget, "target")
	f.string(&t.Address, "address", optional)
	f.durability(&t.Durable)
	f.symbol(&t.ExpiryPolicy, "expiry-policy", optional)
	f.uint(&t.Timeout, "timeout", optional)
	f.bool(&t.Dynamic, "dynamic", optional)
	f.amap(&t.DynamicNodeProperties, "dynamic-node-properties")
	f.symbols(&t.Capabilities, "capabilities", optional)
	return f.done()
}

// Transaction capabilities. AMQP 1.0 §4.5.7.
const (
	TxnLocal           Symbol = "amqp:local-transactions"
	TxnDistributed     Symbol = "amqp:distributed-transactions"
	TxnPromotable      Symbol = "amqp:promotable-transactions"
	TxnMultiTxnsPerSsn Symbol = "amqp:multi-txns-per-ssn"
	TxnMultiSsnsPerTxn Symbol = "amqp:multi-ssns-per-txn"
)

// Coordinator is the target of a transaction controller's link.
// AMQP 1.0 §4.5.1.
type Coordinator struct {
	Capabilities []Symbol
}

// Marshal appends the encoding of c to b.
func (co *Coordinator) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescCoordinator)
	c.symbols(co.Capabilities, false)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one coordinator.
func (co *Coordinator) Unmarshal(b []byte) error { return unmarshalExact(b, co.decode) }

func (co *Coordinator) decode(d *decoder) error {
	*co = Coordinator{}
	f := d.composite(DescCoordinator, "coordinator")
	f.symbols(&co.Capabilities, "capabilities", optional)
	return f.done()
}
