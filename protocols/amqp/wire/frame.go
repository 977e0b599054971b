package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
)

// FrameType is the type octet of a frame header. AMQP 1.0 §2.3.1.
type FrameType uint8

// The frame types.
const (
	FrameAMQP FrameType = 0x00 // AMQP 1.0 §2.3.2
	FrameSASL FrameType = 0x01 // AMQP 1.0 §5.3.1
)

// MinMaxFrameSize is the smallest max-frame-size a peer may declare, and
// the limit on frames before open has been exchanged. AMQP 1.0 §2.7.1
// (MIN-MAX-FRAME-SIZE).
const MinMaxFrameSize = 512

// FrameHeaderSize is the size of the fixed frame header. AMQP 1.0 §2.3.1.
const FrameHeaderSize = 8

// Frame is one frame with its header decoded and its extended header
// dropped. AMQP 1.0 §2.3.1.
type Frame struct {
	Type    FrameType
	Channel uint16 // type-specific: the channel of an AMQP frame, ignored for SASL
	// Body is the frame body: a performative, followed by the payload for
	// a transfer. Empty for an empty frame (a heartbeat, AMQP 1.0 §2.4.5).
	Body []byte
}

// Empty reports whether f has no body: an AMQP frame with no body is a
// heartbeat that only keeps the connection alive. AMQP 1.0 §2.3.2.
func (f Frame) Empty() bool { return len(f.Body) == 0 }

// FrameReader reads frames from a byte stream, enforcing a maximum frame
// size before it allocates. It is owned by the one goroutine that reads the
// connection.
//
// It does no buffering of its own, so that the reader underneath can be
// switched (to TLS after a TLS protocol header, or from SASL to AMQP
// framing) without losing bytes: give it a *bufio.Reader to avoid a read
// call per header.
type FrameReader struct {
	r   io.Reader
	max uint32
	hdr [FrameHeaderSize]byte
}

// NewFrameReader returns a FrameReader over r accepting frames of at most
// maxFrameSize bytes, header included. Values below MinMaxFrameSize are
// raised to it.
func NewFrameReader(r io.Reader, maxFrameSize uint32) *FrameReader {
	fr := &FrameReader{r: r}
	fr.SetMaxFrameSize(maxFrameSize)
	return fr
}

// SetMaxFrameSize changes the largest frame accepted from the next frame
// on: the session sets it to the max-frame-size it sent in its open.
// AMQP 1.0 §2.7.1. Values below MinMaxFrameSize are raised to it.
func (fr *FrameReader) SetMaxFrameSize(n uint32) {
	fr.max = max(n, MinMaxFrameSize)
}

// MaxFrameSize returns the largest frame accepted.
func (fr *FrameReader) MaxFrameSize() uint32 { return fr.max }

// readChunk is the most of a frame's body allocated before its bytes
// arrive: larger bodies grow as they are read, so a peer that declares a
// large frame and stalls pins at most readChunk bytes.
const readChunk = 64 << 10

// ReadFrame reads the next frame. It blocks in the underlying reader.
//
// It returns io.EOF when the stream ends cleanly between frames,
// io.ErrUnexpectedEOF when it ends inside one, a *FrameError for a header
// that breaks AMQP 1.0 §2.3.1 (size below 8 or above the maximum, data
// offset below 2 or past the end of the frame), and any other error of the
// underlying reader. After an error the stream is not resumable.
//
// The returned Body is a new slice owned by the caller; decoded values that
// alias it keep it alive.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return Frame{}, err
	}
	size := binary.BigEndian.Uint32(fr.hdr[0:4])
	doff := uint32(fr.hdr[4])
	f := Frame{
		Type:    FrameType(fr.hdr[5]),
		Channel: binary.BigEndian.Uint16(fr.hdr[6:8]),
	}
	switch {
	case size < FrameHeaderSize:
		return Frame{}, &FrameError{Reason: "frame size " + utoa(size) + " is smaller than its header"}
	case size > fr.max:
		return Frame{}, &FrameError{Reason: "frame size " + utoa(size) +
			" exceeds the maximum frame size " + utoa(fr.max)}
	case doff < 2:
		return Frame{}, &FrameError{Reason: "data offset " + utoa(doff) + " is below 2"}
	case doff*4 > size:
		return Frame{}, &FrameError{Reason: "data offset " + utoa(doff) +
			" is past the end of a frame of " + utoa(size) + " bytes"}
	}
	buf, err := readBody(fr.r, int(size)-FrameHeaderSize)
	if err != nil {
		return Frame{}, err
	}
	f.Body = buf[doff*4-FrameHeaderSize:]
	return f, nil
}

// readBody reads exactly n bytes, growing the buffer as they arrive beyond
// readChunk.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, 0, min(n, readChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b)))
		}
		m, err := io.ReadFull(r, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

func utoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// AppendFrame appends a frame of type typ on channel with body (which may
// be empty: a heartbeat) to buf, with the minimal data offset of 2 and no
// extended header. AMQP 1.0 §2.3.1. body must be shorter than 4 GiB - 8.
func AppendFrame(buf []byte, typ FrameType, channel uint16, body []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(FrameHeaderSize+len(body)))
	buf = append(buf, 2, byte(typ))
	buf = binary.BigEndian.AppendUint16(buf, channel)
	return append(buf, body...)
}

// AppendPerformative appends one frame holding p to buf: an AMQP frame on
// channel, or a SASL frame (channel 0) for the SASL performatives. For a
// *Transfer the frame carries its Payload after the performative. It does
// not check the peer's max-frame-size: the session sizes transfers' payloads
// to fit (AMQP 1.0 §2.7.5).
func AppendPerformative(buf []byte, channel uint16, p Performative) ([]byte, error) {
	start := len(buf)
	typ := FrameAMQP
	if isSASL(p.Descriptor()) {
		typ, channel = FrameSASL, 0
	}
	buf = append(buf, 0, 0, 0, 0, 2, byte(typ), byte(channel>>8), byte(channel))
	buf, err := p.Marshal(buf)
	if err != nil {
		return buf[:start], err
	}
	if t, ok := p.(*Transfer); ok {
		buf = append(buf, t.Payload...)
	}
	size := len(buf) - start
	if uint64(size) > math.MaxUint32 {
		return buf[:start], errTooLong
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(size))
	return buf, nil
}

// isSASL reports whether code is a SASL frame body's descriptor.
func isSASL(code uint64) bool { return code >= DescSASLMechanisms && code <= DescSASLOutcome }

// PeekDescriptor returns the descriptor code of the performative or other
// described value at the start of b, without decoding it, so that a session
// can decode a transfer into a reused *Transfer. A symbolic descriptor is
// translated; an unknown one is a DecodeError.
func PeekDescriptor(b []byte) (uint64, error) {
	d := decoder{b: b}
	code, ok, err := d.descriptor()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, failAt(0, "unknown symbolic descriptor")
	}
	return code, nil
}

// performativeDecoder is a Performative that can decode from a decoder.
type performativeDecoder interface {
	Performative
	decode(*decoder) error
}

// newPerformative returns a new zero performative for code, or nil.
func newPerformative(code uint64) performativeDecoder {
	switch code {
	case DescOpen:
		return new(Open)
	case DescBegin:
		return new(Begin)
	case DescAttach:
		return new(Attach)
	case DescFlow:
		return new(Flow)
	case DescTransfer:
		return new(Transfer)
	case DescDisposition:
		return new(Disposition)
	case DescDetach:
		return new(Detach)
	case DescEnd:
		return new(End)
	case DescClose:
		return new(Close)
	case DescSASLMechanisms:
		return new(SASLMechanisms)
	case DescSASLInit:
		return new(SASLInit)
	case DescSASLChallenge:
		return new(SASLChallenge)
	case DescSASLResponse:
		return new(SASLResponse)
	case DescSASLOutcome:
		return new(SASLOutcome)
	}
	return nil
}

// DecodeFrameBody decodes the performative in f's body: one of the AMQP
// performatives in an AMQP frame, one of the SASL frame bodies in a SASL
// frame. It returns (nil, nil) for an empty frame. A *Transfer's Payload is
// the rest of the body; any other performative must fill the body exactly.
// AMQP 1.0 §2.3.2, §5.3.1.
//
// Errors are a *FrameError for an unknown frame type and a *DecodeError for
// everything else (offsets relative to f.Body).
func DecodeFrameBody(f Frame) (Performative, error) {
	if f.Empty() {
		return nil, nil
	}
	if f.Type != FrameAMQP && f.Type != FrameSASL {
		return nil, &FrameError{Reason: "unknown frame type 0x" + hexUint(uint64(f.Type))}
	}
	d := decoder{b: f.Body}
	code, ok, err := d.peekDescriptor()
	if err != nil {
		return nil, err
	}
	var p performativeDecoder
	if ok && isSASL(code) == (f.Type == FrameSASL) {
		p = newPerformative(code)
	}
	if p == nil {
		kind := "an amqp"
		if f.Type == FrameSASL {
			kind = "a sasl"
		}
		return nil, failAt(0, "described type "+descriptorLabel(code, ok)+" is not "+kind+" frame body")
	}
	if err := p.decode(&d); err != nil {
		return nil, err
	}
	if t, ok := p.(*Transfer); ok {
		t.Payload = f.Body[d.off:len(f.Body):len(f.Body)]
	} else if d.off != len(f.Body) {
		return nil, d.fail("unexpected bytes after " + descriptorName(code))
	}
	return p, nil
}

// ProtocolID is the protocol id octet of a protocol header. AMQP 1.0 §2.2,
// §5.1.
type ProtocolID uint8

// The protocol ids.
const (
	ProtocolAMQP ProtocolID = 0 // AMQP 1.0 §2.2
	ProtocolTLS  ProtocolID = 2 // AMQP 1.0 §5.2
	ProtocolSASL ProtocolID = 3 // AMQP 1.0 §5.3
)

// ProtocolHeader is the 8-byte header that opens each protocol layer:
// "AMQP", the protocol id, and major, minor and revision versions.
// AMQP 1.0 §2.2.
type ProtocolHeader struct {
	ID                     ProtocolID
	Major, Minor, Revision uint8
}

// The AMQP 1.0.0 protocol headers.
var (
	HeaderAMQP = ProtocolHeader{ID: ProtocolAMQP, Major: 1} // AMQP\x00\x01\x00\x00
	HeaderTLS  = ProtocolHeader{ID: ProtocolTLS, Major: 1}  // AMQP\x02\x01\x00\x00
	HeaderSASL = ProtocolHeader{ID: ProtocolSASL, Major: 1} // AMQP\x03\x01\x00\x00
)

// Append appends the 8 header bytes to b.
func (h ProtocolHeader) Append(b []byte) []byte {
	return append(b, 'A', 'M', 'Q', 'P', byte(h.ID), h.Major, h.Minor, h.Revision)
}

// String returns e.g. "AMQP 3 1.0.0".
func (h ProtocolHeader) String() string {
	return "AMQP " + strconv.Itoa(int(h.ID)) + " " + strconv.Itoa(int(h.Major)) + "." +
		strconv.Itoa(int(h.Minor)) + "." + strconv.Itoa(int(h.Revision))
}

// ParseProtocolHeader parses 8 bytes as a protocol header. Bytes that do not
// start with "AMQP" are a *FrameError (another protocol, e.g. a STOMP or HTTP
// client on the AMQP port); the id and version are returned as sent, for
// the caller to accept or answer with its own header (AMQP 1.0 §2.2).
func ParseProtocolHeader(b []byte) (ProtocolHeader, error) {
	if len(b) != 8 || string(b[:4]) != "AMQP" {
		return ProtocolHeader{}, &FrameError{Reason: "not an amqp protocol header"}
	}
	return ProtocolHeader{ID: ProtocolID(b[4]), Major: b[5], Minor: b[6], Revision: b[7]}, nil
}

// ReadProtocolHeader reads and parses a protocol header from r.
func ReadProtocolHeader(r io.Reader) (ProtocolHeader, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return ProtocolHeader{}, err
	}
	return ParseProtocolHeader(b[:])
}
