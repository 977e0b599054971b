package backend

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the kind of a destination.
type Kind uint8

// Destination kinds.
const (
	Queue Kind = iota + 1
	Topic
	TempQueue
	TempTopic
)

// String returns the kind's URI scheme: "queue", "topic", "temp-queue", "temp-topic".
func (k Kind) String() string {
	switch k {
	case Queue:
		return "queue"
	case Topic:
		return "topic"
	case TempQueue:
		return "temp-queue"
	case TempTopic:
		return "temp-topic"
	}
	return "unknown"
}

// IsTopic reports whether k has publish/subscribe semantics.
func (k Kind) IsTopic() bool { return k == Topic || k == TempTopic }

// IsTemp reports whether k is a temporary destination.
func (k Kind) IsTemp() bool { return k == TempQueue || k == TempTopic }

// Destination names a queue or topic. The zero value is "no destination".
type Destination struct {
	Kind Kind
	Name string
}

// IsZero reports whether d names nothing.
func (d Destination) IsZero() bool { return d.Kind == 0 }

// String returns d as a URI, e.g. "queue://orders". It is also the store-level
// name of a queue.
func (d Destination) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Kind.String() + "://" + d.Name
}

// ErrBadDestination is wrapped by errors about destination names.
var ErrBadDestination = errors.New("bad destination")

// ParseDestination parses the form String produces.
func ParseDestination(s string) (Destination, error) {
	scheme, name, ok := strings.Cut(s, "://")
	if !ok {
		return Destination{}, fmt.Errorf("%w: %q has no scheme", ErrBadDestination, s)
	}
	var k Kind
	switch scheme {
	case "queue":
		k = Queue
	case "topic":
		k = Topic
	case "temp-queue":
		k = TempQueue
	case "temp-topic":
		k = TempTopic
	default:
		return Destination{}, fmt.Errorf("%w: unknown kind %q", ErrBadDestination, scheme)
	}
	d := Destination{Kind: k, Name: name}
	return d, ValidateName(name)
}

// MaxNameLen is the longest destination name accepted.
const MaxNameLen = 1024

// ValidateName checks a destination name: non-empty, at most MaxNameLen
// bytes, no control characters. ActiveMQ also rejects these.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrBadDestination)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: name longer than %d bytes", ErrBadDestination, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return fmt.Errorf("%w: control character in name %q", ErrBadDestination, name)
		}
	}
	return nil
}
