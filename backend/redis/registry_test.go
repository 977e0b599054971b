package redis

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// TestRegistry runs the Registry conformance suite on two stores of one
// group (two brokers on one Redis), a fresh group per case.
func TestRegistry(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	var n atomic.Int64
	storetest.RunRegistry(t, func(t *testing.T) (store.Registry, store.Registry) {
		group := fmt.Sprint("reg", n.Add(1))
		return open(t, srv.URL(), group, 0), open(t, srv.URL(), group, 0)
	})
}

// TestRegistryKey: the members hash is the group's, in its hash tag, and
// lapses with its last entry; other groups do not see it.
func TestRegistryKey(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, srv.URL(), "keys", 0)
	other := open(t, srv.URL(), "other", 0)
	if err := s.Register(ctx, "a", []string{"stomp://a:1"}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	if v, err := c.HGet(ctx, "{mqgate:keys}:members", "a").Result(); err != nil || len(v) < 3 {
		t.Fatalf("members hash field a: %q %v", v, err)
	}
	if ms, err := other.Members(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("another group sees %v (%v)", ms, err)
	}
	waitFor(t, 10*time.Second, func() bool { return c.Exists(ctx, "{mqgate:keys}:members").Val() == 0 },
		"the members hash outlived its only entry")
}

// TestRegistryBadURI: a URI the hash cannot hold is refused.
func TestRegistryBadURI(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, srv.URL(), "bad", 0)
	for _, u := range []string{"", "stomp://a b:1"} {
		if err := s.Register(ctx, "a", []string{u}, time.Second); !errors.Is(err, errBadURI) {
			t.Errorf("Register(%q): %v, want errBadURI", u, err)
		}
	}
}

// TestRegistryCluster: the scripts run on a Redis Cluster (the key is in
// the group's slot).
func TestRegistryCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	nodes := redistest.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	s, err := Open(ctx, Options{Addrs: addrs, Group: "cluster-reg", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Register(ctx, "a", []string{"stomp://a:1", "amqp://a:2"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].Node != "a" || len(ms[0].URIs) != 2 {
		t.Fatalf("Members: %+v %v", ms, err)
	}
}
