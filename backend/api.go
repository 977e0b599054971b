package backend

import (
	"errors"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// Sink receives a subscription's deliveries. Protocol sessions and network
// bridges implement it.
type Sink interface {
	// Deliver hands d to the consumer. It is called with the queue's lock
	// held, so it must not block and must not call back into the broker; it
	// queues d for the connection's writer. The Message is shared and
	// read-only.
	Deliver(d Delivery)
}

// Delivery is one hand-over of a message to a subscription.
type Delivery struct {
	Msg *Message
	Sub *Subscription
	// Tag identifies the delivery for Settle; unique within Sub.
	Tag uint64
	// Count is how many times the message was delivered before this one;
	// non-zero means redelivered.
	Count uint32
	// FirstForGroup marks the message that (re)assigned its message group
	// to this consumer (ActiveMQ's JMSXGroupFirstForConsumer).
	FirstForGroup bool
	// RecordedAt, when not 0, is the position of the record marking the
	// message delivered: pass it to Broker.WaitRecorded before the
	// delivery leaves the broker.
	RecordedAt uint64
}

// Redelivered reports whether the message was delivered before.
func (d Delivery) Redelivered() bool { return d.Count > 0 }

// Outcome is how a consumer settles a delivery (AMQP 1.0 §3.4 outcomes).
type Outcome uint8

// Outcomes.
const (
	// Accepted: consumed; the message is removed.
	Accepted Outcome = iota + 1
	// Rejected: poison; the message goes to the dead-letter queue.
	Rejected
	// Released: not processed; redelivered, possibly to another consumer,
	// without counting as a failed delivery.
	Released
	// Failed: processing failed (AMQP modified delivery-failed, STOMP NACK
	// requeue); redelivered, or dead-lettered past the redelivery limit.
	Failed
	// Unknown: the outcome was lost (a network bridge's connection broke
	// after the message went out): redelivered, and flagged redelivered,
	// since the peer may have it; counted as a delivery, not a failure. A
	// queue message a network subscription settles so is in doubt
	// (network.go).
	Unknown
)

// SubscribeOptions describe a subscription.
type SubscribeOptions struct {
	// Dest is the destination consumed. A queue name with wildcards
	// ("orders.>", "orders.*.eu": '*' one '.'-separated element, '>' the
	// rest) consumes from every queue it matches, those that exist and
	// those created later (ActiveMQ's wildcard consumer): the
	// subscription competes with each queue's other consumers, its credit
	// is shared by all of them, and a settlement goes back to the queue
	// the delivery came from. A queue whose name is itself a pattern
	// feeds only the identical pattern. A topic pattern is a wildcard
	// topic subscription.
	Dest Destination
	// Composite lists more destinations that feed this one subscription
	// along with Dest (ActiveMQ's composite destination: STOMP SUBSCRIBE
	// to "/queue/a,/queue/b"). Members may be queues, queue patterns,
	// topics and temporary destinations (each checked as if subscribed
	// alone); the selector, priority, exclusivity, redelivery overrides
	// and credit apply across them, as for a wildcard. A composite cannot
	// be durable or browse. Deliveries carry the concrete destination in
	// Msg.Dest.
	Composite []Destination
	// Credit is the initial number of deliveries the sink may receive
	// unsettled (prefetch, link credit). More comes with AddCredit.
	Credit int
	// AutoAck settles every delivery as Accepted when it is handed to the
	// sink (STOMP ack:auto, AMQP pre-settled). Credit is still consumed.
	AutoAck bool
	// Owner identifies the subscribing connection (no-local, temp queues).
	Owner string
	// NoLocal skips topic messages published by Owner.
	NoLocal bool
	// ClientID and DurableName make a durable topic subscription.
	ClientID    string
	DurableName string
	// Priority orders consumers of one queue (higher first). Network bridges
	// subscribe below local consumers.
	Priority int
	// Exclusive asks to be the queue's only consumer (ActiveMQ's exclusive
	// consumer): the exclusive consumer of highest priority gets every
	// message while it is attached; the others wait.
	Exclusive bool
	// Selector is a JMS message selector; only matching messages are
	// delivered. Empty takes all.
	Selector string
	// SelectorConvertStrings compares string properties with numbers as
	// numbers (ActiveMQ does this for STOMP subscriptions, whose
	// properties are all strings).
	SelectorConvertStrings bool
	// MaxRedeliveries overrides the broker's redelivery limit for this
	// subscription when non-nil; -1 is unlimited.
	MaxRedeliveries *int
	// RedeliveryDelay overrides the broker's redelivery delay for this
	// subscription when non-nil.
	RedeliveryDelay *time.Duration
	// Browse reads a queue without consuming (ActiveMQ's queue browser):
	// Subscribe hands the sink every message waiting now, in dispatch
	// order and matching the selector, as deliveries that need no
	// settlement, then calls BrowseDone if the sink has it. The returned
	// subscription is already closed.
	Browse bool
	// Network marks a network bridge's subscription (see network.go): it
	// is not consumer demand (LocalDemand leaves it out, so a bridge never
	// re-advertises what it forwards), and it subscribes below local
	// consumers by its Priority.
	Network bool
	// Filter, when set, is asked whether the subscription may take m,
	// after the selector; arrived is when m reached this broker over a
	// network (unix ms; 0 when unknown or published here). It runs under
	// the queue's lock and must not block or call into the broker.
	// Network bridges use it for loop prevention (broker path, network
	// TTL). A topic subscription skips the messages it refuses; a queue
	// keeps them for its other consumers.
	Filter func(m *Message, arrived int64) bool
}

// BrowseDoner is implemented by sinks that want to know when a browse
// (SubscribeOptions.Browse) has handed over every message.
type BrowseDoner interface {
	BrowseDone()
}

// Durable reports whether the options ask for a durable topic subscription.
func (o *SubscribeOptions) Durable() bool { return o.DurableName != "" }

// Errors callers branch on.
var (
	// ErrNoDestination: a temporary destination that does not exist (its
	// connection closed) or a subscription that was removed.
	ErrNoDestination = errors.New("destination does not exist")
	// ErrSubscriptionActive: a durable subscription already has a consumer.
	ErrSubscriptionActive = errors.New("durable subscription already in use")
	// ErrClosed: the broker or subscription is closed.
	ErrClosed = errors.New("closed")
	// ErrUnknownDelivery: a settlement names a tag that is not outstanding.
	ErrUnknownDelivery = errors.New("unknown delivery")
	// ErrStoreFull: the store reached its size limit; the message was not
	// accepted (store.ErrFull, for front-ends, which do not import stores).
	ErrStoreFull = store.ErrFull
	// ErrNotOwner: a temporary destination used by a connection that does
	// not own it for consumption.
	ErrNotOwner = errors.New("temporary destination belongs to another connection")
)
