package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// The lean STOMP client of `mqgate bench`. go-stomp's client runs two
// goroutines and a channel hop per frame and flushes every frame; at 100k+
// messages a second that, not the broker, sets the pace. This client has no
// goroutines of its own: the caller owns a leanConn, encodes frames straight
// into a bufio.Writer and decides when to flush (when its loop pauses or the
// buffer fills), and parses incoming frames in place, keeping only the
// headers bench needs. It is a benchmark client for trusted brokers, not a
// general STOMP library, though it checks declared sizes before reading.

const (
	leanBufSize   = 64 * 1024
	maxBenchBody  = 64 << 20 // largest body bench sends or accepts
	maxHeaderLine = leanBufSize
	maxHeaders    = 1000
)

// STOMP versions as negotiated in CONNECTED.
const (
	stomp10 = 10
	stomp11 = 11
	stomp12 = 12
)

// frameKind is the command of an incoming frame.
type frameKind int

const (
	kindOther frameKind = iota
	kindMessage
	kindReceipt
	kindError
	kindConnected
)

// inFrame is an incoming frame reduced to what bench uses. The byte slices
// are owned by the inFrame and reused by the next read. Header values keep
// their wire escaping, so they can be written back verbatim (ACK ids).
type inFrame struct {
	kind         frameKind
	command      []byte
	ack          []byte // STOMP 1.2 ack header (MESSAGE)
	messageID    []byte // message-id (MESSAGE)
	subscription []byte // subscription (MESSAGE)
	receiptID    []byte // receipt-id (RECEIPT)
	version      []byte // version (CONNECTED)
	message      []byte // message (ERROR)
	benchP       int64  // bench-p header, -1 when absent or invalid
	benchSeq     int64  // bench-seq header, -1 when absent or invalid
	benchTS      int64  // bench-ts header (unix nanos), -1 when absent or invalid
	body         []byte // kept for ERROR and CONNECTED only
	bodyLen      int
}

// leanConn is one STOMP connection. Not safe for concurrent use, except
// that one goroutine may read (readFrame) while another writes and flushes,
// and interrupt and close may be called from any goroutine.
type leanConn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	version int
	scratch []byte // frame encoding buffer, owned by the writing goroutine
	f       inFrame
	// Producer settings (benchConfig.groups, selector != ""): the
	// headers sendBench adds.
	groups     int
	selectable bool
}

// dialLean connects and performs the CONNECT/CONNECTED handshake; extra
// headers go on the CONNECT frame (client-id). Heart-beats are off.
func dialLean(ctx context.Context, t stompTarget, extra ...[2]string) (*leanConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &leanConn{
		nc: nc,
		r:  bufio.NewReaderSize(nc, leanBufSize),
		w:  bufio.NewWriterSize(nc, leanBufSize),
	}
	// CONNECT headers are not escaped (STOMP 1.2 "Value Encoding").
	b := append(c.scratch[:0], "CONNECT\naccept-version:1.0,1.1,1.2\nheart-beat:0,0\n"...)
	b = appendRawHeader(b, "host", t.Host)
	if t.Login != "" {
		b = appendRawHeader(b, "login", t.Login)
	}
	if t.Passcode != "" {
		b = appendRawHeader(b, "passcode", t.Passcode)
	}
	for _, h := range extra {
		b = appendRawHeader(b, h[0], h[1])
	}
	b = append(b, '\n', 0)
	c.scratch = b
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.w.Write(b); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	if err := c.w.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	f, err := c.readFrame()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	switch f.kind {
	case kindConnected:
	case kindError:
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, f.errorValue())
	default:
		nc.Close()
		return nil, fmt.Errorf("connect to %s: expected CONNECTED, got %q", t.Addr, f.command)
	}
	switch string(f.version) {
	case "", "1.0":
		c.version = stomp10
	case "1.1":
		c.version = stomp11
	case "1.2":
		c.version = stomp12
	default:
		nc.Close()
		return nil, fmt.Errorf("connect to %s: unsupported STOMP version %q", t.Addr, f.version)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// brokerError is an ERROR frame from the broker.
type brokerError struct {
	Message string
	Body    string
}

func (e *brokerError) Error() string {
	s := "broker sent ERROR"
	if e.Message != "" {
		s += ": " + e.Message
	}
	if b := strings.TrimSpace(e.Body); b != "" {
		if len(b) > 300 {
			b = b[:300] + "…"
		}
		s += " (" + strings.ReplaceAll(b, "\n", " ") + ")"
	}
	return s
}

// errorValue converts an ERROR frame into an error.
func (f *inFrame) errorValue() error {
	return &brokerError{Message: unescapeHeader(f.message), Body: string(f.body)}
}

// unescapeHeader undoes STOMP 1.1/1.2 header escaping, for display.
func unescapeHeader(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	r := strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\c`, ":", `\\`, `\`)
	return r.Replace(string(b))
}

// appendRawHeader appends "k:v\n" without escaping.
func appendRawHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, '\n')
}

// appendHeader appends "k:v\n", escaping v as the negotiated version asks.
func (c *leanConn) appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ':')
	if c.version == stomp10 || !strings.ContainsAny(v, "\\\n\r:") {
		b = append(b, v...)
	} else {
		for i := 0; i < len(v); i++ {
			switch ch := v[i]; ch {
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case ':':
				b = append(b, '\\', 'c')
			case '\r':
				if c.version == stomp12 {
					b = append(b, '\\', 'r')
				} else {
					b = append(b, ch)
				}
			default:
				b = append(b, ch)
			}
		}
	}
	return append(b, '\n')
}

// appendIntHeader appends "k:n\n".
func appendIntHeader(b []byte, k string, n int64) []byte {
	b = append(b, k...)
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\n')
}

// writeFrame buffers the frame in c.scratch followed by body and a NUL.
func (c *leanConn) writeFrame(hdr, body []byte) error {
	if _, err := c.w.Write(hdr); err != nil {
		return err
	}
	if len(body) > 0 {
		if _, err := c.w.Write(body); err != nil {
			return err
		}
	}
	return c.w.WriteByte(0)
}

// subscribe buffers a SUBSCRIBE frame; receipt "" asks for none.
func (c *leanConn) subscribe(dest, id, ack string, prefetch int, receipt string, extra [][2]string) error {
	b := append(c.scratch[:0], "SUBSCRIBE\n"...)
	b = c.appendHeader(b, "destination", dest)
	b = c.appendHeader(b, "id", id)
	b = c.appendHeader(b, "ack", ack)
	if prefetch > 0 {
		b = appendIntHeader(b, "activemq.prefetchSize", int64(prefetch))
		b = appendIntHeader(b, "prefetch-count", int64(prefetch)) // RabbitMQ
	}
	for _, h := range extra {
		b = c.appendHeader(b, h[0], h[1])
	}
	if receipt != "" {
		b = c.appendHeader(b, "receipt", receipt)
	}
	b = append(b, '\n')
	c.scratch = b
	return c.writeFrame(b, nil)
}

// sendBench buffers a SEND frame carrying the bench headers. receipt 0 asks
// for none; otherwise the receipt id is "s<receipt>".
func (c *leanConn) sendBench(dest string, body []byte, persistent bool, producer int, seq, ts int64, receipt int64) error {
	b := append(c.scratch[:0], "SEND\n"...)
	b = c.appendHeader(b, "destination", dest)
	if persistent {
		b = append(b, "persistent:true\n"...)
	}
	if c.groups > 0 {
		b = append(b, "JMSXGroupID:g"...)
		b = strconv.AppendInt(b, seq%int64(c.groups), 10)
		b = append(b, '\n')
	}
	if c.selectable {
		b = append(b, "bench_region:eu\nbench_n:"...)
		b = strconv.AppendInt(b, seq%10, 10)
		b = append(b, '\n')
	}
	b = appendIntHeader(b, "bench-p", int64(producer))
	b = appendIntHeader(b, "bench-seq", seq)
	b = appendIntHeader(b, "bench-ts", ts)
	if receipt != 0 {
		b = append(b, "receipt:s"...)
		b = strconv.AppendInt(b, receipt, 10)
		b = append(b, '\n')
	}
	b = appendIntHeader(b, "content-length", int64(len(body)))
	b = append(b, '\n')
	c.scratch = b
	return c.writeFrame(b, body)
}

// ack buffers an ACK for the MESSAGE frame f (STOMP 1.2: id = its ack
// header; 1.1: message-id and subscription; 1.0: message-id).
func (c *leanConn) ack(f *inFrame) error {
	b := append(c.scratch[:0], "ACK\n"...)
	switch {
	case c.version == stomp12 && len(f.ack) > 0:
		b = append(b, "id:"...)
		b = append(b, f.ack...)
		b = append(b, '\n')
	default:
		b = append(b, "message-id:"...)
		b = append(b, f.messageID...)
		b = append(b, '\n')
		if c.version >= stomp11 {
			b = append(b, "subscription:"...)
			b = append(b, f.subscription...)
			b = append(b, '\n')
		}
	}
	b = append(b, '\n')
	c.scratch = b
	return c.writeFrame(b, nil)
}

// ackRaw buffers an ACK from saved header values (for cumulative acks).
func (c *leanConn) ackRaw(ackID, messageID, subscription []byte) error {
	f := inFrame{ack: ackID, messageID: messageID, subscription: subscription}
	return c.ack(&f)
}

// disconnect buffers a DISCONNECT frame; receipt "" asks for none.
func (c *leanConn) disconnect(receipt string) error {
	b := append(c.scratch[:0], "DISCONNECT\n"...)
	if receipt != "" {
		b = c.appendHeader(b, "receipt", receipt)
	}
	b = append(b, '\n')
	c.scratch = b
	return c.writeFrame(b, nil)
}

// flush writes out the buffered frames.
func (c *leanConn) flush() error { return c.w.Flush() }

// interrupt makes a blocked readFrame return a timeout error now. Safe from
// any goroutine.
func (c *leanConn) interrupt() { c.nc.SetReadDeadline(time.Now()) }

// close closes the socket. Safe from any goroutine.
func (c *leanConn) close() error { return c.nc.Close() }

var (
	errFrameTooLarge = errors.New("frame exceeds bench limits")
	errBadFrame      = errors.New("malformed frame")
)

// readFrame reads the next frame, skipping heart-beats. The returned frame
// is c.f, valid until the next call.
func (c *leanConn) readFrame() (*inFrame, error) {
	return readLeanFrame(c.r, &c.f)
}

// readLeanFrame reads one frame from r into f (reusing its buffers). It
// also consumes the EOLs (heart-beats) already buffered after the frame, so
// r.Buffered() == 0 means the next read would block: callers flush then.
func readLeanFrame(r *bufio.Reader, f *inFrame) (*inFrame, error) {
	f, err := readLeanFrame1(r, f)
	if err == nil {
		skipBufferedEOLs(r)
	}
	return f, err
}

// skipBufferedEOLs discards "\n" and "\r\n" at the head of r's buffer
// without reading from the connection.
func skipBufferedEOLs(r *bufio.Reader) {
	for n := r.Buffered(); n > 0; n = r.Buffered() {
		b, _ := r.Peek(min(n, 2))
		switch {
		case b[0] == '\n':
			r.Discard(1)
		case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
			r.Discard(2)
		default:
			return
		}
	}
}

func readLeanFrame1(r *bufio.Reader, f *inFrame) (*inFrame, error) {
	// Command line, after any heart-beat EOLs.
	var line []byte
	for {
		l, err := r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return nil, fmt.Errorf("%w: command line longer than %d bytes", errFrameTooLarge, maxHeaderLine)
			}
			if err == io.EOF && len(l) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		l = trimEOL(l)
		if len(l) > 0 {
			line = l
			break
		}
	}
	f.command = append(f.command[:0], line...)
	f.kind = kindOther
	switch string(line) {
	case "MESSAGE":
		f.kind = kindMessage
	case "RECEIPT":
		f.kind = kindReceipt
	case "ERROR":
		f.kind = kindError
	case "CONNECTED":
		f.kind = kindConnected
	}
	f.ack, f.messageID, f.subscription = f.ack[:0], f.messageID[:0], f.subscription[:0]
	f.receiptID, f.version, f.message = f.receiptID[:0], f.version[:0], f.message[:0]
	f.benchP, f.benchSeq, f.benchTS = -1, -1, -1
	f.body = f.body[:0]
	contentLength := -1
	var seen uint16 // bit per header already taken: the first occurrence wins
	for n := 0; ; n++ {
		if n > maxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", errFrameTooLarge, maxHeaders)
		}
		l, err := r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return nil, fmt.Errorf("%w: header line longer than %d bytes", errFrameTooLarge, maxHeaderLine)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		l = trimEOL(l)
		if len(l) == 0 {
			break
		}
		i := bytes.IndexByte(l, ':')
		if i < 0 {
			return nil, fmt.Errorf("%w: header line without a colon", errBadFrame)
		}
		k, v := l[:i], l[i+1:]
		var bit uint16
		var dst *[]byte
		switch string(k) {
		case "ack":
			bit, dst = 1, &f.ack
		case "message-id":
			bit, dst = 2, &f.messageID
		case "subscription":
			bit, dst = 4, &f.subscription
		case "receipt-id":
			bit, dst = 8, &f.receiptID
		case "version":
			bit, dst = 16, &f.version
		case "message":
			bit, dst = 32, &f.message
		case "content-length":
			bit = 64
			if seen&bit == 0 {
				cl, ok := parseNonNeg(v)
				if !ok {
					return nil, fmt.Errorf("%w: content-length %q", errBadFrame, v)
				}
				if cl > maxBenchBody {
					return nil, fmt.Errorf("%w: content-length %d", errFrameTooLarge, cl)
				}
				contentLength = int(cl)
			}
		case "bench-p":
			bit = 128
			if seen&bit == 0 {
				if x, ok := parseNonNeg(v); ok {
					f.benchP = x
				}
			}
		case "bench-seq":
			bit = 256
			if seen&bit == 0 {
				if x, ok := parseNonNeg(v); ok {
					f.benchSeq = x
				}
			}
		case "bench-ts":
			bit = 512
			if seen&bit == 0 {
				if x, ok := parseNonNeg(v); ok {
					f.benchTS = x
				}
			}
		}
		if bit != 0 && seen&bit == 0 {
			seen |= bit
			if dst != nil {
				*dst = append((*dst)[:0], v...)
			}
		}
	}
	keepBody := f.kind == kindError || f.kind == kindConnected
	if contentLength >= 0 {
		f.bodyLen = contentLength
		if keepBody {
			if cap(f.body) < contentLength {
				f.body = make([]byte, contentLength)
			}
			f.body = f.body[:contentLength]
			if _, err := io.ReadFull(r, f.body); err != nil {
				return nil, unexpectedEOF(err)
			}
		} else if _, err := r.Discard(contentLength); err != nil {
			return nil, unexpectedEOF(err)
		}
		nul, err := r.ReadByte()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		if nul != 0 {
			return nil, fmt.Errorf("%w: no NUL after %d body bytes", errBadFrame, contentLength)
		}
		return f, nil
	}
	// No content-length: the body ends at the first NUL.
	f.bodyLen = 0
	for {
		chunk, err := r.ReadSlice(0)
		if err != nil && err != bufio.ErrBufferFull {
			return nil, unexpectedEOF(err)
		}
		n := len(chunk)
		if err == nil {
			n-- // the NUL
		}
		f.bodyLen += n
		if f.bodyLen > maxBenchBody {
			return nil, fmt.Errorf("%w: body over %d bytes", errFrameTooLarge, maxBenchBody)
		}
		if keepBody {
			f.body = append(f.body, chunk[:n]...)
		}
		if err == nil {
			return f, nil
		}
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// trimEOL strips a trailing "\n" or "\r\n".
func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
	}
	return l
}

// parseNonNeg parses a decimal int64 >= 0 without allocating.
func parseNonNeg(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := int64(ch - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
