package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/config"
)

// amqpStartBroker starts a test broker with the AMQP listener on an
// ephemeral loopback port, and its AMQP address.
func amqpStartBroker(t testing.TB, mutate ...func(*config.Config)) (*broker, string) {
	t.Helper()
	mutate = append([]func(*config.Config){func(c *config.Config) { c.AMQP.Listen = "127.0.0.1:0" }}, mutate...)
	b := startBroker(t, mutate...)
	a := b.gw.AMQPAddr()
	if a == nil {
		t.Fatal("the gateway has no AMQP listener")
	}
	return b, a.String()
}

// amqpCtx returns a context bounded by waitTimeout.
func amqpCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// amqpDial connects a go-amqp client (SASL ANONYMOUS unless opts say
// otherwise) and closes it when the test ends.
func amqpDial(t testing.TB, addr string, opts *amqp.ConnOptions) *amqp.Conn {
	t.Helper()
	if opts == nil {
		opts = &amqp.ConnOptions{}
	}
	if opts.SASLType == nil {
		opts.SASLType = amqp.SASLTypeAnonymous()
	}
	c, err := amqp.Dial(amqpCtx(t), "amqp://"+addr, opts)
	if err != nil {
		t.Fatalf("amqp.Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// amqpSession begins a session on c.
func amqpSession(t testing.TB, c *amqp.Conn) *amqp.Session {
	t.Helper()
	s, err := c.NewSession(amqpCtx(t), nil)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

// amqpClient dials and begins one session.
func amqpClient(t testing.TB, addr string, opts *amqp.ConnOptions) (*amqp.Conn, *amqp.Session) {
	t.Helper()
	c := amqpDial(t, addr, opts)
	return c, amqpSession(t, c)
}

// amqpSender attaches a sender to target.
func amqpSender(t testing.TB, s *amqp.Session, target string, opts *amqp.SenderOptions) *amqp.Sender {
	t.Helper()
	snd, err := s.NewSender(amqpCtx(t), target, opts)
	if err != nil {
		t.Fatalf("NewSender %q: %v", target, err)
	}
	return snd
}

// amqpReceiver attaches a receiver to source.
func amqpReceiver(t testing.TB, s *amqp.Session, source string, opts *amqp.ReceiverOptions) *amqp.Receiver {
	t.Helper()
	r, err := s.NewReceiver(amqpCtx(t), source, opts)
	if err != nil {
		t.Fatalf("NewReceiver %q: %v", source, err)
	}
	return r
}

// amqpSend sends m and waits for the broker's outcome (accepted, for an
// unsettled sender).
func amqpSend(t testing.TB, snd *amqp.Sender, m *amqp.Message) {
	t.Helper()
	if err := snd.Send(amqpCtx(t), m, nil); err != nil {
		t.Fatalf("Send to %s: %v", snd.Address(), err)
	}
}

// amqpSendText sends each body as an amqp-value string.
func amqpSendText(t testing.TB, snd *amqp.Sender, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		amqpSend(t, snd, &amqp.Message{Value: b})
	}
}

// amqpRecv receives the next message of r.
func amqpRecv(t testing.TB, r *amqp.Receiver) *amqp.Message {
	t.Helper()
	m, err := r.Receive(amqpCtx(t), nil)
	if err != nil {
		t.Fatalf("Receive from %s: %v", r.Address(), err)
	}
	return m
}

// amqpAccept accepts m.
func amqpAccept(t testing.TB, r *amqp.Receiver, m *amqp.Message) {
	t.Helper()
	if err := r.AcceptMessage(amqpCtx(t), m); err != nil {
		t.Fatalf("AcceptMessage: %v", err)
	}
}

// amqpRecvText receives n messages, accepts them and returns their
// amqp-value strings.
func amqpRecvText(t testing.TB, r *amqp.Receiver, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		m := amqpRecv(t, r)
		s, ok := m.Value.(string)
		if !ok {
			t.Fatalf("message body %T %v, want an amqp-value string", m.Value, m.Value)
		}
		amqpAccept(t, r, m)
		out = append(out, s)
	}
	return out
}

// amqpExpectNone checks that r holds no message: after a drain (the
// broker sends what it has, then answers), nothing is prefetched. r must
// use manual credit (Credit: -1).
func amqpExpectNone(t testing.TB, r *amqp.Receiver) {
	t.Helper()
	if err := r.IssueCredit(1); err != nil {
		t.Fatalf("IssueCredit: %v", err)
	}
	if err := r.DrainCredit(amqpCtx(t), nil); err != nil {
		t.Fatalf("DrainCredit: %v", err)
	}
	if m := r.Prefetched(); m != nil {
		t.Fatalf("unexpected message %v on %s", m.Value, r.Address())
	}
}

// amqpCondition returns the condition of an *amqp.Error, *amqp.LinkError,
// *amqp.SessionError or *amqp.ConnError err, or "".
func amqpCondition(err error) amqp.ErrCond {
	var e *amqp.Error
	if errors.As(err, &e) {
		return e.Condition
	}
	var le *amqp.LinkError
	if errors.As(err, &le) && le.RemoteErr != nil {
		return le.RemoteErr.Condition
	}
	var se *amqp.SessionError
	if errors.As(err, &se) && se.RemoteErr != nil {
		return se.RemoteErr.Condition
	}
	var ce *amqp.ConnError
	if errors.As(err, &ce) && ce.RemoteErr != nil {
		return ce.RemoteErr.Condition
	}
	return ""
}

// amqpPtr returns a pointer to v.
func amqpPtr[T any](v T) *T { return &v }

// amqpSince reports whether at is within d of now.
func amqpRecent(at time.Time, d time.Duration) bool {
	return time.Since(at) < d && time.Until(at) < d
}
