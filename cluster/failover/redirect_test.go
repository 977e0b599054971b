package failover

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// redirector is a fake broker that sends every client to target: at once
// (at connect), or on the first thing the client does once connected (a
// STOMP SEND, answered by an ERROR naming its receipt; an AMQP attach).
type redirector struct {
	t         testing.TB
	p         Protocol
	ln        net.Listener
	mu        sync.Mutex
	target    string // host:port; guarded by mu
	atConnect bool
	conns     atomic.Int64
	wg        sync.WaitGroup
}

// startRedirector starts a redirector on loopback, closed when the test
// ends.
func startRedirector(t testing.TB, p Protocol, target string, atConnect bool) *redirector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &redirector{t: t, p: p, ln: ln, target: target, atConnect: atConnect}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				var err error
				if p == AMQP {
					err = r.serveAMQP(c)
				} else {
					err = r.serveSTOMP(c)
				}
				if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					t.Logf("redirector: %v", err)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *redirector) addr() string { return r.ln.Addr().String() }

// to returns the target; setTo changes it.
func (r *redirector) to() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

func (r *redirector) setTo(target string) {
	r.mu.Lock()
	r.target = target
	r.mu.Unlock()
}
func (r *redirector) uri() string { return string(r.p) + "://" + r.addr() }

// readSTOMP reads one frame (up to its NUL), skipping heart-beats, and
// returns its command and headers.
func readSTOMP(br *bufio.Reader) (string, map[string]string, error) {
	for {
		raw, err := br.ReadString(0)
		if err != nil {
			return "", nil, err
		}
		raw = strings.TrimLeft(raw, "\r\n")
		head, _, _ := strings.Cut(raw, "\n\n")
		lines := strings.Split(head, "\n")
		if lines[0] == "" {
			continue
		}
		h := map[string]string{}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				if _, dup := h[k]; !dup {
					h[k] = v
				}
			}
		}
		return lines[0], h, nil
	}
}

func (r *redirector) serveSTOMP(c net.Conn) error {
	br := bufio.NewReader(c)
	if _, _, err := readSTOMP(br); err != nil { // CONNECT
		return err
	}
	redirect := "ERROR\nmessage:moving you\n" + HeaderRedirect + ":stomp://" + r.to() + "\n"
	if r.atConnect {
		_, err := io.WriteString(c, redirect+"\n\x00")
		return err
	}
	if _, err := io.WriteString(c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00"); err != nil {
		return err
	}
	for {
		cmd, h, err := readSTOMP(br)
		if err != nil {
			return err
		}
		if cmd == "SEND" { // never confirmed here
			_, err := io.WriteString(c, redirect+"receipt-id:"+h["receipt"]+"\n\n\x00")
			return err
		}
	}
}

func (r *redirector) serveAMQP(c net.Conn) error {
	br := bufio.NewReader(c)
	fr := wire.NewFrameReader(br, 1<<20)
	write := func(ps ...wire.Performative) error {
		var b []byte
		for _, p := range ps {
			var err error
			if b, err = wire.AppendPerformative(b, 0, p); err != nil {
				return err
			}
		}
		_, err := c.Write(b)
		return err
	}
	read := func() (wire.Performative, error) {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return nil, err
			}
			if !f.Empty() {
				return wire.DecodeFrameBody(f)
			}
		}
	}
	if _, err := wire.ReadProtocolHeader(br); err != nil { // SASL
		return err
	}
	if _, err := c.Write(wire.HeaderSASL.Append(nil)); err != nil {
		return err
	}
	if err := write(&wire.SASLMechanisms{Mechanisms: []wire.Symbol{"ANONYMOUS", "PLAIN"}}); err != nil {
		return err
	}
	if _, err := read(); err != nil { // sasl-init
		return err
	}
	if err := write(&wire.SASLOutcome{Code: wire.SASLOK}); err != nil {
		return err
	}
	if _, err := wire.ReadProtocolHeader(br); err != nil { // AMQP
		return err
	}
	if _, err := c.Write(wire.HeaderAMQP.Append(nil)); err != nil {
		return err
	}
	if _, err := read(); err != nil { // open
		return err
	}
	open := &wire.Open{ContainerID: "redirector", MaxFrameSize: 1 << 20, ChannelMax: math.MaxUint16}
	host, port, _ := net.SplitHostPort(r.to())
	n, _ := strconv.Atoi(port)
	redirect := &wire.Close{Error: &wire.Error{Condition: wire.CondConnectionRedirect, Description: "moving you",
		Info: wire.Map{{Key: wire.Symbol("hostname"), Value: "broker.invalid"}, {Key: wire.Symbol("network-host"), Value: host},
			{Key: wire.Symbol("port"), Value: uint32(n)}}}}
	if r.atConnect {
		if err := write(open, redirect); err != nil {
			return err
		}
	} else {
		if err := write(open); err != nil {
			return err
		}
		for {
			p, err := read()
			if err != nil {
				return err
			}
			switch p.(type) {
			case *wire.Begin:
				ch := uint16(0)
				if err := write(&wire.Begin{RemoteChannel: &ch, NextOutgoingID: 1, IncomingWindow: 5000, OutgoingWindow: 5000,
					HandleMax: math.MaxUint32}); err != nil {
					return err
				}
				continue
			case *wire.Attach:
				if err := write(redirect); err != nil {
					return err
				}
			default:
				continue
			}
			break
		}
	}
	for { // until the client closes
		if _, err := read(); err != nil {
			return err
		}
	}
}

// TestRedirect: a broker that redirects its client (AMQP close with
// amqp:connection:redirect, STOMP ERROR with mqgate-redirect) sends it to
// the broker named, which joins the list: at once (the reconnect delay is
// a minute), not counted as a failure (maxReconnectAttempts=0 would end
// the Conn at the first), with the unconfirmed send resent there, and
// reported as a failover whose Err is the redirect.
func TestRedirect(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		r := startRedirector(t, p, b.addr(p), false)
		uri := fmt.Sprintf("failover:(%s)?initialReconnectDelay=60000&maxReconnectAttempts=0&startupMaxReconnectAttempts=0", r.uri())
		c, events := dialTest(t, uri, Options{})
		if c.Broker() != r.uri() {
			t.Fatalf("connected to %q, want the redirector %s", c.Broker(), r.uri())
		}
		ctx := testCtx(t)
		// The redirector answers the send (its STOMP SEND, its AMQP
		// attach) by redirecting.
		if err := c.Send(ctx, "/queue/redirect.me", []byte("hello"), nil); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r, _ := b.depth("redirect.me"); r != 1 {
			t.Fatalf("the broker redirected to holds %d messages, want 1", r)
		}
		// The event follows the take-over, which the confirmation may beat.
		eventually(t, func() bool { return events.len() > 0 }, func() string { return "no failover event" })
		evs := events.all()
		if len(evs) != 1 {
			t.Fatalf("events %+v, want one", evs)
		}
		e := evs[0]
		var re *RedirectError
		if e.From != r.uri() || e.To != b.uri(p) || !errors.Is(e.Err, ErrRedirect) || !errors.As(e.Err, &re) ||
			re.To.String() != b.uri(p) || !strings.Contains(e.Err.Error(), "moving you") || e.Resent != 1 {
			t.Fatalf("event %+v (err %v), want %s -> %s, a redirect, 1 resent", e, e.Err, r.uri(), b.uri(p))
		}
		if got := c.Brokers(); !slices.Equal(got, []string{r.uri(), b.uri(p)}) {
			t.Fatalf("Brokers() = %v, want the redirect target added", got)
		}
	})
}

// TestRedirectAtConnect: a broker that redirects as the client connects
// (STOMP ERROR to CONNECT; AMQP open then close) makes Dial connect to
// the broker named, in the same attempt. A single-broker URI does not
// follow redirects.
func TestRedirectAtConnect(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		b := startBroker(t, false)
		r := startRedirector(t, p, b.addr(p), true)
		c, _ := dialTest(t, fmt.Sprintf("failover:(%s)?startupMaxReconnectAttempts=1", r.uri()), Options{})
		if c.Broker() != b.uri(p) {
			t.Fatalf("connected to %q, want %s", c.Broker(), b.uri(p))
		}
		if n := r.conns.Load(); n != 1 {
			t.Fatalf("the redirector saw %d connections, want 1", n)
		}

		_, err := Dial(testCtx(t), r.uri(), Options{Logger: testLogger(t, 0)})
		if !errors.Is(err, ErrRedirect) {
			t.Fatalf("Dial of the single URI %s: %v, want the redirect as the error", r.uri(), err)
		}

		// Two brokers sending the client to each other: bounded.
		r1 := startRedirector(t, p, "127.0.0.1:1", true)
		r2 := startRedirector(t, p, r1.addr(), true)
		r1.setTo(r2.addr())
		_, err = Dial(testCtx(t), fmt.Sprintf("failover:(%s)?startupMaxReconnectAttempts=1", r1.uri()), Options{Logger: testLogger(t, 0)})
		if !errors.Is(err, ErrNoBroker) || !strings.Contains(err.Error(), "redirects in a row") {
			t.Fatalf("Dial between two redirectors: %v", err)
		}
	})
}
