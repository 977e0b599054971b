package selector

import (
	"strings"
	"unicode/utf8"
)

const (
	// MaxLength is the longest selector Parse accepts, in bytes.
	MaxLength = 64 << 10
	// MaxDepth is the deepest expression tree Parse accepts. Chains of AND
	// or OR count as one level however long they are.
	MaxDepth = 128
)

// ConvertPrefix is ActiveMQ's selector prefix that turns on string
// conversion (see Options.ConvertStrings); Parse honours it as ActiveMQ's
// SelectorParser does.
const ConvertPrefix = "convert_string_expressions:"

// Fields gives a message's values to a selector; the broker's Message
// adapts to it. Field is called during Matches, on the caller's goroutine,
// once per identifier occurrence, and must not block.
//
// Names are case-sensitive. Besides user properties, the broker answers the
// header fields ActiveMQ defines, with ActiveMQ's types:
//
//	JMSDeliveryMode    string "PERSISTENT" or "NON_PERSISTENT"
//	JMSPriority        int 0-9
//	JMSMessageID       string
//	JMSTimestamp       int64, ms since the epoch
//	JMSCorrelationID   string, missing if unset
//	JMSType            string, missing if unset
//	JMSExpiration      int64, 0 for never
//	JMSRedelivered     bool
//	JMSDestination     string, e.g. "queue://orders"
//	JMSReplyTo         string, missing if unset
//	JMSXDeliveryCount  int, redelivery count + 1
//	JMSXGroupID        string, missing if unset
//	JMSXGroupSeq       int
//	JMSXUserID         string, missing if unset
type Fields interface {
	// Field returns the value of a header field (JMSPriority...) or user
	// property, and whether it exists. Values: string, bool, int64 (also
	// int, int32, int16, int8 and unsigned integers), float64 (also
	// float32), nil for missing. A value of any other type compares false
	// with everything.
	Field(name string) (any, bool)
}

// Options changes how ParseWith reads a selector.
type Options struct {
	// ConvertStrings makes a comparison between a string and a number or
	// boolean parse the string as that type first (price > 10 matches the
	// string property "15"). ActiveMQ turns it on for every STOMP
	// subscription, whose properties all arrive as strings; the STOMP
	// front-end sets it, AMQP does not. A selector starting with
	// ConvertPrefix turns it on too.
	ConvertStrings bool
}

// Selector is a compiled JMS message selector. It is immutable and safe
// for concurrent use; a nil *Selector matches every message.
type Selector struct {
	src  string
	root *node // nil: the empty selector, which matches everything
	conv bool
}

// Parse compiles a JMS 1.1 message selector (see the package doc). An
// empty or blank selector matches every message. Errors are *SyntaxError,
// wrap ErrInvalid, and read like `selector: unexpected "AND" at position
// 12`, fit for a STOMP ERROR or an AMQP invalid-field condition.
func Parse(s string) (*Selector, error) {
	return ParseWith(s, Options{})
}

// ParseWith is Parse with options.
func ParseWith(s string, o Options) (*Selector, error) {
	if len(s) > MaxLength {
		return nil, &SyntaxError{Msg: "longer than 65536 bytes"}
	}
	if !utf8.ValidString(s) {
		off := 0
		for off < len(s) {
			r, size := utf8.DecodeRuneInString(s[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return nil, errAt(s, off, "invalid UTF-8")
	}
	sel := &Selector{src: s, conv: o.ConvertStrings}
	start := 0
	if strings.HasPrefix(s, ConvertPrefix) {
		sel.conv, start = true, len(ConvertPrefix)
	}
	p := parser{lx: lexer{src: s, off: start}}
	root, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	sel.root = root
	return sel, nil
}

// String returns the selector's source text, as given to Parse.
func (s *Selector) String() string {
	if s == nil {
		return ""
	}
	return s.src
}

// Matches reports whether the message f exposes is selected: true only if
// the selector evaluates to TRUE, never for FALSE or unknown. It allocates
// nothing unless the selector concatenates strings.
func (s *Selector) Matches(f Fields) bool {
	if s == nil || s.root == nil {
		return true
	}
	st := evalState{f: f, conv: s.conv, budget: maxConcat}
	return st.cond(s.root) == triTrue
}

// canonical returns the selector fully parenthesised, with normalised
// literals and keywords; "" for the empty selector. Tests use it to check
// what the parser built.
func (s *Selector) canonical() string {
	if s.root == nil {
		return ""
	}
	var b strings.Builder
	s.root.canon(&b)
	return b.String()
}
