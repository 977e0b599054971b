package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawConn is a STOMP connection driven byte by byte, for what go-stomp
// cannot send or does not show: exact header encodings per version,
// heart-beats, malformed input, receipts on every frame.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	// version selects header escaping both ways: "1.0" (none, the
	// default and the rule for CONNECT/CONNECTED), "1.1" or "1.2".
	version string
}

// rawFrame is one frame read by a rawConn.
type rawFrame struct {
	Command string
	// Lines are the header lines as received, still escaped.
	Lines []string
	// Headers are the decoded headers in order.
	Headers [][2]string
	Body    []byte
}

// Get returns the first value of header k.
func (f *rawFrame) Get(k string) (string, bool) {
	for _, h := range f.Headers {
		if h[0] == k {
			return h[1], true
		}
	}
	return "", false
}

// Value returns the first value of header k, or "".
func (f *rawFrame) Value(k string) string {
	v, _ := f.Get(k)
	return v
}

func (f *rawFrame) String() string {
	return fmt.Sprintf("%s %q body %q", f.Command, f.Lines, f.Body)
}

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc), version: "1.0"}
}

// write sends s as is.
func (c *rawConn) write(s string) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, err := io.WriteString(c.nc, s)
	return err
}

// mustWrite sends s as is, failing the test on error.
func (c *rawConn) mustWrite(s string) {
	c.t.Helper()
	if err := c.write(s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes a frame: kv are header names and values (escaped for
// c.version), body is sent as is without a content-length unless kv has
// one.
func (c *rawConn) send(cmd, body string, kv ...string) {
	c.t.Helper()
	c.mustWrite(encodeFrame(c.version, cmd, body, kv...))
}

// encodeFrame builds a frame's bytes with header escaping for version.
func encodeFrame(version, cmd, body string, kv ...string) string {
	if len(kv)%2 != 0 {
		panic("encodeFrame: odd number of header strings")
	}
	var sb strings.Builder
	sb.WriteString(cmd)
	sb.WriteByte('\n')
	esc := version != "1.0" && cmd != "CONNECT" && cmd != "STOMP"
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		if esc {
			k, v = escape(version, k), escape(version, v)
		}
		sb.WriteString(k)
		sb.WriteByte(':')
		sb.WriteString(v)
		sb.WriteByte('\n')
	}
	sb.WriteByte('\n')
	sb.WriteString(body)
	sb.WriteByte(0)
	return sb.String()
}

// escape applies STOMP 1.1 or 1.2 header escaping.
func escape(version, s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, ":", `\c`)
	if version == "1.2" {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, ":", `\c`, "\r", `\r`)
	}
	return r.Replace(s)
}

// unescape reverses escape; it leaves undefined sequences as they are.
func unescape(version, s string) string {
	if version == "1.0" || !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			sb.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			sb.WriteByte('\n')
		case 'c':
			sb.WriteByte(':')
		case '\\':
			sb.WriteByte('\\')
		case 'r':
			if version == "1.2" {
				sb.WriteByte('\r')
			} else {
				sb.WriteString(`\r`)
			}
		default:
			sb.WriteByte('\\')
			sb.WriteByte(s[i])
		}
	}
	return sb.String()
}

// next reads the next frame or heart-beat (beat is true, f nil) within
// timeout. It returns io.EOF once the server has closed the connection.
func (c *rawConn) next(timeout time.Duration) (f *rawFrame, beat bool, err error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.br.ReadString('\n')
	if err != nil {
		return nil, false, closedErr(err)
	}
	if line == "\n" || line == "\r\n" {
		return nil, true, nil
	}
	// ActiveMQ ends frames with NUL and EOL; a NUL-led line is that EOL's
	// remainder only if a reader failed to consume it, which ours does not.
	f = &rawFrame{Command: strings.TrimRight(line, "\r\n")}
	version := c.version
	if f.Command == "CONNECTED" {
		version = "1.0"
	}
	length := -1
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return nil, false, closedErr(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		f.Lines = append(f.Lines, line)
		k, v, _ := strings.Cut(line, ":")
		k, v = unescape(version, k), unescape(version, v)
		f.Headers = append(f.Headers, [2]string{k, v})
		if k == "content-length" && length < 0 {
			if n, err := strconv.Atoi(v); err == nil {
				length = n
			}
		}
	}
	if length >= 0 {
		f.Body = make([]byte, length+1)
		if _, err := io.ReadFull(c.br, f.Body); err != nil {
			return nil, false, closedErr(err)
		}
		if f.Body[length] != 0 {
			return nil, false, fmt.Errorf("%s frame: byte after content-length %d body is %q, not NUL", f.Command, length, f.Body[length])
		}
		f.Body = f.Body[:length]
	} else {
		body, err := c.br.ReadBytes(0)
		if err != nil {
			return nil, false, closedErr(err)
		}
		f.Body = body[:len(body)-1]
	}
	if f.Command == "CONNECTED" {
		if v, ok := f.Get("version"); ok {
			c.version = v
		}
	}
	return f, false, nil
}

// closedErr maps the ways a peer's close shows up to io.EOF.
func closedErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return io.EOF
	}
	return err
}

// readFrame returns the next frame, skipping heart-beats.
func (c *rawConn) readFrame(timeout time.Duration) (*rawFrame, error) {
	deadline := time.Now().Add(timeout)
	for {
		f, beat, err := c.next(time.Until(deadline))
		if err != nil || !beat {
			return f, err
		}
	}
}

// expect reads the next frame and checks its command.
func (c *rawConn) expect(cmd string) *rawFrame {
	c.t.Helper()
	f, err := c.readFrame(waitTimeout)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", cmd, err)
	}
	if f.Command != cmd {
		c.t.Fatalf("got %s, want %s", f, cmd)
	}
	return f
}

// expectReceipt reads the next frame and checks it is RECEIPT id.
func (c *rawConn) expectReceipt(id string) {
	c.t.Helper()
	f := c.expect("RECEIPT")
	if got := f.Value("receipt-id"); got != id {
		c.t.Fatalf("RECEIPT receipt-id %q, want %q", got, id)
	}
}

// expectError reads the next frame, checks it is an ERROR with a message
// header, and returns it.
func (c *rawConn) expectError() *rawFrame {
	c.t.Helper()
	f := c.expect("ERROR")
	if m, ok := f.Get("message"); !ok || m == "" {
		c.t.Fatalf("ERROR frame without a message header: %s", f)
	}
	return f
}

// expectClosed waits until the server closes the connection, failing on
// any frame (heart-beats are allowed) or timeout.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		f, beat, err := c.next(time.Until(deadline))
		switch {
		case errors.Is(err, io.EOF):
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.t.Fatalf("connection still open after %v", waitTimeout)
		case err != nil:
			c.t.Fatalf("waiting for close: %v", err)
		case !beat:
			c.t.Fatalf("got %s, want the connection closed", f)
		}
	}
}

// connect sends CONNECT (accept-version v unless v is "", host, and
// extra headers) and returns CONNECTED.
func (c *rawConn) connect(v string, extra ...string) *rawFrame {
	c.t.Helper()
	kv := []string{"host", "localhost"}
	if v != "" {
		kv = append(kv, "accept-version", v)
	}
	c.send("CONNECT", "", append(kv, extra...)...)
	return c.expect("CONNECTED")
}

// expectReceiptAnd reads frames until it has RECEIPT id and n MESSAGE
// frames, in whatever order they come (a redelivery may overtake the
// receipt of the frame that caused it), and returns the messages.
func (c *rawConn) expectReceiptAnd(id string, n int) []*rawFrame {
	c.t.Helper()
	var msgs []*rawFrame
	gotReceipt := false
	deadline := time.Now().Add(waitTimeout)
	for !gotReceipt || len(msgs) < n {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for RECEIPT %s and %d MESSAGE (have %d, receipt %v): %v", id, n, len(msgs), gotReceipt, err)
		}
		switch {
		case f.Command == "RECEIPT" && f.Value("receipt-id") == id && !gotReceipt:
			gotReceipt = true
		case f.Command == "MESSAGE" && len(msgs) < n:
			msgs = append(msgs, f)
		default:
			c.t.Fatalf("got %s, waiting for RECEIPT %s and %d MESSAGE", f, id, n)
		}
	}
	return msgs
}

// untilReceipt reads frames until RECEIPT id, failing on any frame before
// it that allow (nil: none) refuses; it returns the allowed frames.
func (c *rawConn) untilReceipt(id string, allow func(*rawFrame) bool) []*rawFrame {
	c.t.Helper()
	var seen []*rawFrame
	deadline := time.Now().Add(waitTimeout)
	for {
		f, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for RECEIPT %s: %v", id, err)
		}
		if f.Command == "RECEIPT" && f.Value("receipt-id") == id {
			return seen
		}
		if allow == nil || !allow(f) {
			c.t.Fatalf("got %s, waiting for RECEIPT %s", f, id)
		}
		seen = append(seen, f)
	}
}
