package backend

import (
	"strconv"
	"sync"
)

// The producer audit (ActiveMQ's producer audit): a producer that stamps
// its messages with AuditIDProp and an increasing AuditSeqProp (mqgate's
// failover transport does) may resend them after a reconnect without
// knowing which ones the broker already has; the broker accepts each
// (producer, destination, sequence) once and confirms a resend of one it
// has without storing it again.
const (
	// AuditIDProp names the producer: random, stable across reconnects.
	AuditIDProp = "mqgate-producer-id"
	// AuditSeqProp numbers its messages: one more with each message.
	AuditSeqProp = "mqgate-producer-seq"
)

// maxAuditProducers bounds the audit: past it the least recently seen
// producer streams are forgotten (their resends are then stored again).
const maxAuditProducers = 1 << 16

// audit tracks, per producer and destination, the highest sequence
// accepted, the sequences below it whose publish failed (a resend of
// those is new), and the publishes still in flight (a resend of one waits
// for its outcome).
type audit struct {
	mu      sync.Mutex
	streams map[string]*auditStream
	order   []string // insertion order of streams, for eviction
	head    int      // first live element of order
}

type auditStream struct {
	seen    bool // high is set
	high    uint64
	failed  map[uint64]struct{}
	pending map[uint64][]func(error) // in flight: the resends waiting on it
}

// auditKey returns m's audit key and sequence, or ok false when m carries
// no (valid) producer stamp. A message a network bridge forwarded (its
// BrokerPath is set) is not audited: it may come back legitimately (a
// replay to where its consumers moved) or out of its producer's order
// (another route), and PublishForwarded drops its duplicates (network.go).
func auditKey(m *Message) (key string, seq uint64, ok bool) {
	if len(m.BrokerPath) > 0 {
		return "", 0, false
	}
	return producerKey(m)
}

// producerKey is m's producer id and destination, and its sequence,
// whatever its broker path. It only reads m.
func producerKey(m *Message) (key string, seq uint64, ok bool) {
	var id string
	var haveSeq bool
	for i := range m.Props {
		switch p := &m.Props[i]; p.Name {
		case AuditIDProp:
			id, _ = p.Value.(string)
		case AuditSeqProp:
			seq, haveSeq = propUint(p.Value)
		}
	}
	if id == "" || !haveSeq {
		return "", 0, false
	}
	return id + "\x00" + m.Dest.String(), seq, true
}

// propUint reads a non-negative integer property (a STOMP header's string,
// an AMQP long or int).
func propUint(v any) (uint64, bool) {
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseUint(v, 10, 64)
		return n, err == nil
	case int64:
		return uint64(v), v >= 0
	case int32:
		return uint64(v), v >= 0
	case int:
		return uint64(v), v >= 0
	case uint64:
		return v, true
	case uint32:
		return uint64(v), true
	}
	return 0, false
}

// stream returns key's stream, creating it. a.mu must be held.
func (a *audit) stream(key string) *auditStream {
	if s := a.streams[key]; s != nil {
		return s
	}
	if a.streams == nil {
		a.streams = map[string]*auditStream{}
	}
	for len(a.streams) >= maxAuditProducers && a.head < len(a.order) {
		old := a.order[a.head]
		a.order[a.head] = ""
		a.head++
		if s := a.streams[old]; s != nil && len(s.pending) == 0 {
			delete(a.streams, old)
		}
	}
	if a.head > len(a.order)/2 {
		a.order = append(a.order[:0], a.order[a.head:]...)
		a.head = 0
	}
	s := &auditStream{}
	a.streams[key] = s
	a.order = append(a.order, key)
	return s
}

// admit decides on a publish of (key, seq). A resend of a message the
// broker has, or is storing, returns dup true: done is then called with
// the original's outcome (at once when it is known). Otherwise the
// publish goes ahead and its outcome must be reported with settle.
func (a *audit) admit(key string, seq uint64, done func(error)) (dup bool) {
	a.mu.Lock()
	s := a.stream(key)
	if s.seen && seq <= s.high {
		if _, bad := s.failed[seq]; !bad {
			if waiters, inFlight := s.pending[seq]; inFlight {
				s.pending[seq] = append(waiters, done)
				a.mu.Unlock()
				return true
			}
			a.mu.Unlock()
			if done != nil {
				done(nil)
			}
			return true
		}
		delete(s.failed, seq)
	}
	if !s.seen || seq > s.high {
		s.seen, s.high = true, seq
	}
	if s.pending == nil {
		s.pending = map[uint64][]func(error){}
	}
	s.pending[seq] = nil
	a.mu.Unlock()
	return false
}

// settle records the outcome of an admitted publish and passes it to the
// resends that waited on it. A failed one is forgotten: its next resend
// is new.
func (a *audit) settle(key string, seq uint64, err error) {
	a.mu.Lock()
	s := a.streams[key]
	if s == nil {
		a.mu.Unlock()
		return
	}
	waiters := s.pending[seq]
	delete(s.pending, seq)
	if err != nil {
		if s.failed == nil {
			s.failed = map[uint64]struct{}{}
		}
		s.failed[seq] = struct{}{}
	}
	a.mu.Unlock()
	for _, w := range waiters {
		if w != nil {
			w(err)
		}
	}
}

// observe records a recovered message's stamp: it was stored.
func (a *audit) observe(key string, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.stream(key); !s.seen || seq > s.high {
		s.seen, s.high = true, seq
	}
}
