package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/config"
)

// Limits of the bad-input broker.
const (
	badMaxFrame   = 1024 // stomp.max_frame_size (the smallest allowed)
	badMaxHeaders = 10   // stomp.max_headers
	badMaxLine    = 256  // stomp.max_header_size (the smallest allowed)
)

// TestBadInput: each malformed or over-limit input gets an ERROR frame
// with a message header, then the connection is closed; meanwhile
// another connection keeps working and a message queued before the bad
// input is still there (DESIGN.md "Errors and bad input").
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) {
		c.STOMP.MaxFrameSize = badMaxFrame
		c.STOMP.MaxHeaders = badMaxHeaders
		c.STOMP.MaxHeaderSize = badMaxLine
	})
	manyHeaders := "SEND\ndestination:/queue/bad\n"
	for i := range badMaxHeaders + 5 {
		manyHeaders += "h" + itoa(i) + ":v\n"
	}
	manyHeaders += "\nx\x00"
	cases := []struct {
		name    string
		version string // "" sends no CONNECT first
		input   string
		// receipt, if set, must come back as the ERROR's receipt-id.
		receipt string
	}{
		{"malformed header line", "1.2", "SEND\ndestination:/queue/bad\nbadheader\n\nx\x00", ""},
		{"unknown command", "1.2", "FOO\n\n\x00", ""},
		{"lower-case command", "1.2", "send\ndestination:/queue/bad\n\nx\x00", ""},
		{"SEND without destination", "1.2", "SEND\nreceipt:r1\n\nx\x00", "r1"},
		{"SEND to /bad/destination", "1.2", "SEND\ndestination:/bad/destination\nreceipt:r2\n\nx\x00", "r2"},
		{"SUBSCRIBE to /bad/destination", "1.2", "SUBSCRIBE\ndestination:/bad/destination\nid:1\n\n\x00", ""},
		{"SUBSCRIBE without id in 1.2", "1.2", "SUBSCRIBE\ndestination:/queue/bad\n\n\x00", ""},
		{"frame over max_frame_size with content-length", "1.2",
			"SEND\ndestination:/queue/bad\ncontent-length:2048\n\n" + strings.Repeat("x", 2048) + "\x00", ""},
		{"frame over max_frame_size without content-length", "1.2",
			"SEND\ndestination:/queue/bad\n\n" + strings.Repeat("x", 2048) + "\x00", ""},
		{"content-length far over the limit", "1.2", "SEND\ndestination:/queue/bad\ncontent-length:1000000000\n\n", ""},
		{"negative content-length", "1.2", "SEND\ndestination:/queue/bad\ncontent-length:-5\n\nx\x00", ""},
		{"content-length not a number", "1.2", "SEND\ndestination:/queue/bad\ncontent-length:ten\n\nx\x00", ""},
		{"body longer than content-length", "1.2", "SEND\ndestination:/queue/bad\ncontent-length:2\n\nabc\x00", ""},
		{"too many headers", "1.2", manyHeaders, ""},
		{"header line over max_header_size", "1.2",
			"SEND\ndestination:/queue/bad\nbig:" + strings.Repeat("v", 2*badMaxLine) + "\n\nx\x00", ""},
		{"undefined escape \\t in 1.2", "1.2", "SEND\ndestination:/queue/bad\nfoo:a\\tb\n\nx\x00", ""},
		{"undefined escape \\r in 1.1", "1.1", "SEND\ndestination:/queue/bad\nfoo:a\\rb\n\nx\x00", ""},
		{"ACK of an unknown message", "1.2", "ACK\nid:nope\n\n\x00", ""},
		{"invalid priority", "1.2", "SEND\ndestination:/queue/bad\npriority:12\n\nx\x00", ""},
		{"HTTP request instead of CONNECT", "", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
		{"binary garbage instead of CONNECT", "", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00\x00\n\n\x00", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keep := "/queue/" + uniq("keep")
			good := b.dial(t)
			send(t, good, keep, "queued before")

			bad := dialRaw(t, b.addr)
			if tc.version != "" {
				bad.connect(tc.version)
			}
			// The broker may close while we still write a large frame.
			_ = bad.write(tc.input)
			f := bad.expectError()
			if tc.receipt != "" && f.Value("receipt-id") != tc.receipt {
				t.Errorf("ERROR receipt-id %q, want %q", f.Value("receipt-id"), tc.receipt)
			}
			t.Logf("ERROR message: %q", f.Value("message"))
			bad.expectClosed()

			// The other connection still works, and nothing was lost.
			sub := subscribe(t, good, keep, backlogAck)
			ack(t, expectBody(t, sub, "queued before"))
			send(t, good, keep, "after")
			ack(t, expectBody(t, sub, "after"))
			if r, i := b.depth("bad"); r+i != 0 {
				t.Errorf("bad input queued %d messages", r+i)
			}
		})
	}
}

// TestBadInputErrorIsPrompt: a declared content-length over the limit is
// refused when the header is read, before any body arrives.
func TestBadInputErrorIsPrompt(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) { c.STOMP.MaxFrameSize = badMaxFrame })
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	start := time.Now()
	c.mustWrite("SEND\ndestination:/queue/x\ncontent-length:4096\n\n")
	c.expectError()
	c.expectClosed()
	if took := time.Since(start); took > waitTimeout/2 {
		t.Errorf("ERROR took %v", took)
	}
}

// TestBadInputLimitsAllowUpToTheLimit: frames right at the limits pass.
func TestBadInputLimitsAllowUpToTheLimit(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) {
		c.STOMP.MaxFrameSize = badMaxFrame
		c.STOMP.MaxHeaders = badMaxHeaders
	})
	q := "/queue/" + uniq("limit")
	c := b.dial(t)
	sub := subscribe(t, c, q, stomp.AckAuto)
	body := strings.Repeat("y", badMaxFrame)
	// go-stomp sends destination, content-length, content-type, receipt
	// and what we add: 10 headers in all.
	opts := []func(*frame.Frame) error{stomp.SendOpt.Receipt}
	for i := range badMaxHeaders - 4 {
		opts = append(opts, stomp.SendOpt.Header("h"+itoa(i), "v"))
	}
	if err := c.Send(q, "text/plain", []byte(body), opts...); err != nil {
		t.Fatalf("SEND at the limits: %v", err)
	}
	expectBody(t, sub, body)
}

// TestConnectTimeout: a connection that sends no CONNECT within
// stomp.connect_timeout gets an ERROR and is closed.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *config.Config) { c.STOMP.ConnectTimeout = 300 * time.Millisecond })
	c := dialRaw(t, b.addr)
	start := time.Now()
	c.expectError()
	c.expectClosed()
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before stomp.connect_timeout", took)
	}
}
