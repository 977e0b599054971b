package ha

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/disk"
	"github.com/mqgate/mqgate/backend/store"
)

// TestTwoNodesOneMaster runs two nodes on one lock file: exactly one is
// master; when its Run ends, the other takes over with a higher token.
func TestTwoNodesOneMaster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.lock")
	var masters atomic.Int32
	var overlap atomic.Bool
	mk := func(name string) *Node {
		return New(Options{
			Node: name,
			TTL:  200 * time.Millisecond,
			Campaign: func(context.Context) (store.Leaser, func(), error) {
				return disk.NewFileLeaser(path), func() {}, nil
			},
			Serve: func(ctx context.Context, lease store.Lease) error {
				if masters.Add(1) > 1 {
					overlap.Store(true)
				}
				defer masters.Add(-1)
				select {
				case <-ctx.Done():
				case <-lease.Lost():
				}
				return nil
			},
			Logger: zerolog.Nop(),
		})
	}
	a, b := mk("a"), mk("b")
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	waitRole(t, a, RoleMaster)
	go func() { doneB <- b.Run(ctxB) }()
	if b.Role() != RoleSlave {
		t.Fatalf("b is %s while a is master", b.Role())
	}
	tokenA := a.Token()
	stopA()
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Fatalf("a.Run = %v", err)
	}
	if a.Role() != RoleStopped {
		t.Fatalf("a is %s after Run", a.Role())
	}
	waitRole(t, b, RoleMaster)
	if b.Token() <= tokenA {
		t.Fatalf("token %d after take-over, a had %d", b.Token(), tokenA)
	}
	if overlap.Load() {
		t.Fatal("two masters at once")
	}
	stopB()
	<-doneB
}

// TestStepDownOnLost checks that a lost lease ends the term and the node
// campaigns again.
func TestStepDownOnLost(t *testing.T) {
	lost := make(chan struct{})
	var terms atomic.Int32
	n := New(Options{
		Node: "a",
		TTL:  100 * time.Millisecond,
		Campaign: func(context.Context) (store.Leaser, func(), error) {
			return leaserFunc(func() store.Lease {
				if terms.Add(1) == 1 {
					return &fakeLease{token: 1, lost: lost}
				}
				return &fakeLease{token: 2, lost: make(chan struct{})}
			}), func() {}, nil
		},
		Serve: func(ctx context.Context, lease store.Lease) error {
			select {
			case <-ctx.Done():
			case <-lease.Lost():
			}
			return nil
		},
		Logger: zerolog.Nop(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitRole(t, n, RoleMaster)
	ch := n.Changed()
	close(lost)
	<-ch // stepped down
	waitRole(t, n, RoleMaster)
	if n.Token() != 2 {
		t.Fatalf("token = %d after re-election, want 2", n.Token())
	}
	cancel()
	<-done
}

func waitRole(t *testing.T, n *Node, want Role) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := n.Changed()
		if n.Role() == want {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("role = %s, want %s", n.Role(), want)
		}
	}
}

type leaserFunc func() store.Lease

func (f leaserFunc) Acquire(context.Context, string, time.Duration) (store.Lease, error) {
	return f(), nil
}

type fakeLease struct {
	token uint64
	lost  chan struct{}
}

func (l *fakeLease) Token() uint64                 { return l.token }
func (l *fakeLease) Lost() <-chan struct{}         { return l.lost }
func (l *fakeLease) Release(context.Context) error { return nil }
