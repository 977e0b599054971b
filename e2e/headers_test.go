package e2e

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// userHeaders are application headers with the octets STOMP 1.1/1.2
// escape; they must reach consumers unchanged.
var userHeaders = [][2]string{
	{"plain", "value"},
	{"colon", "a:b:c"},
	{"newline", "line1\nline2"},
	{"backslash", `back\slash`},
	{"mixed", `k=v; x:y\z` + "\n" + `end`},
	{"spaces", " padded "},
	{"unicode", "héllo wörld ✓"},
	{"empty", ""},
}

// TestHeadersPassThrough sends a message with every header a producer
// sets and checks what the consumer gets, for 1.1 and 1.2.
func TestHeadersPassThrough(t *testing.T) {
	for _, v := range []stomp.Version{stomp.V11, stomp.V12} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			q := "/queue/" + uniq("hdr")
			c := b.dial(t, stomp.ConnOpt.AcceptVersion(v))
			sub := subscribe(t, c, q, stomp.AckClientIndividual)
			expires := time.Now().Add(time.Hour).UnixMilli()
			sendOpts := []func(*frame.Frame) error{
				stomp.SendOpt.Header("correlation-id", "corr:1"),
				stomp.SendOpt.Header("type", "my-type"),
				stomp.SendOpt.Header("expires", strconv.FormatInt(expires, 10)),
				stomp.SendOpt.Header("priority", "7"),
				stomp.SendOpt.Header("persistent", "true"),
			}
			for _, h := range userHeaders {
				sendOpts = append(sendOpts, stomp.SendOpt.Header(h[0], h[1]))
			}
			if v == stomp.V12 {
				sendOpts = append(sendOpts, stomp.SendOpt.Header("cr", "a\rb"))
			}
			before := time.Now().UnixMilli()
			if err := c.Send(q, "application/json", []byte(`{"k":1}`), append(sendOpts, stomp.SendOpt.Receipt)...); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixMilli()
			m := expectBody(t, sub, `{"k":1}`)
			h := m.Header
			check := func(k, want string) {
				t.Helper()
				got, ok := h.Contains(k)
				if !ok || got != want {
					t.Errorf("header %s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			check("destination", q)
			check("subscription", sub.Id())
			check("content-type", "application/json")
			check("correlation-id", "corr:1")
			check("type", "my-type")
			check("expires", strconv.FormatInt(expires, 10))
			check("priority", "7")
			check("persistent", "true")
			for _, u := range userHeaders {
				check(u[0], u[1])
			}
			if v == stomp.V12 {
				check("cr", "a\rb")
				check("ack", h.Get("ack")) // present
				if h.Get("ack") == "" {
					t.Errorf("STOMP 1.2 client-individual MESSAGE has no ack header")
				}
			} else if _, ok := h.Contains("ack"); ok {
				t.Errorf("STOMP 1.1 MESSAGE has an ack header")
			}
			if h.Get("message-id") == "" {
				t.Errorf("no message-id")
			}
			ts, err := strconv.ParseInt(h.Get("timestamp"), 10, 64)
			if err != nil || ts < before-1 || ts > after+1 {
				t.Errorf("timestamp %q, want milliseconds within [%d, %d]", h.Get("timestamp"), before, after)
			}
			ack(t, m)
		})
	}
}

// TestHeadersDefaults: a bare SEND arrives with expires:0, priority:4 and
// no persistent:true, as ActiveMQ sends them (checked against 5.17.2).
func TestHeadersDefaults(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("defaults")
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckAuto)
	send(t, c, q, "x")
	h := expectBody(t, sub, "x").Header
	if got := h.Get("expires"); got != "0" {
		t.Errorf("expires %q, want 0", got)
	}
	if got := h.Get("priority"); got != "4" {
		t.Errorf("priority %q, want 4", got)
	}
	if got := h.Get("persistent"); got == "true" {
		t.Errorf("persistent %q for a message sent without it", got)
	}
	if _, ok := h.Contains("ack"); ok {
		t.Errorf("ack:auto MESSAGE has an ack header (ActiveMQ sends none)")
	}
	if _, ok := h.Contains("redelivered"); ok {
		t.Errorf("first delivery has a redelivered header")
	}
}

// TestHeadersMessageIDsUnique: every message gets its own message-id.
func TestHeadersMessageIDsUnique(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	// A separate producer: go-stomp stops reading a connection (receipts
	// too) while 16 messages wait unread on one of its subscriptions.
	c, prod := b.dial(t), b.dial(t)
	seen := map[string]bool{}
	for _, qn := range []string{uniq("ids"), uniq("ids")} {
		q := "/queue/" + qn
		sub := subscribe(t, c, q, stomp.AckAuto)
		publishN(t, prod, q, "m", 50)
		for range 50 {
			id := recv(t, sub).Header.Get("message-id")
			if id == "" || seen[id] {
				t.Fatalf("message-id %q is empty or repeated", id)
			}
			seen[id] = true
		}
	}
}

// TestHeadersBinaryBody: a body with NUL bytes and a content-length
// round-trips exactly, and arrives with its content-length.
func TestHeadersBinaryBody(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("bin")
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckAuto)
	bodies := [][]byte{
		{0},
		{'a', 0, 'b', 0, 0, 'c'},
		bytes.Repeat([]byte{0, 1, 2, 255, '\n', ':'}, 1000),
		{},
		bytes.Repeat([]byte("0123456789abcdef"), 64*1024), // 1 MiB
	}
	for _, body := range bodies {
		if err := c.Send(q, "application/octet-stream", body, stomp.SendOpt.Receipt); err != nil {
			t.Fatal(err)
		}
		m := recv(t, sub)
		if !bytes.Equal(m.Body, body) {
			t.Fatalf("body of %d bytes came back as %d bytes (first %q)", len(body), len(m.Body), m.Body[:min(len(m.Body), 16)])
		}
		if got := m.Header.Get("content-length"); got != strconv.Itoa(len(body)) {
			t.Errorf("content-length %q, want %d", got, len(body))
		}
	}
}

// TestHeadersTextBodyWithoutContentLength: a SEND without content-length
// (an ActiveMQ text message) arrives without content-length (checked
// against ActiveMQ 5.17.2).
func TestHeadersTextBodyWithoutContentLength(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("text")
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckAuto)
	if err := c.Send(q, "text/plain", []byte("just text, with ünïcode"), stomp.SendOpt.NoContentLength, stomp.SendOpt.Receipt); err != nil {
		t.Fatal(err)
	}
	m := expectBody(t, sub, "just text, with ünïcode")
	if cl, ok := m.Header.Contains("content-length"); ok {
		t.Errorf("text message arrived with content-length %q", cl)
	}
}

// TestHeadersEscapingPerVersion: each connection gets headers encoded for
// its own version: a 1.0 consumer sees raw ':', 1.1 and 1.2 consumers see
// \c, \n and \\ (and \r only in 1.2), whoever produced the message.
func TestHeadersEscapingPerVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("esc")
	consumers := map[string]*rawConn{}
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		c := dialRaw(t, b.addr)
		c.connect(v)
		c.send("SUBSCRIBE", "", "destination", "/topic/"+q[len("/queue/"):], "id", "s"+v, "receipt", "r")
		c.expectReceipt("r")
		consumers[v] = c
	}
	topic := "/topic/" + q[len("/queue/"):]
	prod := dialRaw(t, b.addr)
	prod.connect("1.2")
	// Raw 1.2 SEND: k1 is "a:b", k2 is "x\ny", k3 is `p\q`, k4 is "c\rd".
	prod.mustWrite("SEND\ndestination:" + topic + "\nk1:a\\cb\nk2:x\\ny\nk3:p\\\\q\nk4:c\\rd\nreceipt:p\n\nesc\x00")
	prod.expectReceipt("p")
	wantLines := map[string][]string{
		"1.0": {"k1:a:b", "k3:p\\q"}, // no escaping in 1.0
		"1.1": {"k1:a\\cb", "k2:x\\ny", "k3:p\\\\q"},
		"1.2": {"k1:a\\cb", "k2:x\\ny", "k3:p\\\\q", "k4:c\\rd"},
	}
	for v, c := range consumers {
		m := c.expect("MESSAGE")
		for _, want := range wantLines[v] {
			found := false
			for _, l := range m.Lines {
				if l == want {
					found = true
				}
			}
			if !found {
				t.Errorf("%s consumer: no header line %q in %q", v, want, m.Lines)
			}
		}
		if got := m.Value("k1"); got != "a:b" {
			t.Errorf("%s consumer: k1 decodes to %q, want a:b", v, got)
		}
		if v != "1.0" {
			if got := m.Value("k2"); got != "x\ny" {
				t.Errorf("%s consumer: k2 decodes to %q", v, got)
			}
		}
	}
}

// TestHeadersRepeatedFirstWins: STOMP 1.2 "Repeated Header Entries": only
// the first value counts. ActiveMQ 5.17 delivers one foo:1 and one
// priority:3 for a SEND with foo:1, foo:2, priority:3, priority:8
// (checked against 5.17.2).
func TestHeadersRepeatedFirstWins(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("dup")
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	c.send("SUBSCRIBE", "", "destination", q, "id", "s", "receipt", "r")
	c.expectReceipt("r")
	c.mustWrite("SEND\ndestination:" + q + "\nfoo:1\nfoo:2\npriority:3\npriority:8\n\nb\x00")
	m := c.expect("MESSAGE")
	if m.Value("foo") != "1" || m.Value("priority") != "3" {
		t.Fatalf("first values lost: foo %q priority %q (%q)", m.Value("foo"), m.Value("priority"), m.Lines)
	}
	var foos []string
	for _, h := range m.Headers {
		if h[0] == "foo" {
			foos = append(foos, h[1])
		}
	}
	if len(foos) != 1 {
		failBug(t, "SEND with foo:1 and foo:2 is delivered with %d foo headers %q; ActiveMQ 5.17 keeps only the first (lines %q)", len(foos), strings.Join(foos, ","), m.Lines)
	}
}
