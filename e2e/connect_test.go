package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3"
)

// TestConnectGoStompVersions connects go-stomp offering one version at a
// time, and all of them, and checks what CONNECTED said.
func TestConnectGoStompVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cases := []struct {
		name   string
		offer  []stomp.Version
		expect stomp.Version
	}{
		{"1.0", []stomp.Version{stomp.V10}, stomp.V10},
		{"1.1", []stomp.Version{stomp.V11}, stomp.V11},
		{"1.2", []stomp.Version{stomp.V12}, stomp.V12},
		{"all", nil, stomp.V12},
		{"1.0+1.1", []stomp.Version{stomp.V10, stomp.V11}, stomp.V11},
	}
	sessions := map[string]bool{}
	for _, tc := range cases {
		var opts []func(*stomp.Conn) error
		if tc.offer != nil {
			opts = append(opts, stomp.ConnOpt.AcceptVersion(tc.offer...))
		}
		c := b.dial(t, opts...)
		if c.Version() != tc.expect {
			t.Errorf("%s: negotiated %s, want %s", tc.name, c.Version(), tc.expect)
		}
		if !strings.HasPrefix(c.Server(), "mqgate/") {
			t.Errorf("%s: server header %q, want mqgate/<version>", tc.name, c.Server())
		}
		if c.Session() == "" || sessions[c.Session()] {
			t.Errorf("%s: session %q is empty or not unique", tc.name, c.Session())
		}
		sessions[c.Session()] = true

		// The connection works in the negotiated version. (Acks are
		// tested per version below: go-stomp escapes headers even in 1.0.)
		q := "/queue/" + uniq("ver")
		sub := subscribe(t, c, q, stomp.AckAuto)
		send(t, c, q, "hello "+tc.name)
		expectBody(t, sub, "hello "+tc.name)
		if err := c.Disconnect(); err != nil {
			t.Errorf("%s: DISCONNECT: %v", tc.name, err)
		}
	}
}

// TestConnectRawNegotiation checks CONNECTED's headers for each
// accept-version, over raw TCP.
func TestConnectRawNegotiation(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cases := []struct {
		accept, version string
		command         string
	}{
		{"1.0", "1.0", "CONNECT"},
		{"1.1", "1.1", "CONNECT"},
		{"1.2", "1.2", "CONNECT"},
		{"1.0,1.1,1.2", "1.2", "CONNECT"},
		{"1.2,1.1,1.0", "1.2", "CONNECT"},
		{"1.0,1.1", "1.1", "CONNECT"},
		{"1.1,2.0", "1.1", "CONNECT"},
		{"1.2", "1.2", "STOMP"},
		{"1.1", "1.1", "STOMP"},
	}
	for _, tc := range cases {
		t.Run(tc.command+"/"+tc.accept, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.addr)
			c.send(tc.command, "", "accept-version", tc.accept, "host", "localhost", "heart-beat", "0,0")
			f := c.expect("CONNECTED")
			if got := f.Value("version"); got != tc.version {
				t.Errorf("version %q, want %q (%s)", got, tc.version, f)
			}
			if f.Value("session") == "" {
				t.Errorf("no session header: %s", f)
			}
			if !strings.HasPrefix(f.Value("server"), "mqgate/") {
				t.Errorf("server header %q, want mqgate/<version>", f.Value("server"))
			}
			if tc.version != "1.0" {
				hb, ok := f.Get("heart-beat")
				if !ok || !validHeartBeat(hb) {
					t.Errorf("heart-beat header %q (present %v), want two numbers", hb, ok)
				}
			}
			// DISCONNECT with a receipt ends the session cleanly.
			c.send("DISCONNECT", "", "receipt", "bye")
			c.expectReceipt("bye")
			c.expectClosed()
		})
	}
}

// validHeartBeat reports whether s is "<ms>,<ms>".
func validHeartBeat(s string) bool {
	x, y, ok := strings.Cut(s, ",")
	return ok && isDigits(x) && isDigits(y)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// TestConnect10WithoutAcceptVersion speaks STOMP 1.0 as a 1.0 client
// does: no accept-version, no subscription id, no escaping.
func TestConnect10WithoutAcceptVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	f := c.connect("")
	if f.Value("session") == "" || !strings.HasPrefix(f.Value("server"), "mqgate/") {
		t.Errorf("CONNECTED lacks session or server: %s", f)
	}
	q := "/queue/" + uniq("v10")
	c.send("SUBSCRIBE", "", "destination", q, "receipt", "s")
	c.expectReceipt("s")
	// STOMP 1.0 has no escaping: ':' in a value is sent raw, and values
	// are trimmed (checked against ActiveMQ 5.17: it sends "a:b" and
	// "padded" back, the same).
	c.mustWrite("SEND\ndestination:" + q + "\nfoo:a:b\nsp: padded \n\nbody 1.0\x00")
	m := c.expect("MESSAGE")
	if string(m.Body) != "body 1.0" {
		t.Errorf("body %q", m.Body)
	}
	if got := m.Value("destination"); got != q {
		t.Errorf("destination %q, want %q", got, q)
	}
	if got := m.Value("subscription"); got != q {
		t.Errorf("subscription %q, want the destination %q (1.0 SUBSCRIBE without id)", got, q)
	}
	if got := m.Value("foo"); got != "a:b" {
		t.Errorf("foo %q, want %q (lines %q)", got, "a:b", m.Lines)
	}
	if got := m.Value("sp"); got != "padded" {
		t.Errorf("sp %q, want %q", got, "padded")
	}
	if _, ok := m.Get("ack"); ok {
		t.Errorf("1.0 MESSAGE has an ack header: %s", m)
	}
	// NACK does not exist in 1.0.
	c.send("NACK", "", "message-id", m.Value("message-id"))
	c.expectError()
	c.expectClosed()
}

// TestConnect10HeadersLikeActiveMQ: ActiveMQ 5.17 answers a 1.0 CONNECT
// (with or without accept-version:1.0) with version:1.0 and
// heart-beat:0,0 in CONNECTED (checked against ActiveMQ 5.17.2).
func TestConnect10HeadersLikeActiveMQ(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var bad []string
	for _, accept := range []string{"", "1.0"} {
		c := dialRaw(t, b.addr)
		f := c.connect(accept)
		if v, ok := f.Get("version"); v != "1.0" {
			bad = append(bad, fmt.Sprintf("accept-version %q: version header %q (present %v), want 1.0", accept, v, ok))
		}
		if hb, ok := f.Get("heart-beat"); hb != "0,0" {
			bad = append(bad, fmt.Sprintf("accept-version %q: heart-beat header %q (present %v), want 0,0", accept, hb, ok))
		}
	}
	if len(bad) > 0 {
		failBug(t, "STOMP 1.0 CONNECTED differs from ActiveMQ 5.17: %q", bad)
	}
}

// TestConnectUnsupportedVersion: STOMP 1.2 "Protocol Negotiation": no
// common version gets an ERROR with a version header listing the
// server's versions, then the connection is closed.
func TestConnectUnsupportedVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, accept := range []string{"2.0", "0.9,3.1"} {
		c := dialRaw(t, b.addr)
		c.send("CONNECT", "", "accept-version", accept, "host", "localhost")
		f := c.expectError()
		v, ok := f.Get("version")
		if !ok {
			t.Fatalf("accept-version %s: ERROR has no version header: %s", accept, f)
		}
		for _, want := range []string{"1.0", "1.1", "1.2"} {
			if !strings.Contains(v, want) {
				t.Errorf("ERROR version %q does not list %s", v, want)
			}
		}
		c.expectClosed()
	}
	// The broker still serves others.
	c := b.dial(t)
	barrier(t, c)
}

// TestConnectFirstFrameMustBeConnect: any other first frame is an ERROR.
func TestConnectFirstFrameMustBeConnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.send("SEND", "x", "destination", "/queue/x")
	c.expectError()
	c.expectClosed()
	if r, _ := b.depth("x"); r != 0 {
		t.Errorf("a SEND before CONNECT was queued")
	}
}

// TestConnectTwiceIsAnError: a second CONNECT on a session is an ERROR.
func TestConnectTwiceIsAnError(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	c.send("CONNECT", "", "accept-version", "1.2", "host", "localhost")
	c.expectError()
	c.expectClosed()
}

// TestConnectClientIDIsExclusive: a second connection with a client-id
// already connected is refused (checked against ActiveMQ 5.17.2: ERROR
// "Client: same already connected", InvalidClientIDException).
func TestConnectClientIDIsExclusive(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	b.dial(t, stomp.ConnOpt.Header("client-id", "only-one"))
	if c, err := b.tryDial(stomp.ConnOpt.Header("client-id", "only-one")); err == nil {
		c.MustDisconnect()
		t.Fatal("a second connection with the same client-id was accepted")
	}
}

// failBug fails t with a description of a broker bug that was found and
// fixed, so that it cannot come back unnoticed.
func failBug(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("BUG: "+format, args...)
}

// TestConnectGoStompAckPerVersion: go-stomp acks in every version. In 1.0
// go-stomp still escapes header values (':' as \c), and message ids hold
// ':'; ActiveMQ 5.17 decodes the escapes in 1.0 frames too, so go-stomp's
// 1.0 ACK works there (checked against ActiveMQ 5.17.2 with a raw 1.0 ACK
// of message-id:ID\cvm-...: RECEIPT, and the message is gone).
func TestConnectGoStompAckPerVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	for _, v := range []stomp.Version{stomp.V12, stomp.V11, stomp.V10} {
		c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
		q := "/queue/" + uniq("ackv")
		sub := subscribe(t, c, q, stomp.AckClient)
		send(t, c, q, "m")
		ack(t, expectBody(t, sub, "m"))
		if err := c.Send("/queue/e2e.barrier", "", nil, stomp.SendOpt.Receipt); err != nil {
			if v == stomp.V10 {
				failBug(t, "STOMP 1.0: ACK with message-id:ID\\c... (escaped, as go-stomp and ActiveMQ accept) gets ERROR \"message ... is not waiting for ACK\" and the connection is closed: %v", err)
			}
			t.Fatalf("%s: ACK failed: %v", v, err)
		}
		b.waitDepth(t, q[len("/queue/"):], 0, 0)
	}
}

// TestUnsubscribe10ByDestination: a STOMP 1.0 client that subscribed
// without an id unsubscribes by destination.
func TestUnsubscribe10ByDestination(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("unsub10")
	q := "/queue/" + qn
	c := dialRaw(t, b.addr)
	c.connect("1.0")
	c.send("SUBSCRIBE", "", "destination", q, "receipt", "s")
	c.expectReceipt("s")
	c.send("UNSUBSCRIBE", "", "destination", q, "receipt", "u")
	c.expectReceipt("u")
	c.send("SEND", "for nobody", "destination", q, "receipt", "p")
	c.expectReceipt("p") // and no MESSAGE before it
	b.waitDepth(t, qn, 1, 0)
}
