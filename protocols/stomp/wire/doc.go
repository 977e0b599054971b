// Package wire is mqgate's STOMP 1.0/1.1/1.2 frame codec: bytes in, frames
// out, and frames back to bytes. It owns framing, header escaping and the
// size limits a peer may not exceed; it knows nothing of sessions, commands'
// meaning or the network (it imports no logger and no net).
//
// Frames are github.com/go-stomp/stomp/v3/frame values. The go-stomp Reader
// is not used because it allocates whatever content-length a peer declares
// and reads header lines without bound; its Writer is not used because it
// flushes per frame and always applies STOMP 1.2 escaping.
//
// # Wire format
//
// STOMP 1.2 "Augmented BNF":
//
//	frame   = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
//	EOL     = [CR] LF
//	header  = header-name ":" header-value
//
// A bare EOL between frames is a heart-beat (STOMP 1.1/1.2 "Heart-beating").
// CRLF line endings are accepted in every version: the spec only allows them
// from 1.2 on, but real 1.0 and 1.1 clients send them and ActiveMQ accepts
// them.
//
// # Escaping
//
// STOMP 1.0 has no header escaping; the reader trims spaces and tabs around
// header names and values, as ActiveMQ does for 1.0. STOMP 1.1 defines \n, \c
// and \\; STOMP 1.2 adds \r, and both make any other escape a fatal protocol
// error. STOMP 1.2: "The CONNECT and CONNECTED frames do not escape the
// carriage return, line feed or colon octets", so a session reads CONNECT (or
// STOMP) with V10 rules, encodes CONNECTED with V10, and then switches both
// directions to the negotiated version.
//
// # Ownership
//
// A Reader belongs to the one goroutine that reads a connection. AppendFrame
// and AppendHeartbeat are pure functions, safe for concurrent use, intended
// for the connection's writer goroutine, which appends many frames to one
// buffer and flushes once per wake-up.
package wire

import "strconv"

// Version selects the header escaping rules of one STOMP protocol version.
// Values other than V10, V11 and V12 behave as V12.
type Version int

// The STOMP protocol versions.
const (
	// V10 is STOMP 1.0: no escaping; header names and values are trimmed
	// of surrounding spaces and tabs when read. Also the rules for CONNECT,
	// STOMP and CONNECTED frames in every version.
	V10 Version = iota
	// V11 is STOMP 1.1: escapes \n, \c and \\.
	V11
	// V12 is STOMP 1.2: escapes \r, \n, \c and \\.
	V12
)

// String returns the version as the STOMP accept-version and version headers
// spell it: "1.0", "1.1" or "1.2".
func (v Version) String() string {
	switch v {
	case V10:
		return "1.0"
	case V11:
		return "1.1"
	case V12:
		return "1.2"
	}
	return "Version(" + strconv.Itoa(int(v)) + ")"
}

// The limits used where a Limits field is zero or negative.
const (
	defaultMaxFrameSize  = 64 << 20
	defaultMaxHeaders    = 1000
	defaultMaxHeaderLine = 64 << 10
)

// Limits bound what one peer may make a Reader hold. Every limit is checked
// before the memory it guards is allocated. The zero value means the
// defaults.
type Limits struct {
	// MaxFrameSize is the maximum number of bytes of one frame's body, and
	// separately of its command and header block (lines and EOLs counted).
	// <= 0 means 64 MiB.
	MaxFrameSize int
	// MaxHeaders is the maximum number of header entries per frame.
	// <= 0 means 1000.
	MaxHeaders int
	// MaxHeaderLine is the maximum number of bytes of the command line or of
	// one header line, not counting its EOL. <= 0 means 64 KiB.
	MaxHeaderLine int
}

// withDefaults returns l with every unset field replaced by its default.
func (l Limits) withDefaults() Limits {
	if l.MaxFrameSize <= 0 {
		l.MaxFrameSize = defaultMaxFrameSize
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = defaultMaxHeaders
	}
	if l.MaxHeaderLine <= 0 {
		l.MaxHeaderLine = defaultMaxHeaderLine
	}
	return l
}
