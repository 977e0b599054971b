package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"
)

// AMQP 1.0 support for `mqgate bench --protocol amqp`, over the lean client
// (bench_amqp_lean*.go, the default) or github.com/Azure/go-amqp
// (--amqp-client go-amqp, the real-world client). The engine in bench.go
// drives these through the benchSender and benchReceiver interfaces like
// the STOMP clients.
//
// Mapping of the STOMP options:
//   - --receipt-every K > 0 (the default 100 with --persistent): unsettled
//     sends, pipelined, about K per producer not yet confirmed by the
//     broker's disposition; K = 0: pre-settled sends, pipelined.
//   - --persistent: header durable=true.
//   - --ack auto: the receiver asks for pre-settled deliveries; otherwise
//     each delivery is accepted individually.
//   - --prefetch: link credit (0: 1000).

const (
	defaultAMQPPort     = "5672"
	benchAMQPClient     = "go-amqp"
	benchAMQPLeanClient = "lean"

	// Application-property keys carrying what STOMP puts in bench headers.
	amqpPropProducer = "bench-p"
	amqpPropSeq      = "bench-seq"
	amqpPropTS       = "bench-ts"
)

// parseAMQPURL parses amqp://[user:pass@]host[:port] (or host:port) into a
// target. TLS (amqps) is not supported.
func parseAMQPURL(raw string) (stompTarget, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return stompTarget{}, errors.New("empty broker URL")
	}
	if !strings.Contains(s, "://") {
		s = "amqp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return stompTarget{}, fmt.Errorf("broker URL %q: %w", raw, err)
	}
	if strings.ToLower(u.Scheme) != "amqp" {
		return stompTarget{}, fmt.Errorf("%w %q in %q: --protocol amqp takes amqp://host:port", errUnsupportedScheme, u.Scheme, raw)
	}
	if u.Path != "" && u.Path != "/" {
		return stompTarget{}, fmt.Errorf("broker URL %q: unexpected path %q", raw, u.Path)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defaultAMQPPort
	}
	t := stompTarget{Addr: net.JoinHostPort(host, port)}
	if u.User != nil {
		t.Login = u.User.Username()
		t.Passcode, _ = u.User.Password()
	}
	return t, nil
}

// amqpAddress turns a bench destination (/queue/x, /topic/x) into mqgate's
// AMQP address (queue://x, topic://x). Each connection then maps it to the
// form its broker announces (amqpBrokerAddress).
func amqpAddress(dest string) string {
	for _, kind := range []string{"queue", "topic"} {
		if rest, ok := strings.CutPrefix(dest, "/"+kind+"/"); ok {
			return kind + "://" + rest
		}
	}
	return dest
}

// dialAMQP opens a connection and one session.
func dialAMQP(ctx context.Context, t stompTarget) (*amqp.Conn, *amqp.Session, error) {
	opts := &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}
	if t.Login != "" {
		opts.SASLType = amqp.SASLTypePlain(t.Login, t.Passcode)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := amqp.Dial(dctx, "amqp://"+t.Addr, opts)
	if err != nil {
		return nil, nil, err
	}
	sess, err := conn.NewSession(dctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("begin session: %w", err)
	}
	return conn, sess, nil
}

// amqpSender is one producer connection. In unsettled mode send pipelines
// transfers with SendWithReceipt (in order) and a waiter goroutine collects
// the dispositions, also in order; the receipts channel bounds how many are
// unconfirmed.
type amqpSender struct {
	conn      *amqp.Conn
	link      *amqp.Sender
	body      []byte
	durable   bool
	producer  int64
	window    int // unconfirmed sends allowed; 0 = pre-settled
	receipts  chan amqp.SendReceipt
	waiterOut chan struct{} // closed when the waiter returned
	errMu     sync.Mutex
	err       error
	failed    chan struct{} // closed on the first send error
	failOnce  sync.Once
	closed    chan struct{} // closed by close
	closeOnce sync.Once
}

// newAMQPSender connects one producer with the client cfg.client names.
func newAMQPSender(ctx context.Context, cfg benchConfig, dest string, body []byte, index int) (benchSender, error) {
	if cfg.client == benchAMQPLeanClient {
		s, err := newAMQPLeanSender(ctx, cfg, dest, body, index)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := newGoAMQPSender(ctx, cfg, dest, body, index)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newAMQPReceiver connects one consumer with the client cfg.client names.
func newAMQPReceiver(ctx context.Context, cfg benchConfig, dest string, index int) (benchReceiver, error) {
	if cfg.client == benchAMQPLeanClient {
		r, err := newAMQPLeanReceiver(ctx, cfg, dest, index)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	r, err := newGoAMQPReceiver(ctx, cfg, dest, index)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func newGoAMQPSender(ctx context.Context, cfg benchConfig, dest string, body []byte, index int) (*amqpSender, error) {
	conn, sess, err := dialAMQP(ctx, cfg.target)
	if err != nil {
		return nil, err
	}
	s := &amqpSender{
		conn: conn, body: body, durable: cfg.persistent, producer: int64(index),
		window: cfg.receiptEvery, failed: make(chan struct{}), closed: make(chan struct{}),
	}
	opts := &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr()}
	if s.window == 0 {
		opts.SettlementMode = amqp.SenderSettleModeSettled.Ptr()
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s.link, err = sess.NewSender(actx, amqpBrokerAddress(dest, conn.Properties()), opts)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach sender: %w", err)
	}
	if s.window > 0 {
		// The channel holds window-1 receipts and the waiter one more.
		s.receipts = make(chan amqp.SendReceipt, s.window-1)
		s.waiterOut = make(chan struct{})
		go s.waiter()
	}
	return s, nil
}

// waiter waits for each unsettled send's disposition, in send order.
func (s *amqpSender) waiter() {
	defer close(s.waiterOut)
	for {
		var r amqp.SendReceipt
		var ok bool
		select {
		case r, ok = <-s.receipts:
		case <-s.closed:
			return
		}
		if !ok {
			return
		}
		state, err := r.Wait(context.Background())
		if err == nil {
			switch st := state.(type) {
			case *amqp.StateRejected:
				err = errors.New("message rejected")
				if st.Error != nil {
					err = fmt.Errorf("message rejected: %w", st.Error)
				}
			case *amqp.StateReleased, *amqp.StateModified:
				err = fmt.Errorf("message not accepted (%T)", st)
			}
		}
		if err != nil {
			s.fail(err)
		}
	}
}

func (s *amqpSender) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.failOnce.Do(func() { close(s.failed) })
}

func (s *amqpSender) firstErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *amqpSender) message(seq, ts int64) *amqp.Message {
	m := amqp.NewMessage(s.body)
	if s.durable {
		m.Header = &amqp.MessageHeader{Durable: true}
	}
	m.ApplicationProperties = map[string]any{
		amqpPropProducer: s.producer,
		amqpPropSeq:      seq,
		amqpPropTS:       ts,
	}
	return m
}

// send sends the message pre-settled, or (unsettled mode) transfers it and
// queues its receipt for the waiter, blocking while window sends are
// unconfirmed. receipt is ignored: the window replaces STOMP's periodic
// receipts.
func (s *amqpSender) send(seq, ts int64, _ bool) error {
	m := s.message(seq, ts)
	if s.window == 0 {
		return s.link.Send(context.Background(), m, nil)
	}
	select {
	case <-s.failed:
		return s.firstErr()
	default:
	}
	r, err := s.link.SendWithReceipt(context.Background(), m, nil)
	if err != nil {
		return err
	}
	select {
	case s.receipts <- r:
		return nil
	case <-s.failed:
		return s.firstErr()
	case <-s.closed:
		return errInterrupted
	}
}

func (s *amqpSender) pause() error { return nil }

// finish waits for every unsettled send, then detaches the link (the
// broker answers the detach after the transfers before it) and closes.
func (s *amqpSender) finish() error {
	if s.receipts != nil {
		close(s.receipts)
		<-s.waiterOut
		if err := s.firstErr(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.link.Close(ctx)
	if cerr := s.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *amqpSender) close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.conn.Close()
	})
}

// amqpReceiver is one consumer connection with one receiving link.
type amqpReceiver struct {
	conn     *amqp.Conn
	link     *amqp.Receiver
	accept   bool
	ctx      context.Context
	cancel   context.CancelFunc
	stopping atomic.Bool
	closed   atomic.Bool
}

func newGoAMQPReceiver(ctx context.Context, cfg benchConfig, dest string, _ int) (*amqpReceiver, error) {
	conn, sess, err := dialAMQP(ctx, cfg.consumerTarget())
	if err != nil {
		return nil, err
	}
	credit := cfg.prefetch
	if credit <= 0 {
		credit = 1000
	}
	opts := &amqp.ReceiverOptions{
		Credit:         int32(min(credit, 1<<31-1)),
		SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(),
	}
	r := &amqpReceiver{conn: conn, accept: cfg.ack != "auto"}
	if !r.accept {
		opts.RequestedSenderSettleMode = amqp.SenderSettleModeSettled.Ptr()
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// NewReceiver returns after the broker's attach: the subscription is in
	// place before any producer starts.
	r.link, err = sess.NewReceiver(actx, amqpBrokerAddress(dest, conn.Properties()), opts)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("attach receiver: %w", err)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// amqpInt reads an integer application property.
func amqpInt(props map[string]any, k string) (int64, bool) {
	switch v := props[k].(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int:
		return int64(v), true
	case uint64:
		return int64(v), true
	case uint32:
		return int64(v), true
	}
	return 0, false
}

func (r *amqpReceiver) receive(t *consumerTally, n *atomic.Int64) error {
	for {
		m, err := r.link.Receive(r.ctx, nil)
		if err != nil {
			return r.filter(err)
		}
		p, ok1 := amqpInt(m.ApplicationProperties, amqpPropProducer)
		seq, ok2 := amqpInt(m.ApplicationProperties, amqpPropSeq)
		ts, ok3 := amqpInt(m.ApplicationProperties, amqpPropTS)
		if !ok1 || !ok2 || !ok3 {
			p, seq = -1, -1
		}
		if t.record(int(p), seq, ts, time.Now()) {
			n.Add(1)
		}
		if r.accept {
			if err := r.link.AcceptMessage(r.ctx, m); err != nil {
				return r.filter(fmt.Errorf("accept: %w", err))
			}
		}
	}
}

func (r *amqpReceiver) filter(err error) error {
	if r.stopping.Load() {
		return nil
	}
	return err
}

func (r *amqpReceiver) interrupt() {
	r.stopping.Store(true)
	r.cancel()
}

func (r *amqpReceiver) close() {
	if r.closed.Swap(true) {
		return
	}
	r.cancel()
	r.conn.Close()
}
