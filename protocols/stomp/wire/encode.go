package wire

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/go-stomp/stomp/v3/frame"
)

// AppendFrame appends the encoding of f for version v to buf and returns the
// extended buffer. It allocates nothing besides growing buf, and is safe for
// concurrent use; the connection's writer goroutine calls it and owns buf.
// A nil f appends a heart-beat.
//
// The command is written verbatim and must be a valid STOMP command. Header
// entries are written in order, repeats included, escaped per v:
//
//   - V10 (STOMP 1.0, and CONNECTED in every version): no escaping. What 1.0
//     cannot represent is replaced rather than emitted as a broken frame:
//     names and values are trimmed of spaces, tabs, CR and LF (a 1.0 reader
//     trims them anyway), then LF and CR become a space, and ':' becomes '_'
//     in names. A name left empty is dropped.
//   - V11 (STOMP 1.1): LF, ':' and '\' become \n, \c and \\. A line whose
//     value ends in a raw CR (1.1 has no \r) is ended with CRLF, so a reader
//     strips only the EOL. An empty name is dropped.
//   - V12 (STOMP 1.2): as V11, and CR becomes \r.
//
// STOMP 1.2: "If a content-length header is included, this number of octets
// MUST be read, regardless of whether or not there are NULL octets in the
// body". So that the count can never disagree with the body, the first
// content-length entry (its name matched after any V10 trimming) is written
// as len(f.Body) whatever its value, later ones are dropped, and if there is
// none but the body contains a NUL, one is added after the other headers.
// The body follows the blank line, then the terminating NUL.
func AppendFrame(buf []byte, f *frame.Frame, v Version) []byte {
	if f == nil {
		return AppendHeartbeat(buf)
	}
	buf = append(buf, f.Command...)
	buf = appendEOL(buf)
	wroteLength := false
	if f.Header != nil {
		for i := range f.Header.Len() {
			name, value := f.Header.GetAt(i)
			if v == V10 {
				// Trim what a V10 reader would trim or see as spaces, so
				// that the name it reads is the name tested here.
				name = strings.Trim(name, v10Blank)
				value = strings.Trim(value, v10Blank)
			}
			if name == "" {
				continue
			}
			if name == frame.ContentLength {
				if !wroteLength {
					buf = appendContentLength(buf, len(f.Body))
					wroteLength = true
				}
				continue
			}
			buf = appendEscaped(buf, name, v, true)
			buf = append(buf, ':')
			buf = appendEscaped(buf, value, v, false)
			buf = appendEOL(buf)
		}
	}
	if !wroteLength && bytes.IndexByte(f.Body, 0) >= 0 {
		buf = appendContentLength(buf, len(f.Body))
	}
	buf = append(buf, '\n')
	buf = append(buf, f.Body...)
	return append(buf, 0)
}

// AppendHeartbeat appends one heart-beat, a single LF (STOMP 1.2
// "Heart-beating": "a single EOL"), to buf and returns the extended buffer.
func AppendHeartbeat(buf []byte) []byte {
	return append(buf, '\n')
}

// appendContentLength appends a content-length header line for n bytes.
func appendContentLength(buf []byte, n int) []byte {
	buf = append(buf, frame.ContentLength...)
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(n), 10)
	return append(buf, '\n')
}

// appendEOL ends a line: LF, or CRLF if the line's last byte is a raw CR
// that a reader would otherwise take for part of the EOL.
func appendEOL(buf []byte) []byte {
	if len(buf) > 0 && buf[len(buf)-1] == '\r' {
		return append(buf, '\r', '\n')
	}
	return append(buf, '\n')
}

// v10Blank is what a V10 reader trims (spaces, tabs) and what V10 encoding
// turns into spaces (CR, LF).
const v10Blank = " \t\r\n"

// appendEscaped appends s escaped per v; name says whether s is a header name.
// STOMP 1.2 "Value Encoding": \r (octet 92 and 114) translates to carriage
// return, \n to line feed, \c to ':' and \\ to '\'. STOMP 1.1 lacks \r.
func appendEscaped(buf []byte, s string, v Version, name bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		c := s[i]
		switch {
		case v == V10:
			switch {
			case c == '\n' || c == '\r':
				rep = " "
			case c == ':' && name:
				rep = "_"
			default:
				continue
			}
		case c == '\n':
			rep = `\n`
		case c == ':':
			rep = `\c`
		case c == '\\':
			rep = `\\`
		case c == '\r' && v != V11:
			rep = `\r`
		default:
			continue
		}
		buf = append(buf, s[start:i]...)
		buf = append(buf, rep...)
		start = i + 1
	}
	return append(buf, s[start:]...)
}
