package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/go-stomp/stomp/v3/frame"
)

const (
	// readBufSize is the size of the Reader's bufio buffer: the most a line
	// or body chunk costs before its limit is checked.
	readBufSize = 64 << 10
	// bodyChunk is the largest body allocated up front from a content-length;
	// beyond it the body grows by doubling as its bytes arrive, so a peer
	// that declares a large body and sends nothing pins at most bodyChunk.
	bodyChunk = 1 << 20
	// maxRetain is the largest scratch buffer a Reader keeps between frames.
	maxRetain = 256 << 10
)

// Reader decodes STOMP frames from a byte stream. It is owned by the one
// goroutine that reads the connection; it is not safe for concurrent use.
//
// The zero value is not usable; call NewReader.
type Reader struct {
	br  *bufio.Reader
	lim Limits
	ver Version
	err error // sticky: once set, every Read returns it

	// Scratch reused across frames; nothing in them escapes to a frame.
	long  []byte   // a line longer than br's buffer
	text  []byte   // the frame's unescaped non-interned header names and values
	spans []span   // one per header entry, indexing text
	kv    []string // name, value, name, value... handed to frame.NewHeader
}

// span locates one header entry's name and value in Reader.text.
type span struct {
	name       string // the interned name, or "" if the name is text[nOff:nEnd]
	nOff, nEnd int
	vOff, vEnd int
}

// frameAlloc lets a frame and its header share one allocation.
type frameAlloc struct {
	f frame.Frame
	h frame.Header
}

// NewReader returns a Reader that reads from r through its own 64 KiB
// bufio.Reader, enforcing lim (zero fields mean the defaults). It starts with
// V10 rules, which are the rules for CONNECT and STOMP frames in every
// version.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{
		br:  bufio.NewReaderSize(r, readBufSize),
		lim: lim.withDefaults(),
	}
}

// SetVersion sets the escaping rules for frames read after this call: the
// session calls it once a CONNECT has negotiated a version. STOMP 1.2: "The
// CONNECT and CONNECTED frames do not escape the carriage return, line feed
// or colon octets".
func (r *Reader) SetVersion(v Version) { r.ver = v }

// Buffered reports how many bytes are already buffered, so a caller can read
// on without blocking (and defer a flush or a wake-up decision) while it is
// non-zero. A buffered byte does not imply a whole frame is buffered.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Read decodes the next frame. It blocks in the underlying reader until a
// frame, a heart-beat or an error arrives.
//
// A (nil, nil) return is a heart-beat: one EOL (LF or CRLF) between frames
// (STOMP 1.2 "Heart-beating"; the EOLs a frame may carry after its NUL are
// reported the same way).
//
// The frame belongs to the caller. Its Header is never nil; header entries
// keep their wire order, repeats included (Header.Get returns the first).
// The frame's non-interned header strings share one allocation. An empty body
// is nil. STOMP 1.2: "If a content-length header is included, this number of
// octets MUST be read, regardless of whether or not there are NULL octets in
// the body"; without it the body ends at the first NUL.
//
// Errors: io.EOF only at a clean frame boundary; io.ErrUnexpectedEOF if the
// stream ends inside a frame; a *ProtocolError for malformed or over-limit
// input; otherwise the underlying reader's error. Every error is final: the
// Reader returns it from every later call.
func (r *Reader) Read() (*frame.Frame, error) {
	if r.err != nil {
		return nil, r.err
	}
	f, err := r.read()
	if err != nil {
		r.err = err
		r.long, r.text, r.spans, r.kv = nil, nil, nil, nil
	}
	return f, err
}

// read is Read without the sticky error.
func (r *Reader) read() (*frame.Frame, error) {
	b, err := r.br.Peek(1)
	if err != nil {
		return nil, err // io.EOF here is a clean frame boundary
	}
	switch b[0] {
	case '\n':
		_, _ = r.br.Discard(1)
		return nil, nil
	case '\r':
		b, err = r.br.Peek(2)
		if len(b) == 2 && b[1] == '\n' {
			_, _ = r.br.Discard(2)
			return nil, nil
		}
		if err != nil {
			return nil, unexpected(err)
		}
		// A CR that starts no CRLF starts a command line, which rejects it.
	}
	return r.readFrame()
}

// readFrame reads one frame from its command line to its NUL.
func (r *Reader) readFrame() (*frame.Frame, error) {
	// STOMP 1.2: command EOL.
	line, total, err := r.readLine("command line")
	if err != nil {
		return nil, err
	}
	command, err := r.parseCommand(line)
	if err != nil {
		return nil, err
	}

	// STOMP 1.2: *( header EOL ) EOL.
	r.text, r.spans = r.text[:0], r.spans[:0]
	for {
		line, n, err := r.readLine("header line")
		if err != nil {
			return nil, err
		}
		total += n
		if total > r.lim.MaxFrameSize {
			return nil, protoErr("header block exceeds max frame size %d", r.lim.MaxFrameSize)
		}
		if len(line) == 0 {
			break
		}
		if len(r.spans) >= r.lim.MaxHeaders {
			return nil, protoErr("frame has more than %d headers", r.lim.MaxHeaders)
		}
		if err := r.parseHeader(line); err != nil {
			return nil, err
		}
	}

	// One string holds every non-interned name and value of the frame.
	text := string(r.text)
	r.kv = r.kv[:0]
	contentLength := -1
	for i, sp := range r.spans {
		name := sp.name
		if name == "" {
			name = text[sp.nOff:sp.nEnd]
		}
		if contentLength < 0 && name == frame.ContentLength {
			contentLength = i
		}
		r.kv = append(r.kv, name, text[sp.vOff:sp.vEnd])
	}

	// STOMP 1.2: *OCTET NULL.
	var body []byte
	if contentLength >= 0 {
		n, err := parseContentLength(r.kv[2*contentLength+1], r.lim.MaxFrameSize)
		if err != nil {
			return nil, err
		}
		body, err = r.readBodyN(n)
		if err != nil {
			return nil, err
		}
	} else {
		body, err = r.readBodyNUL()
		if err != nil {
			return nil, err
		}
	}

	fa := &frameAlloc{}
	fa.h = *frame.NewHeader(r.kv...)
	fa.f = frame.Frame{Command: command, Header: &fa.h, Body: body}
	clear(r.kv)
	r.release()
	return &fa.f, nil
}

// release drops scratch buffers that one large frame grew past maxRetain.
func (r *Reader) release() {
	if cap(r.long) > maxRetain {
		r.long = nil
	}
	if cap(r.text) > maxRetain {
		r.text = nil
	}
	if cap(r.spans) > maxRetain/32 {
		r.spans = nil
	}
	if cap(r.kv) > maxRetain/16 {
		r.kv = nil
	}
}

// readLine reads one line and returns it without its EOL (LF or CRLF),
// together with the number of bytes consumed. The line is valid until the
// next read. A line longer than MaxHeaderLine is a protocol error, detected
// after at most one buffer's worth past the limit and never accumulated.
func (r *Reader) readLine(what string) ([]byte, int, error) {
	limit := r.lim.MaxHeaderLine
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return r.endLine(line, what)
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, 0, unexpected(err)
	}
	// Longer than the buffer: gather the pieces, checking as they come.
	// Without its LF, a line of n bytes has at least n-1 content bytes
	// (the last may be the CR of a CRLF).
	r.long = r.long[:0]
	for {
		if len(r.long)+len(line) > limit+1 {
			return nil, 0, protoErr("%s exceeds %d bytes", what, limit)
		}
		r.long = append(r.long, line...)
		line, err = r.br.ReadSlice('\n')
		switch {
		case err == nil:
			if len(r.long)+len(line) > limit+2 {
				return nil, 0, protoErr("%s exceeds %d bytes", what, limit)
			}
			r.long = append(r.long, line...)
			return r.endLine(r.long, what)
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, 0, unexpected(err)
		}
	}
}

// endLine strips the EOL from a whole line ending in LF and checks its length.
func (r *Reader) endLine(line []byte, what string) ([]byte, int, error) {
	n := len(line)
	line = line[:n-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > r.lim.MaxHeaderLine {
		return nil, 0, protoErr("%s exceeds %d bytes", what, r.lim.MaxHeaderLine)
	}
	return line, n, nil
}

// parseCommand checks a command line and returns the command. STOMP 1.2
// leaves which commands exist to the session; here a command is one or more
// ASCII letters. V10 trims surrounding spaces and tabs, as ActiveMQ does.
func (r *Reader) parseCommand(line []byte) (string, error) {
	cmd := line
	if r.ver == V10 {
		cmd = trimSpace(cmd)
	}
	if len(cmd) == 0 {
		return "", protoErr("empty command line")
	}
	for _, c := range cmd {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return "", protoErr("invalid command %s", quote(line))
		}
	}
	if s, ok := internCommand(cmd); ok {
		return s, nil
	}
	return string(cmd), nil
}

// parseHeader decodes one header line into r.text and r.spans.
//
// STOMP 1.2 "Header"s: the name is the octets before the first colon, the
// value the rest. STOMP 1.0 (per ActiveMQ): name and value are trimmed of
// spaces and tabs and not unescaped. STOMP 1.1/1.2: "Undefined escape
// sequences such as \t (octet 92 and 116) MUST be treated as a fatal
// protocol error".
func (r *Reader) parseHeader(line []byte) error {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return protoErr("header line has no ':' separator: %s", quote(line))
	}
	name, value := line[:i], line[i+1:]
	if r.ver == V10 {
		name, value = trimSpace(name), trimSpace(value)
	}
	if len(name) == 0 {
		return protoErr("empty header name")
	}

	var sp span
	var err error
	start := len(r.text)
	if r.text, err = r.appendDecoded(r.text, name); err != nil {
		return err
	}
	if s, ok := internName(r.text[start:]); ok {
		sp.name = s
		r.text = r.text[:start]
	} else {
		sp.nOff, sp.nEnd = start, len(r.text)
	}
	sp.vOff = len(r.text)
	if r.text, err = r.appendDecoded(r.text, value); err != nil {
		return err
	}
	sp.vEnd = len(r.text)
	r.spans = append(r.spans, sp)
	return nil
}

// appendDecoded appends src to dst, unescaped per the Reader's version.
func (r *Reader) appendDecoded(dst, src []byte) ([]byte, error) {
	if r.ver == V10 {
		return append(dst, src...), nil
	}
	for {
		i := bytes.IndexByte(src, '\\')
		if i < 0 {
			return append(dst, src...), nil
		}
		dst = append(dst, src[:i]...)
		if i+1 == len(src) {
			return dst, protoErr(`incomplete escape sequence \ at end of header`)
		}
		var c byte
		switch src[i+1] {
		case 'n':
			c = '\n'
		case 'c':
			c = ':'
		case '\\':
			c = '\\'
		case 'r':
			if r.ver == V11 {
				return dst, protoErr("undefined escape sequence %s in header", escapeName('r'))
			}
			c = '\r'
		default:
			return dst, protoErr("undefined escape sequence %s in header", escapeName(src[i+1]))
		}
		dst = append(dst, c)
		src = src[i+2:]
	}
}

// parseContentLength parses a content-length header value: STOMP 1.2 "an
// octet count for the length of the message body", here a non-empty string
// of decimal digits whose value is at most limit.
func parseContentLength(v string, limit int) (int, error) {
	if v == "" {
		return 0, protoErr(`invalid content-length ""`)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, protoErr("invalid content-length %s", quote([]byte(v)))
		}
	}
	n := 0
	for i := 0; i < len(v); i++ {
		d := int(v[i] - '0')
		if n > limit/10 || n*10 > limit-d {
			shown := v
			if len(shown) > maxQuoted {
				shown = shown[:maxQuoted] + "..."
			}
			return 0, protoErr("content-length %s exceeds max frame size %d", shown, limit)
		}
		n = n*10 + d
	}
	return n, nil
}

// readBodyN reads a body of n bytes, already checked against the limit, and
// the NUL after it. Up to bodyChunk the body is one exact allocation; past
// it the body grows by doubling as bytes arrive, ending exactly n long.
func (r *Reader) readBodyN(n int) ([]byte, error) {
	var body []byte
	if n > 0 {
		size := min(n, bodyChunk)
		body = make([]byte, size)
		if _, err := io.ReadFull(r.br, body); err != nil {
			return nil, unexpected(err)
		}
		for len(body) < n {
			grown := make([]byte, min(2*len(body), n))
			copy(grown, body)
			if _, err := io.ReadFull(r.br, grown[len(body):]); err != nil {
				return nil, unexpected(err)
			}
			body = grown
		}
	}
	c, err := r.br.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	if c != 0 {
		return nil, protoErr("frame body not terminated by NUL")
	}
	return body, nil
}

// readBodyNUL reads a body that ends at the first NUL, and the NUL. The
// limit is checked per buffered chunk, before the chunk is kept.
func (r *Reader) readBodyNUL() ([]byte, error) {
	limit := r.lim.MaxFrameSize
	chunk, err := r.br.ReadSlice(0)
	if err == nil { // the common case: the whole body was buffered
		n := len(chunk) - 1
		if n > limit {
			return nil, protoErr("frame body exceeds max frame size %d", limit)
		}
		if n == 0 {
			return nil, nil
		}
		body := make([]byte, n)
		copy(body, chunk)
		return body, nil
	}
	var body []byte
	for {
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(body)+len(chunk) > limit {
				return nil, protoErr("frame body exceeds max frame size %d", limit)
			}
			body = append(body, chunk...)
			chunk, err = r.br.ReadSlice(0)
			continue
		}
		if err != nil {
			return nil, unexpected(err)
		}
		n := len(chunk) - 1
		if len(body)+n > limit {
			return nil, protoErr("frame body exceeds max frame size %d", limit)
		}
		body = append(body, chunk[:n]...)
		break
	}
	if cap(body)-len(body) > len(body)/4 {
		exact := make([]byte, len(body))
		copy(exact, body)
		body = exact
	}
	return body, nil
}

// unexpected maps io.EOF inside a frame to io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// trimSpace trims spaces and tabs from both ends of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// internCommand returns the constant string for a STOMP 1.0–1.2 command, so
// reading one allocates nothing. (A switch on string(b) does not allocate.)
func internCommand(b []byte) (string, bool) {
	switch string(b) {
	case "SEND":
		return "SEND", true
	case "MESSAGE":
		return "MESSAGE", true
	case "ACK":
		return "ACK", true
	case "NACK":
		return "NACK", true
	case "SUBSCRIBE":
		return "SUBSCRIBE", true
	case "UNSUBSCRIBE":
		return "UNSUBSCRIBE", true
	case "RECEIPT":
		return "RECEIPT", true
	case "BEGIN":
		return "BEGIN", true
	case "COMMIT":
		return "COMMIT", true
	case "ABORT":
		return "ABORT", true
	case "CONNECT":
		return "CONNECT", true
	case "STOMP":
		return "STOMP", true
	case "CONNECTED":
		return "CONNECTED", true
	case "DISCONNECT":
		return "DISCONNECT", true
	case "ERROR":
		return "ERROR", true
	}
	return "", false
}

// internName returns the constant string for a common header name: the
// STOMP 1.2 headers and the ActiveMQ ones clients send on every frame.
func internName(b []byte) (string, bool) {
	switch string(b) {
	// STOMP 1.2 standard headers.
	case "destination":
		return "destination", true
	case "content-length":
		return "content-length", true
	case "content-type":
		return "content-type", true
	case "receipt":
		return "receipt", true
	case "receipt-id":
		return "receipt-id", true
	case "id":
		return "id", true
	case "ack":
		return "ack", true
	case "message-id":
		return "message-id", true
	case "subscription":
		return "subscription", true
	case "transaction":
		return "transaction", true
	case "message":
		return "message", true
	case "accept-version":
		return "accept-version", true
	case "version":
		return "version", true
	case "host":
		return "host", true
	case "login":
		return "login", true
	case "passcode":
		return "passcode", true
	case "heart-beat":
		return "heart-beat", true
	case "session":
		return "session", true
	case "server":
		return "server", true
	// JMS-mapped headers (ActiveMQ).
	case "persistent":
		return "persistent", true
	case "priority":
		return "priority", true
	case "expires":
		return "expires", true
	case "timestamp":
		return "timestamp", true
	case "type":
		return "type", true
	case "reply-to":
		return "reply-to", true
	case "correlation-id":
		return "correlation-id", true
	case "redelivered":
		return "redelivered", true
	case "selector":
		return "selector", true
	case "client-id":
		return "client-id", true
	case "transformation":
		return "transformation", true
	case "original-destination":
		return "original-destination", true
	case "JMSXGroupID":
		return "JMSXGroupID", true
	case "JMSXGroupSeq":
		return "JMSXGroupSeq", true
	case "JMSXUserID":
		return "JMSXUserID", true
	case "activemq.prefetchSize":
		return "activemq.prefetchSize", true
	case "activemq.exclusive":
		return "activemq.exclusive", true
	case "activemq.subscriptionName":
		return "activemq.subscriptionName", true
	case "activemq.noLocal":
		return "activemq.noLocal", true
	case "activemq.priority":
		return "activemq.priority", true
	case "activemq.retroactive":
		return "activemq.retroactive", true
	case "activemq.dispatchAsync":
		return "activemq.dispatchAsync", true
	case "activemq.maximumPendingMessageLimit":
		return "activemq.maximumPendingMessageLimit", true
	}
	return "", false
}
