package wire

import (
	"fmt"
	"strconv"
)

// ProtocolError reports malformed or over-limit input. After a Reader returns
// one, its stream is not resumable: the session sends a STOMP ERROR frame and
// closes the connection (STOMP 1.2: "the server MAY send ERROR frames if
// something goes wrong. In this case, it MUST then close the connection just
// after sending the ERROR frame").
//
// Msg is a short lowercase sentence, free of EOLs and of raw peer bytes
// (those are quoted), suitable as the ERROR frame's message header.
type ProtocolError struct {
	Msg string
}

// Error returns Msg.
func (e *ProtocolError) Error() string { return e.Msg }

// protoErr builds a *ProtocolError from a format and its arguments.
func protoErr(format string, args ...any) *ProtocolError {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// maxQuoted is how many bytes of peer data an error message quotes.
const maxQuoted = 32

// quote renders peer bytes for an error message: Go-quoted ASCII, cut to
// maxQuoted bytes of input.
func quote(b []byte) string {
	if len(b) > maxQuoted {
		return strconv.QuoteToASCII(string(b[:maxQuoted])) + "..."
	}
	return strconv.QuoteToASCII(string(b))
}

// escapeName renders the escape sequence "\" c for an error message.
func escapeName(c byte) string {
	if c > ' ' && c < 0x7f {
		return `\` + string(rune(c))
	}
	return fmt.Sprintf(`\<0x%02x>`, c)
}
