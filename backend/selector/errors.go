package selector

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalid is the sentinel every Parse error wraps: callers test for a bad
// selector with errors.Is(err, selector.ErrInvalid) and answer with a STOMP
// ERROR frame or an AMQP amqp:invalid-field condition.
var ErrInvalid = errors.New("selector: invalid selector")

// SyntaxError is the error Parse returns. Its text is meant for the client:
// `selector: unexpected "AND" at position 12`.
type SyntaxError struct {
	// Pos is the 1-based character (not byte) position in the selector
	// where the problem starts, or 0 when the whole selector is at fault.
	Pos int
	// Msg says what is wrong, lowercase, without the position.
	Msg string
}

// Error formats the message with its position.
func (e *SyntaxError) Error() string {
	if e.Pos <= 0 {
		return "selector: " + e.Msg
	}
	return fmt.Sprintf("selector: %s at position %d", e.Msg, e.Pos)
}

// Unwrap makes errors.Is(err, ErrInvalid) true for every SyntaxError.
func (e *SyntaxError) Unwrap() error { return ErrInvalid }

// errAt builds a SyntaxError for the byte offset off in src.
func errAt(src string, off int, format string, args ...any) *SyntaxError {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	return &SyntaxError{Pos: utf8.RuneCountInString(src[:off]) + 1, Msg: fmt.Sprintf(format, args...)}
}

// quoteTok quotes a token's source text for an error message, shortening
// long tokens so an error never echoes a whole hostile selector.
func quoteTok(s string) string {
	const max = 32
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return fmt.Sprintf("%q", s)
}
