package backend

// DefaultPriority is the JMS default priority.
const DefaultPriority = 4

// Prop is a user property: a STOMP user header or an AMQP
// application-property. Value is a string, bool, int64, float64 or []byte.
type Prop struct {
	Name  string
	Value any
}

// Message is what producers publish and consumers receive. The broker owns a
// Message once Publish is called: it is shared by every delivery and must not
// be modified afterwards by anyone.
type Message struct {
	ID         string      // broker-assigned unless the producer set one
	Seq        uint64      // broker-assigned; the store's record ID
	Dest       Destination // where it was published
	ReplyTo    Destination
	Body       []byte
	Text       bool // a text body (STOMP: no content-length; AMQP: amqp-value string)
	Persistent bool
	Priority   uint8 // 0–9
	Timestamp  int64 // unix milliseconds, set by Publish when zero
	Expiration int64 // unix milliseconds; 0 never expires
	// ContentType, CorrelationID, Type: the usual message headers.
	ContentType   string
	CorrelationID string
	Type          string
	GroupID       string
	GroupSeq      int32
	Props         []Prop
	// BrokerPath lists the brokers the message crossed (network loop prevention).
	BrokerPath []string
	// PriorDeliveries counts the times brokers it came from (a network
	// bridge forwarded it) had delivered it: its deliveries here start
	// from there, so that a message delivered, unacknowledged, before its
	// broker failed comes to consumers elsewhere flagged redelivered. Not
	// stored: after a restart only the deliveries made here count.
	PriorDeliveries uint32
	// Resent says a failover producer sent it again (PropResend); the
	// protocol front-ends set it. Its deliveries here count from at least
	// one. Not stored.
	Resent bool
	// ProducerID identifies the publishing connection (no-local, audit).
	ProducerID string
}

// PropResend is the property ("true") with which a failover client marks
// a message it sends again after a failover (cluster/failover
// HeaderResend). A broker that stores it (its producer audit did not know
// the original: another broker of a network) delivers it flagged
// redelivered, since a consumer may have had the original; the protocol
// front-ends set Message.Resent for it.
const PropResend = "mqgate-resend"

// priorDeliveries is how many deliveries m counts from when it is queued
// here: the peers' (PriorDeliveries), and at least one for a resend.
func (m *Message) priorDeliveries() uint32 {
	if m.Resent {
		return max(m.PriorDeliveries, 1)
	}
	return m.PriorDeliveries
}

// Prop returns the value of the user property name.
func (m *Message) Prop(name string) (any, bool) {
	for i := range m.Props {
		if m.Props[i].Name == name {
			return m.Props[i].Value, true
		}
	}
	return nil, false
}

// Expired reports whether m has expired at nowMillis.
func (m *Message) Expired(nowMillis int64) bool {
	return m.Expiration > 0 && nowMillis >= m.Expiration
}
