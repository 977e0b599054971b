// Package store defines what the broker core asks of a message store: an
// append-only log of batched records that is replayed at start-up. It is a
// leaf package; backend/disk, backend/redis and backend/memory implement it.
package store

import (
	"context"
	"errors"
	"time"
)

// Op is the kind of a Record.
type Op uint8

// Record operations. Values are persisted: never renumber them.
const (
	// OpEnqueue stores message Data under (Queue, ID).
	OpEnqueue Op = 1
	// OpAck removes the message (Queue, ID): it was consumed, expired or
	// moved. An OpAck for a message the store does not hold is ignored.
	OpAck Op = 2
	// OpDelivered records that (Queue, ID) was handed to a consumer Count
	// times in all. Recovery marks such a message redelivered.
	OpDelivered Op = 3
	// OpQueueCreate records a durable destination or durable subscription
	// named Queue, with its definition in Data (opaque to the store).
	OpQueueCreate Op = 4
	// OpQueueDelete removes Queue and every message still stored under it.
	OpQueueDelete Op = 5
)

// String returns the operation's name.
func (o Op) String() string {
	switch o {
	case OpEnqueue:
		return "enqueue"
	case OpAck:
		return "ack"
	case OpDelivered:
		return "delivered"
	case OpQueueCreate:
		return "queue-create"
	case OpQueueDelete:
		return "queue-delete"
	}
	return "unknown"
}

// Record is one entry of the store's log.
//
// Ownership: Append does not retain Data after it returns; Recover hands
// the callback a Record whose Data is valid only during the call.
type Record struct {
	Op    Op
	Queue string // store-level queue name, e.g. "queue://orders" or "sub://client.name"
	ID    uint64 // message sequence, unique per broker and increasing in publish order
	Count uint32 // OpDelivered: deliveries so far
	Data  []byte // OpEnqueue: the encoded message; OpQueueCreate: the definition
}

// ErrFull is returned by Append when the store has reached its configured
// size limit. The caller reports it to the producer; nothing was written.
var ErrFull = errors.New("store full")

// ErrFenced is returned by Append when the store's master lease was taken
// over by another node: this node must stop writing and step down. Nothing
// of the batch was written.
var ErrFenced = errors.New("store fenced: the master lease was taken over")

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store closed")

// Store persists records. Implementations are safe for concurrent use.
type Store interface {
	// Append makes recs durable as one atomic unit: after a crash either all
	// of them are recovered or none is. It returns once the batch is as safe
	// as the store's policy promises (fsync'd, or acknowledged by Redis).
	// Concurrent callers share one write and one sync (group commit).
	Append(ctx context.Context, recs []Record) error
	// Recover replays the live state in log order: every queue created and
	// not deleted, then every message enqueued and not acked (with its latest
	// OpDelivered count folded in as an OpDelivered record after its
	// OpEnqueue). It is called once, before the first Append.
	Recover(ctx context.Context, fn func(Record) error) error
	// Close flushes and releases the store. Appends after Close fail with
	// ErrClosed.
	Close() error
}

// Lease is held by the master of a master/slave group.
type Lease interface {
	// Token is the fencing token: it increases on every take-over.
	Token() uint64
	// Lost is closed when the lease lapses or is taken by another node.
	Lost() <-chan struct{}
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// Leaser is implemented by stores that can arbitrate master/slave (found by
// type assertion on a Store).
type Leaser interface {
	// Acquire blocks until node holds the lease or ctx ends.
	Acquire(ctx context.Context, node string, ttl time.Duration) (Lease, error)
}

// Member is one node of a master/slave group as the group's Registry
// holds it.
type Member struct {
	// Node is the node's id (node.id).
	Node string
	// URIs are the client URIs the node serves on when it is master, e.g.
	// "stomp://10.0.0.2:61613"; owned by the caller once returned.
	URIs []string
	// Expires is when the entry lapses unless the node registers again.
	Expires time.Time
}

// Registry is implemented by shared stores that keep the members of
// their master/slave group, so that the master can tell clients about the
// slaves (found by type assertion on a Store, or a Leaser's companion
// such as disk.FileRegistry). Every node registers itself, master or
// slave, more often than ttl; an entry not renewed within ttl is no longer
// a member. Implementations are safe for concurrent use; every method
// does I/O and may block until ctx ends.
type Registry interface {
	// Register records node with uris until ttl from now, replacing its
	// previous entry.
	Register(ctx context.Context, node string, uris []string, ttl time.Duration) error
	// Deregister removes node's entry, if any: a node stopping cleanly.
	Deregister(ctx context.Context, node string) error
	// Members returns the entries that have not expired, by node id.
	Members(ctx context.Context) ([]Member, error)
}
