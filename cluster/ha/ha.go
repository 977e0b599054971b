// Package ha runs a broker as one node of a master/slave group that shares
// its store: the node campaigns for the store's lease (store.Leaser), serves
// as master while it holds it, and steps down at once when it loses it.
// Slaves keep their client listeners closed, as ActiveMQ's do, so that
// failover clients move on to the master.
package ha

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
)

// Role is what a node is doing in its group.
type Role int32

// Roles, in the order a node goes through them.
const (
	RoleSlave   Role = iota // waiting for the lease, listeners closed
	RoleMaster              // holding the lease and serving
	RoleStopped             // Run has returned
)

// String returns "slave", "master" or "stopped".
func (r Role) String() string {
	switch r {
	case RoleSlave:
		return "slave"
	case RoleMaster:
		return "master"
	case RoleStopped:
		return "stopped"
	}
	return "unknown"
}

// Options configures a Node.
type Options struct {
	// Node is this broker's id, recorded with the lease.
	Node string
	// TTL is how long the lease lasts unrenewed.
	TTL time.Duration
	// Campaign returns the Leaser for the next election and a function that
	// releases what Campaign opened; the function is called once the
	// election or the term that follows it is over.
	Campaign func(ctx context.Context) (store.Leaser, func(), error)
	// Serve runs one term as master. It returns only once the node has
	// stopped serving: at once when lease.Lost() is closed, gracefully when
	// ctx ends. An error ends the term; the node campaigns again.
	Serve func(ctx context.Context, lease store.Lease) error
	// Logger receives role changes.
	Logger zerolog.Logger
}

// Node is one member of a master/slave group.
type Node struct {
	opts  Options
	role  atomic.Int32
	token atomic.Uint64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every role change; guarded by mu
}

// New returns a Node that is a slave until Run wins an election.
func New(opts Options) *Node {
	return &Node{opts: opts, changed: make(chan struct{})}
}

// Role returns the node's current role.
func (n *Node) Role() Role { return Role(n.role.Load()) }

// Token returns the fencing token of the current or last term; 0 before the
// first.
func (n *Node) Token() uint64 { return n.token.Load() }

// Changed returns a channel closed at the next role change.
func (n *Node) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

func (n *Node) setRole(r Role) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if Role(n.role.Swap(int32(r))) != r {
		close(n.changed)
		n.changed = make(chan struct{})
	}
}

// Run campaigns and serves, term after term, until ctx ends. It returns
// ctx's error.
func (n *Node) Run(ctx context.Context) error {
	defer n.setRole(RoleStopped)
	log := n.opts.Logger
	retry := max(n.opts.TTL/5, 50*time.Millisecond)
	for ctx.Err() == nil {
		n.setRole(RoleSlave)
		err := n.term(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			log.Error().Err(err).Dur("retry_in", retry).Msg("master/slave: campaign or term failed")
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
	return ctx.Err()
}

// term runs one election and, if won, one term as master.
func (n *Node) term(ctx context.Context) error {
	log := n.opts.Logger
	leaser, done, err := n.opts.Campaign(ctx)
	if err != nil {
		return err
	}
	defer done()
	log.Info().Str("role", "slave").Dur("lease_ttl", n.opts.TTL).Msg("waiting for the master lease; client listeners stay closed")
	waitStart := time.Now()
	lease, err := leaser.Acquire(ctx, n.opts.Node, n.opts.TTL)
	if err != nil {
		return err
	}
	n.token.Store(lease.Token())
	log.Info().Str("role", "master").Uint64("token", lease.Token()).Dur("waited", time.Since(waitStart)).Msg("took the master lease")
	n.setRole(RoleMaster)
	serveErr := n.opts.Serve(ctx, lease)
	lost := false
	select {
	case <-lease.Lost():
		lost = true
	default:
	}
	n.setRole(RoleSlave)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.opts.TTL)
	defer cancel()
	if err := lease.Release(rctx); err != nil && !lost && !errors.Is(err, store.ErrClosed) {
		log.Warn().Err(err).Msg("releasing the master lease; the next master waits for it to lapse")
	}
	if lost {
		log.Error().Uint64("token", lease.Token()).Msg("lost the master lease: stopped serving, now a slave")
	}
	return serveErr
}
