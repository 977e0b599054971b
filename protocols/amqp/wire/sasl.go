package wire

// SASLCode is the outcome of a SASL exchange. AMQP 1.0 §5.3.3.6.
type SASLCode uint8

// The SASL outcome codes.
const (
	SASLOK      SASLCode = 0 // authentication succeeded
	SASLAuth    SASLCode = 1 // bad credentials
	SASLSys     SASLCode = 2 // system error
	SASLSysPerm SASLCode = 3 // unrecoverable system error
	SASLSysTemp SASLCode = 4 // transient system error
)

// SASLMechanisms advertises the server's SASL mechanisms. AMQP 1.0
// §5.3.3.1. Mechanisms is mandatory: Marshal always sends it, as an array
// even when empty.
type SASLMechanisms struct {
	Mechanisms []Symbol
}

// Descriptor returns DescSASLMechanisms.
func (*SASLMechanisms) Descriptor() uint64 { return DescSASLMechanisms }

// Marshal appends the encoding of m to b.
func (m *SASLMechanisms) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSASLMechanisms)
	c.symbols(m.Mechanisms, true)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one sasl-mechanisms.
func (m *SASLMechanisms) Unmarshal(b []byte) error { return unmarshalExact(b, m.decode) }

func (m *SASLMechanisms) decode(d *decoder) error {
	*m = SASLMechanisms{}
	f := d.composite(DescSASLMechanisms, "sasl-mechanisms")
	f.symbols(&m.Mechanisms, "sasl-server-mechanisms", mandatory)
	return f.done()
}

// SASLInit selects a mechanism and carries the initial response.
// AMQP 1.0 §5.3.3.2.
type SASLInit struct {
	Mechanism       Symbol // mandatory
	InitialResponse []byte // nil is absent
	Hostname        string // "" is absent
}

// Descriptor returns DescSASLInit.
func (*SASLInit) Descriptor() uint64 { return DescSASLInit }

// Marshal appends the encoding of s to b.
func (s *SASLInit) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSASLInit)
	c.symbol(s.Mechanism, true)
	c.binary(s.InitialResponse, s.InitialResponse != nil)
	c.string(s.Hostname, s.Hostname != "")
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one sasl-init.
func (s *SASLInit) Unmarshal(b []byte) error { return unmarshalExact(b, s.decode) }

func (s *SASLInit) decode(d *decoder) error {
	*s = SASLInit{}
	f := d.composite(DescSASLInit, "sasl-init")
	f.symbol(&s.Mechanism, "mechanism", mandatory)
	f.binary(&s.InitialResponse, "initial-response", optional)
	f.string(&s.Hostname, "hostname", optional)
	return f.done()
}

// SASLChallenge carries a server challenge. AMQP 1.0 §5.3.3.3.
type SASLChallenge struct {
	Challenge []byte // mandatory
}

// Descriptor returns DescSASLChallenge.
func (*SASLChallenge) Descriptor() uint64 { return DescSASLChallenge }

// Marshal appends the encoding of s to b.
func (s *SASLChallenge) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSASLChallenge)
	c.binary(s.Challenge, true)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one sasl-challenge.
func (s *SASLChallenge) Unmarshal(b []byte) error { return unmarshalExact(b, s.decode) }

func (s *SASLChallenge) decode(d *decoder) error {
	*s = SASLChallenge{}
	f := d.composite(DescSASLChallenge, "sasl-challenge")
	f.binary(&s.Challenge, "challenge", mandatory)
	return f.done()
}

// SASLResponse carries a client response. AMQP 1.0 §5.3.3.4.
type SASLResponse struct {
	Response []byte // mandatory
}

// Descriptor returns DescSASLResponse.
func (*SASLResponse) Descriptor() uint64 { return DescSASLResponse }

// Marshal appends the encoding of s to b.
func (s *SASLResponse) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSASLResponse)
	c.binary(s.Response, true)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one sasl-response.
func (s *SASLResponse) Unmarshal(b []byte) error { return unmarshalExact(b, s.decode) }

func (s *SASLResponse) decode(d *decoder) error {
	*s = SASLResponse{}
	f := d.composite(DescSASLResponse, "sasl-response")
	f.binary(&s.Response, "response", mandatory)
	return f.done()
}

// SASLOutcome ends the SASL exchange. AMQP 1.0 §5.3.3.5.
type SASLOutcome struct {
	Code           SASLCode // mandatory
	AdditionalData []byte   // nil is absent
}

// Descriptor returns DescSASLOutcome.
func (*SASLOutcome) Descriptor() uint64 { return DescSASLOutcome }

// Marshal appends the encoding of s to b.
func (s *SASLOutcome) Marshal(b []byte) ([]byte, error) {
	c := compose(b, DescSASLOutcome)
	c.ubyte(uint8(s.Code), true)
	c.binary(s.AdditionalData, s.AdditionalData != nil)
	return c.finish()
}

// Unmarshal decodes b, which must hold exactly one sasl-outcome.
func (s *SASLOutcome) Unmarshal(b []byte) error { return unmarshalExact(b, s.decode) }

func (s *SASLOutcome) decode(d *decoder) error {
	*s = SASLOutcome{}
	f := d.composite(DescSASLOutcome, "sasl-outcome")
	f.ubyte((*uint8)(&s.Code), "code", mandatory)
	f.binary(&s.AdditionalData, "additional-data", optional)
	return f.done()
}
