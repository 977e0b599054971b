package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/go-amqp"
)

// amqpTransport is one AMQP 1.0 connection over github.com/Azure/go-amqp,
// with one session: a sender link per destination, created on first use,
// whose unsettled transfers are pipelined and whose dispositions a waiter
// goroutine per link collects in order; a receiver link per subscription,
// whose deliveries a pump goroutine per link hands to the subscription.
type amqpTransport struct {
	c      *Conn
	b      Broker
	conn   *amqp.Conn
	sess   *amqp.Session
	queueP string // the queue-prefix the broker announced, or ""
	topicP string // the topic-prefix the broker announced, or ""
	list   []Broker

	life   context.Context // ends when the transport fails or closes
	cancel context.CancelFunc

	mu      sync.Mutex
	senders map[string]*amqpSender      // by destination; guarded by mu
	recvs   map[*Subscription]*amqpRecv // guarded by mu

	failOnce sync.Once
	doneCh   chan struct{}
	failErr  error // set before doneCh is closed
}

// amqpSender is a sender link and the queue of its unsettled transfers.
type amqpSender struct {
	snd      *amqp.Sender
	inflight chan amqpInflight // capacity Options.SendWindow, so that send never blocks on it
}

type amqpInflight struct {
	r  *Receipt
	rc amqp.SendReceipt
}

// amqpRecv is a receiver link of a subscription.
type amqpRecv struct {
	r       *amqp.Receiver
	s       *Subscription
	mu      sync.Mutex
	unacked []*Message // AckClient: deliveries not yet accepted, in order; guarded by mu
	closing bool       // guarded by mu
}

var _ transport = (*amqpTransport)(nil)

// dialAMQP connects to b: TCP, SASL (PLAIN with a login, else ANONYMOUS),
// open (AMQP 1.0 §2.7.1; the broker's open properties give the address
// prefixes and failover-server-list) and one session.
func dialAMQP(ctx context.Context, c *Conn, b Broker) (*amqpTransport, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		return nil, err
	}
	host := c.opts.Host
	if host == "" {
		host, _, _ = net.SplitHostPort(b.Addr)
	}
	opts := &amqp.ConnOptions{
		ContainerID: c.opts.ClientID,
		HostName:    host,
		SASLType:    amqp.SASLTypeAnonymous(),
	}
	if opts.ContainerID == "" {
		opts.ContainerID = "mqgate-failover-" + c.producerID
	}
	if c.opts.Heartbeat > 0 {
		opts.IdleTimeout = 2 * c.opts.Heartbeat
	} else {
		opts.IdleTimeout = -1
	}
	if login, pass := c.credentials(b); login != "" {
		opts.SASLType = amqp.SASLTypePlain(login, pass)
	}
	conn, err := amqp.NewConn(ctx, nc, opts)
	if err != nil {
		nc.Close()
		if re := amqpRedirect(b, err); re != nil {
			return nil, re
		}
		return nil, err
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		if re := amqpRedirect(b, err); re != nil {
			// A broker may answer open with a close that redirects (as
			// Artemis does).
			return nil, re
		}
		return nil, fmt.Errorf("begin session: %w", err)
	}
	t := &amqpTransport{
		c: c, b: b, conn: conn, sess: sess,
		senders: map[string]*amqpSender{},
		recvs:   map[*Subscription]*amqpRecv{},
		doneCh:  make(chan struct{}),
	}
	t.life, t.cancel = context.WithCancel(context.Background())
	props := conn.Properties()
	t.queueP, _ = props["queue-prefix"].(string)
	t.topicP, _ = props["topic-prefix"].(string)
	list, errs := ParseAMQPServerList(props)
	for _, err := range errs {
		c.log.Debug().Err(err).Str("broker", b.String()).Msg("failover: ignoring a member of the announced broker list")
	}
	t.list = list
	go func() {
		select {
		case <-conn.Done():
			err := conn.Err()
			if err == nil {
				err = errors.New("connection closed")
			}
			t.fail(err)
		case <-t.doneCh:
		}
	}()
	return t, nil
}

func (t *amqpTransport) broker() Broker        { return t.b }
func (t *amqpTransport) servers() []Broker     { return t.list }
func (t *amqpTransport) done() <-chan struct{} { return t.doneCh }

func (t *amqpTransport) err() error {
	select {
	case <-t.doneCh:
		return t.failErr
	default:
		return nil
	}
}

// dead reports whether the transport has failed.
func (t *amqpTransport) dead() bool {
	select {
	case <-t.doneCh:
		return true
	default:
		return false
	}
}

// fail ends the transport with err, once. When the broker closed the
// connection with a redirect, that is the error, whichever link, session
// or waiter noticed the loss first: their errors follow the connection's.
func (t *amqpTransport) fail(err error) {
	t.failOnce.Do(func() {
		select {
		case <-t.conn.Done():
			if re := amqpRedirect(t.b, t.conn.Err()); re != nil {
				err = re
			}
		default:
		}
		t.failErr = err
		close(t.doneCh)
		t.cancel()
		_ = t.conn.Close()
	})
}

// address maps a destination to the broker's address and terminus
// capabilities: /queue/x and queue://x become the announced queue-prefix
// + x (plain x when none is announced, as Qpid JMS does) with the "queue"
// capability, topics likewise; anything else is used as it is.
func (t *amqpTransport) address(dest string) (string, []string) {
	for _, k := range [...]struct{ path, uri, prefix, cap string }{
		{"/queue/", "queue://", t.queueP, "queue"},
		{"/topic/", "topic://", t.topicP, "topic"},
	} {
		name, ok := strings.CutPrefix(dest, k.path)
		if !ok {
			name, ok = strings.CutPrefix(dest, k.uri)
		}
		if ok {
			return k.prefix + name, []string{k.cap}
		}
	}
	return dest, nil
}

// destination maps a message's to address back to the STOMP form.
func (t *amqpTransport) destination(to string) string {
	for _, k := range [...]struct{ prefix, path string }{
		{t.queueP, "/queue/"}, {t.topicP, "/topic/"}, {"queue://", "/queue/"}, {"topic://", "/topic/"},
	} {
		if k.prefix == "" {
			continue
		}
		if name, ok := strings.CutPrefix(to, k.prefix); ok {
			return k.path + name
		}
	}
	return to
}

// brokerError converts a go-amqp error carrying the broker's condition,
// or returns nil when err is not one.
func (t *amqpTransport) brokerError(err error) *BrokerError {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae != nil {
		return &BrokerError{Broker: t.b.String(), Condition: string(ae.Condition), Message: ae.Description}
	}
	return nil
}

// refusal classifies err, from an operation on a link: the broker's
// refusal (an AMQP error condition on the link or the transfer) is
// returned as a *BrokerError; anything else (the connection or session
// ended, a timeout waiting for the broker) is a failure of the transport,
// which it fails, and is returned as it is.
func (t *amqpTransport) refusal(err error) error {
	var ce *amqp.ConnError
	var se *amqp.SessionError
	if t.dead() || t.life.Err() != nil || errors.As(err, &ce) || errors.As(err, &se) {
		t.fail(err)
		return err
	}
	if be := t.brokerError(err); be != nil {
		return be
	}
	t.fail(fmt.Errorf("no answer from the broker: %w", err))
	return err
}

// sender returns the sender link of dest, attaching it on first use.
func (t *amqpTransport) sender(dest string) (*amqpSender, error) {
	t.mu.Lock()
	s := t.senders[dest]
	t.mu.Unlock()
	if s != nil {
		return s, nil
	}
	addr, caps := t.address(dest)
	ctx, cancel := context.WithTimeout(t.life, t.c.opts.ConnectTimeout)
	defer cancel()
	snd, err := t.sess.NewSender(ctx, addr, &amqp.SenderOptions{
		SettlementMode:     amqp.SenderSettleModeUnsettled.Ptr(),
		TargetCapabilities: caps,
	})
	if err != nil {
		return nil, err
	}
	s = &amqpSender{snd: snd, inflight: make(chan amqpInflight, t.c.opts.SendWindow)}
	t.mu.Lock()
	t.senders[dest] = s
	t.mu.Unlock()
	go t.waiter(s)
	return s, nil
}

// send transfers r's message unsettled and queues its receipt for the
// link's waiter.
func (t *amqpTransport) send(r *Receipt) error {
	s, err := t.sender(r.dest)
	if err != nil {
		err = t.refusal(err)
		if !isBrokerError(err) {
			return err
		}
		t.c.finish(r, err)
		return nil
	}
	msg := &amqp.Message{
		Data:   [][]byte{r.body},
		Header: &amqp.MessageHeader{Durable: r.opts.Persistent},
		ApplicationProperties: map[string]any{
			HeaderProducerID:  t.c.producerID,
			HeaderProducerSeq: int64(r.seq),
		},
	}
	if r.sends++; r.sends > 1 {
		msg.ApplicationProperties[HeaderResend] = true
	}
	if ct := r.opts.ContentType; ct != "" {
		msg.Properties = &amqp.MessageProperties{ContentType: &ct}
	}
	for k, v := range r.opts.Props {
		if !reservedProp(k) {
			msg.ApplicationProperties[k] = amqpValue(v)
		}
	}
	rc, err := s.snd.SendWithReceipt(t.life, msg, nil)
	if err != nil {
		err = t.refusal(err)
		if !isBrokerError(err) {
			return err
		}
		// The link failed while the connection lives: attach a new one
		// next time, and report the refusal.
		t.mu.Lock()
		delete(t.senders, r.dest)
		t.mu.Unlock()
		t.c.finish(r, err)
		return nil
	}
	select {
	case s.inflight <- amqpInflight{r: r, rc: rc}:
		return nil
	case <-t.doneCh:
		return t.failErr
	}
}

// isBrokerError reports whether err is a *BrokerError.
func isBrokerError(err error) bool {
	var be *BrokerError
	return errors.As(err, &be)
}

// amqpValue converts a property value to one the AMQP codec and the broker
// keep: integers become long, other types their text.
func amqpValue(v any) any {
	switch x := v.(type) {
	case string, bool, int64, float64, []byte, int32, float32:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= 1<<63-1 {
			return int64(x)
		}
	}
	return propText(v)
}

// waiter collects the dispositions of s's transfers in order and finishes
// their receipts: accepted is a confirmation, any other outcome a refusal.
// A link that fails while the connection lives fails the transport, so
// that the Conn sends the unconfirmed messages again on a new connection.
func (t *amqpTransport) waiter(s *amqpSender) {
	for {
		var in amqpInflight
		select {
		case in = <-s.inflight:
		case <-t.doneCh:
			return
		}
		state, err := in.rc.Wait(t.life)
		if err != nil {
			if !t.dead() {
				t.fail(fmt.Errorf("sender link %s: %w", s.snd.Address(), err))
			}
			return
		}
		switch st := state.(type) {
		case *amqp.StateAccepted:
			t.c.finish(in.r, nil)
		case *amqp.StateRejected:
			be := &BrokerError{Broker: t.b.String(), Condition: "rejected"}
			if st.Error != nil {
				be.Condition, be.Message = string(st.Error.Condition), st.Error.Description
			}
			t.c.finish(in.r, be)
		default:
			t.c.finish(in.r, &BrokerError{Broker: t.b.String(), Message: fmt.Sprintf("outcome %T", state)})
		}
	}
}

func (t *amqpTransport) subscribe(ctx context.Context, s *Subscription) error {
	addr, caps := t.address(s.dest)
	credit := s.opts.Prefetch
	if credit == 0 {
		credit = DefaultPrefetch
	}
	ro := &amqp.ReceiverOptions{
		Credit:             int32(min(credit, 1<<31-1)),
		SourceCapabilities: caps,
		SettlementMode:     amqp.ReceiverSettleModeFirst.Ptr(),
	}
	if s.opts.Ack == AckAuto {
		ro.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	}
	if s.opts.Durable != "" {
		// Qpid JMS's durable subscription: the link name under the
		// container-id, a durable source that never expires.
		ro.Name = s.opts.Durable
		ro.SourceDurability = amqp.DurabilityUnsettledState
		ro.SourceExpiryPolicy = amqp.ExpiryPolicyNever
	}
	if s.opts.Selector != "" {
		ro.Filters = []amqp.LinkFilter{amqp.NewSelectorFilter(s.opts.Selector)}
	}
	r, err := t.sess.NewReceiver(ctx, addr, ro)
	if err != nil {
		if ctx.Err() != nil && !t.dead() {
			return ctx.Err() // the caller gave up; the connection is fine
		}
		return t.refusal(err)
	}
	rec := &amqpRecv{r: r, s: s}
	t.mu.Lock()
	t.recvs[s] = rec
	t.mu.Unlock()
	go t.pump(rec)
	return nil
}

// pump hands rec's deliveries to its subscription until the link or the
// transport ends. A link the broker detaches while the connection lives
// ends the subscription with the broker's error.
func (t *amqpTransport) pump(rec *amqpRecv) {
	for {
		am, err := rec.r.Receive(t.life, nil)
		if err != nil {
			rec.mu.Lock()
			closing := rec.closing
			rec.mu.Unlock()
			if closing || t.dead() || t.life.Err() != nil {
				return
			}
			err = t.refusal(err)
			if !isBrokerError(err) {
				return
			}
			t.mu.Lock()
			delete(t.recvs, rec.s)
			t.mu.Unlock()
			rec.s.fail(err)
			return
		}
		m := t.message(am, rec)
		if rec.s.opts.Ack == AckClient {
			rec.mu.Lock()
			rec.unacked = append(rec.unacked, m)
			rec.mu.Unlock()
		}
		if !rec.s.push(m, t.doneCh) && t.dead() {
			return
		}
	}
}

// message converts a delivery.
func (t *amqpTransport) message(am *amqp.Message, rec *amqpRecv) *Message {
	m := &Message{Body: amqpBody(am), Props: am.ApplicationProperties, sub: rec.s, t: t, amqp: am, recv: rec}
	if m.Props == nil {
		m.Props = map[string]any{}
	}
	if h := am.Header; h != nil {
		m.Persistent = h.Durable
		m.DeliveryCount = h.DeliveryCount
		m.Redelivered = h.DeliveryCount > 0
	}
	if p := am.Properties; p != nil {
		if p.MessageID != nil {
			m.ID = fmt.Sprint(p.MessageID)
		}
		if p.To != nil {
			m.Destination = t.destination(*p.To)
		}
		if p.ContentType != nil {
			m.ContentType = *p.ContentType
		}
	}
	if m.Destination == "" {
		m.Destination = rec.s.dest
	}
	m.setProducer()
	return m
}

// amqpBody returns the payload: the data sections, or an amqp-value string
// or binary, or the value's text.
func amqpBody(am *amqp.Message) []byte {
	switch {
	case len(am.Data) == 1:
		return am.Data[0]
	case len(am.Data) > 1:
		return slices.Concat(am.Data...)
	}
	switch v := am.Value.(type) {
	case nil:
		return nil
	case string:
		return []byte(v)
	case []byte:
		return v
	default:
		return []byte(fmt.Sprint(v))
	}
}

func (t *amqpTransport) unsubscribe(ctx context.Context, s *Subscription) error {
	t.mu.Lock()
	rec := t.recvs[s]
	delete(t.recvs, s)
	t.mu.Unlock()
	if rec == nil {
		return nil
	}
	rec.mu.Lock()
	rec.closing = true
	rec.mu.Unlock()
	return rec.r.Close(ctx)
}

func (t *amqpTransport) settle(ctx context.Context, m *Message, o outcome) error {
	return t.settleErr(t.settle1(ctx, m, o))
}

// settleErr marks an error of a disposition that failed because the
// connection, session or link is gone; a connection-level one also fails
// the transport, which the Conn may not have noticed yet.
func (t *amqpTransport) settleErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *amqp.ConnError
	var se *amqp.SessionError
	var le *amqp.LinkError
	switch {
	case errors.As(err, &ce), errors.As(err, &se):
		t.fail(err)
		return fmt.Errorf("%w: %w", errLost, err)
	case errors.As(err, &le), t.dead():
		return fmt.Errorf("%w: %w", errLost, err)
	}
	return err
}

func (t *amqpTransport) settle1(ctx context.Context, m *Message, o outcome) error {
	rec := m.recv
	switch o {
	case rejected:
		t.forget(rec, m)
		return rec.r.RejectMessage(ctx, m.amqp, nil)
	case released:
		t.forget(rec, m)
		return rec.r.ModifyMessage(ctx, m.amqp, &amqp.ModifyMessageOptions{DeliveryFailed: true})
	}
	if m.sub.opts.Ack != AckClient {
		return rec.r.AcceptMessage(ctx, m.amqp)
	}
	// AckClient: accept m and every earlier unaccepted delivery.
	rec.mu.Lock()
	i := slices.Index(rec.unacked, m)
	var batch []*Message
	if i >= 0 {
		batch = slices.Clone(rec.unacked[:i+1])
		rec.unacked = slices.Delete(rec.unacked, 0, i+1)
	}
	rec.mu.Unlock()
	if i < 0 {
		return nil // already accepted by a later message's ack
	}
	for _, x := range batch {
		if err := rec.r.AcceptMessage(ctx, x.amqp); err != nil {
			return err
		}
	}
	return nil
}

// forget takes m off the AckClient list of rec.
func (t *amqpTransport) forget(rec *amqpRecv, m *Message) {
	rec.mu.Lock()
	if i := slices.Index(rec.unacked, m); i >= 0 {
		rec.unacked = slices.Delete(rec.unacked, i, i+1)
	}
	rec.mu.Unlock()
}

// close closes the connection (AMQP close; links are not detached, so a
// durable subscription is kept).
func (t *amqpTransport) close(context.Context) error {
	t.fail(errTransportClosed)
	return nil
}
