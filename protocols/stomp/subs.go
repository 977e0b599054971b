package stomp

import (
	"sync"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/mqgate/mqgate/backend"
)

// ackMode is a subscription's STOMP ack header.
type ackMode uint8

const (
	ackAuto ackMode = iota
	ackClient
	ackClientIndividual
)

func parseAckMode(s string) (ackMode, bool) {
	switch s {
	case "", "auto":
		return ackAuto, true
	case "client":
		return ackClient, true
	case "client-individual":
		return ackClientIndividual, true
	}
	return 0, false
}

// unacked is one delivery waiting for ACK/NACK.
type unacked struct {
	msgID string
	tag   uint64
}

// subState is one STOMP subscription of a connection; it is the Sink of
// its backend subscription.
type subState struct {
	c       *conn
	id      string
	index   int
	dest    backend.Destination
	mode    ackMode
	durable string // activemq.subscriptionName
	sub     *backend.Subscription

	// Deliveries waiting for ACK, in delivery order (client mode acks
	// cumulatively up to a message).
	amu     sync.Mutex
	pending map[string]uint64 // guarded by amu: message-id -> tag
	order   []unacked         // guarded by amu: ackClient only
	head    int               // guarded by amu: first live element of order

	// Guarded by c.wmu: auto-ack credit owed once written, and the
	// subscription to return it to (Deliver may run before Subscribe has
	// returned and set sub).
	owed         int
	creditQueued bool
	owedTo       *backend.Subscription
}

// Deliver implements backend.Sink. It runs on a broker goroutine with the
// queue lock held: it records the delivery and queues it for the writer,
// which encodes the MESSAGE frame.
func (s *subState) Deliver(d backend.Delivery) {
	if s.mode != ackAuto {
		s.amu.Lock()
		s.pending[d.Msg.ID] = d.Tag
		if s.mode == ackClient {
			s.order = append(s.order, unacked{msgID: d.Msg.ID, tag: d.Tag})
		}
		s.amu.Unlock()
	}
	c := s.c
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		return
	}
	before := c.outBytes
	c.out = append(c.out, outItem{d: d, s: s})
	c.outBytes += deliverySize(d)
	if s.mode == ackAuto {
		s.owed++
		s.owedTo = d.Sub
		if !s.creditQueued {
			s.creditQueued = true
			c.credits = append(c.credits, s)
		}
	}
	over := c.overCapLocked(before)
	c.wmu.Unlock()
	c.signal()
	if over {
		c.slowConsumer()
	}
}

// BrowseDone implements backend.BrowseDoner: ActiveMQ ends a browse with
// an empty MESSAGE carrying browser:end.
func (s *subState) BrowseDone() {
	s.c.queueFrame(frame.New("MESSAGE", frame.Subscription, s.id, frame.Destination, s.c.formatDest(s.dest),
		frame.MessageId, "BrowseDone", "browser", "end"))
}

// has reports whether msgID waits for an ACK on s.
func (s *subState) has(msgID string) bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	_, ok := s.pending[msgID]
	return ok
}

// take removes and returns the tags an ACK/NACK of msgID settles: that
// message alone (client-individual) or it and every earlier one (client).
// ok is false if msgID is not pending.
func (s *subState) take(msgID string) (tags []uint64, ok bool) {
	s.amu.Lock()
	defer s.amu.Unlock()
	tag, ok := s.pending[msgID]
	if !ok {
		return nil, false
	}
	if s.mode != ackClient {
		delete(s.pending, msgID)
		return []uint64{tag}, true
	}
	for s.head < len(s.order) {
		u := s.order[s.head]
		s.order[s.head] = unacked{}
		s.head++
		if _, live := s.pending[u.msgID]; live && s.pending[u.msgID] == u.tag {
			delete(s.pending, u.msgID)
			tags = append(tags, u.tag)
		}
		if u.tag == tag {
			break
		}
	}
	if s.head == len(s.order) {
		s.order, s.head = s.order[:0], 0
	} else if s.head > 1024 && 2*s.head > len(s.order) {
		n := copy(s.order, s.order[s.head:])
		s.order, s.head = s.order[:n], 0
	}
	return tags, true
}
