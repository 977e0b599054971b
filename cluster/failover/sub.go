package failover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/Azure/go-amqp"
)

// AckMode says how a subscription's messages are acknowledged.
type AckMode int

// Ack modes.
const (
	// AckAuto: the broker considers a message consumed once it sent it
	// (STOMP ack:auto, AMQP pre-settled deliveries). A message in flight
	// when a connection fails is lost.
	AckAuto AckMode = iota
	// AckClient: Ack acknowledges the message and every earlier one of
	// the subscription (STOMP ack:client, ActiveMQ's cumulative ack;
	// over AMQP each of them is accepted).
	AckClient
	// AckIndividual: Ack acknowledges one message (STOMP
	// ack:client-individual, AMQP accepted).
	AckIndividual
)

// String returns the STOMP ack header value of m.
func (m AckMode) String() string {
	switch m {
	case AckAuto:
		return "auto"
	case AckClient:
		return "client"
	case AckIndividual:
		return "client-individual"
	}
	return "AckMode(" + strconv.Itoa(int(m)) + ")"
}

// SubOptions configure a subscription.
type SubOptions struct {
	// Ack is the acknowledgement mode.
	Ack AckMode
	// Prefetch is how many unacknowledged messages the broker may push
	// (STOMP activemq.prefetchSize, AMQP link credit) and the size of the
	// receive buffer. 0 means the broker's default over STOMP and
	// DefaultPrefetch over AMQP.
	Prefetch int
	// Durable names a durable topic subscription (STOMP
	// activemq.subscriptionName, AMQP link name with a durable source that
	// never expires); it needs Options.ClientID. After a failover the
	// subscription is made again by this name, so a broker that kept it
	// (the same broker, or one sharing its store) delivers what was
	// published meanwhile.
	Durable string
	// Selector is a JMS (SQL-92) message selector.
	Selector string
}

// Message is a message received on a subscription.
type Message struct {
	// ID is the broker's message-id.
	ID string
	// Destination is where it was sent, in the STOMP form (/queue/x,
	// /topic/x) when the broker's AMQP address maps to one.
	Destination string
	// Body is the payload; it belongs to the caller.
	Body []byte
	// ContentType is the content-type, if any.
	ContentType string
	// Persistent reports a persistent message.
	Persistent bool
	// Redelivered reports a message the broker delivered before (STOMP
	// redelivered:true; AMQP delivery-count > 0): after a failover,
	// possibly one this client received and could not acknowledge.
	Redelivered bool
	// DeliveryCount is the number of earlier deliveries (AMQP
	// delivery-count; STOMP JMSXDeliveryCount - 1 when the broker sends
	// it, else 1 or 0 by Redelivered).
	DeliveryCount uint32
	// Props are the user properties: over STOMP every header but the
	// frame's own (subscription, ack, message-id, destination,
	// content-type, content-length), over AMQP the application-properties.
	Props map[string]any
	// ProducerID and ProducerSeq are the mqgate-producer-id and
	// mqgate-producer-seq of a message sent by a failover Conn ("" and 0
	// otherwise).
	ProducerID  string
	ProducerSeq uint64

	sub   *Subscription
	t     transport     // the connection it came on
	ackID string        // STOMP: the ack header (1.2) or the message-id (1.1)
	amqp  *amqp.Message // AMQP: the delivery to settle
	recv  *amqpRecv     // AMQP: the receiver it came on
}

// Header returns property name in text form, or "".
func (m *Message) Header(name string) string {
	v, ok := m.Props[name]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// setProducer fills ProducerID and ProducerSeq from Props.
func (m *Message) setProducer() {
	if v, ok := m.Props[HeaderProducerID]; ok {
		m.ProducerID = fmt.Sprint(v)
	}
	switch v := m.Props[HeaderProducerSeq].(type) {
	case string:
		m.ProducerSeq, _ = strconv.ParseUint(v, 10, 64)
	case int64:
		if v > 0 {
			m.ProducerSeq = uint64(v)
		}
	case uint64:
		m.ProducerSeq = v
	case int32:
		if v > 0 {
			m.ProducerSeq = uint64(v)
		}
	}
}

// Subscription receives the messages of one destination through every
// failover. Its methods are safe for concurrent use.
type Subscription struct {
	c    *Conn
	id   string // the STOMP subscription id, stable across reconnects
	dest string
	opts SubOptions
	ch   chan *Message // the receive buffer, filled by the live transport

	endOnce sync.Once
	done    chan struct{} // closed when the subscription has ended
	err     error         // why it ended, set before done is closed
}

// Subscribe subscribes to dest (see Send for the forms) and returns once
// the broker confirmed it (a STOMP RECEIPT, an AMQP attach). While the
// Conn reconnects it waits for the next broker, until ctx ends. A
// subscription the broker refuses (a bad selector, a durable subscription
// in use) is a *BrokerError; over STOMP the broker then closes the
// connection, and the Conn fails over as for any loss.
//
// Deliveries wait in a buffer of Prefetch messages (DefaultPrefetch when
// 0) until Receive takes them. Over STOMP a full buffer stops the reading
// of the whole connection, receipts included, until Receive makes room:
// with AckAuto (where the broker does not wait for acks) keep receiving
// from a goroutine of its own, or use separate Conns to send and receive.
func (c *Conn) Subscribe(ctx context.Context, dest string, opts SubOptions) (*Subscription, error) {
	if dest == "" {
		return nil, errors.New("failover: empty destination")
	}
	if opts.Durable != "" && c.opts.ClientID == "" {
		return nil, errors.New("failover: a durable subscription needs Options.ClientID")
	}
	if opts.Prefetch < 0 {
		return nil, fmt.Errorf("failover: negative prefetch %d", opts.Prefetch)
	}
	buf := opts.Prefetch
	if buf == 0 {
		buf = DefaultPrefetch
	}
	c.mu.Lock()
	c.subSeq++
	s := &Subscription{c: c, id: "sub-" + strconv.Itoa(c.subSeq), dest: dest, opts: opts,
		ch: make(chan *Message, buf), done: make(chan struct{})}
	c.mu.Unlock()
	for {
		if err := c.lockCh(ctx, c.subLock); err != nil {
			return nil, err
		}
		c.mu.Lock()
		t, wait := c.cur, c.stateCh
		if c.closed && c.err == nil {
			c.mu.Unlock()
			<-c.subLock
			return nil, ErrClosed
		}
		c.mu.Unlock()
		if t != nil {
			err := t.subscribe(ctx, s)
			if err == nil {
				c.mu.Lock()
				c.subs = append(c.subs, s)
				c.mu.Unlock()
				<-c.subLock
				return s, nil
			}
			<-c.subLock
			var be *BrokerError
			if errors.As(err, &be) || ctx.Err() != nil {
				return nil, err
			}
			// The transport failed: wait for the next one.
		} else {
			<-c.subLock
		}
		select {
		case <-wait: // cur changed
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.Err()
		}
	}
}

// Destination returns the destination subscribed to.
func (s *Subscription) Destination() string { return s.dest }

// Done is closed when the subscription has ended (Close, the Conn ended,
// or the broker ended it).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Receive returns the next message, blocking until one arrives, ctx ends,
// or the subscription ends (its error: ErrClosed, the Conn's error, or a
// *BrokerError). With AckClient and AckIndividual, messages that came on a
// connection lost since are dropped rather than returned: they cannot be
// acknowledged any more, and the broker redelivers them.
func (s *Subscription) Receive(ctx context.Context) (*Message, error) {
	for {
		select {
		case m := <-s.ch:
			if s.stale(m) {
				continue
			}
			return m, nil
		default:
		}
		select {
		case m := <-s.ch:
			if s.stale(m) {
				continue
			}
			return m, nil
		case <-s.done:
			return nil, s.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// stale reports a message that needs an ack and came on a lost connection.
func (s *Subscription) stale(m *Message) bool {
	return s.opts.Ack != AckAuto && m.lost()
}

// lost reports whether the connection m came on has failed or closed.
func (m *Message) lost() bool {
	select {
	case <-m.t.done():
		return true
	default:
		return false
	}
}

// dropStale empties the receive buffer of messages that need an ack (all
// of them came on lost connections): the reconnection calls it before
// subscribing again.
func (s *Subscription) dropStale() {
	if s.opts.Ack == AckAuto {
		return
	}
	for {
		select {
		case <-s.ch:
		default:
			return
		}
	}
}

// push hands m to the receive buffer, blocking while it is full, until the
// subscription ends or stop is closed (its transport failed).
func (s *Subscription) push(m *Message, stop <-chan struct{}) bool {
	select {
	case s.ch <- m:
		return true
	case <-s.done:
		return false
	case <-stop:
		return false
	}
}

// end ends the subscription with err, once.
func (s *Subscription) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// outcome is how a message is settled.
type outcome int

const (
	accepted outcome = iota // processed
	rejected                // poison: to the dead-letter queue
	released                // not processed: deliver again
)

// Ack acknowledges m (and with AckClient every earlier message of the
// subscription); with AckAuto it does nothing. It returns once the ack is
// written, without waiting for the broker. A message that came on a lost
// connection is not acknowledged: the result is ErrStaleAck, and the
// broker redelivers it flagged as redelivered.
func (s *Subscription) Ack(ctx context.Context, m *Message) error {
	return s.settle(ctx, m, accepted)
}

// Nack tells the broker m cannot be processed: STOMP NACK (ActiveMQ moves
// it to the dead-letter queue), AMQP rejected.
func (s *Subscription) Nack(ctx context.Context, m *Message) error {
	return s.settle(ctx, m, rejected)
}

// Release gives m back for redelivery: STOMP NACK with requeue:true
// (mqgate), AMQP modified with delivery-failed.
func (s *Subscription) Release(ctx context.Context, m *Message) error {
	return s.settle(ctx, m, released)
}

func (s *Subscription) settle(ctx context.Context, m *Message, o outcome) error {
	if m == nil || m.sub != s {
		return errors.New("failover: the message was not received on this subscription")
	}
	if s.opts.Ack == AckAuto {
		if o == accepted {
			return nil
		}
		return errors.New("failover: an ack:auto subscription cannot nack or release")
	}
	if m.lost() {
		return fmt.Errorf("%w (message %s)", ErrStaleAck, m.ID)
	}
	if err := m.t.settle(ctx, m, o); err != nil {
		if errors.Is(err, errLost) || m.lost() {
			return fmt.Errorf("%w (message %s): %w", ErrStaleAck, m.ID, err)
		}
		return err
	}
	return nil
}

// errLost marks a settlement that failed because the connection or link
// the message came on is gone.
var errLost = errors.New("the delivery's connection is gone")

// Close unsubscribes (STOMP UNSUBSCRIBE, which keeps a durable
// subscription; AMQP detach, which with go-amqp always closes the link and
// so removes a durable subscription) and ends the subscription: Receive
// returns ErrClosed.
func (s *Subscription) Close(ctx context.Context) error {
	c := s.c
	if err := c.lockCh(ctx, c.subLock); err != nil {
		s.end(ErrClosed)
		return nil
	}
	defer func() { <-c.subLock }()
	c.mu.Lock()
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i:i], c.subs[i+1:]...)
			break
		}
	}
	t := c.cur
	c.mu.Unlock()
	s.end(ErrClosed)
	if t == nil {
		return nil
	}
	if err := t.unsubscribe(ctx, s); err != nil {
		select {
		case <-t.done():
			return nil // the connection is gone, and the subscription with it
		default:
		}
		return err
	}
	return nil
}

// fail ends s with err because the broker ended it, and forgets it.
func (s *Subscription) fail(err error) {
	c := s.c
	c.mu.Lock()
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i:i], c.subs[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	s.end(err)
}
