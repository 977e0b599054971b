package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// RunRegistry runs the conformance suite of store.Registry. open returns
// two handles on one fresh group (two nodes' views of the shared store),
// released when t ends.
func RunRegistry(t *testing.T, open func(t *testing.T) (a, b store.Registry)) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, a, b store.Registry)
	}{
		{"Empty", testRegistryEmpty},
		{"SharedView", testRegistrySharedView},
		{"Replace", testRegistryReplace},
		{"Expiry", testRegistryExpiry},
		{"Deregister", testRegistryDeregister},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := open(t)
			tc.fn(t, a, b)
		})
	}
}

func members(t *testing.T, r store.Registry) []store.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, err := r.Members(ctx)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	return ms
}

func register(t *testing.T, r store.Registry, node string, ttl time.Duration, uris ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Register(ctx, node, uris, ttl); err != nil {
		t.Fatalf("Register(%s): %v", node, err)
	}
}

// summary renders members as "node=uri,uri node=..." for comparison.
func summary(ms []store.Member) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += m.Node + "="
		for j, u := range m.URIs {
			if j > 0 {
				s += ","
			}
			s += u
		}
	}
	return s
}

func testRegistryEmpty(t *testing.T, a, _ store.Registry) {
	if ms := members(t, a); len(ms) != 0 {
		t.Fatalf("a new group has members: %s", summary(ms))
	}
}

// testRegistrySharedView: what one node registers, the other sees, sorted
// by node id, with an expiry in the future.
func testRegistrySharedView(t *testing.T, a, b store.Registry) {
	before := time.Now()
	register(t, a, "n2", time.Minute, "stomp://h2:61613", "amqp://h2:5672")
	register(t, b, "n1", time.Minute, "stomp://h1:61613")
	register(t, b, "n3", time.Minute)
	want := "n1=stomp://h1:61613 n2=stomp://h2:61613,amqp://h2:5672 n3="
	for name, r := range map[string]store.Registry{"a": a, "b": b} {
		ms := members(t, r)
		if got := summary(ms); got != want {
			t.Errorf("%s: Members %q, want %q", name, got, want)
		}
		for _, m := range ms {
			// A second of slack for a store on another clock (Redis's).
			if m.Expires.Before(before.Add(time.Minute-time.Second)) || m.Expires.After(time.Now().Add(time.Minute+time.Second)) {
				t.Errorf("%s: %s expires at %v, want about a minute after %v", name, m.Node, m.Expires, before)
			}
		}
	}
}

func testRegistryReplace(t *testing.T, a, b store.Registry) {
	register(t, a, "n1", time.Minute, "stomp://old:1")
	register(t, b, "n1", time.Minute, "stomp://new:1", "amqp://new:2")
	if got, want := summary(members(t, a)), "n1=stomp://new:1,amqp://new:2"; got != want {
		t.Fatalf("Members %q after re-registering, want %q", got, want)
	}
}

// testRegistryExpiry: an entry not renewed within its ttl is no longer a
// member; the others stay.
func testRegistryExpiry(t *testing.T, a, b store.Registry) {
	register(t, a, "long", time.Minute, "stomp://long:1")
	register(t, b, "short", 100*time.Millisecond, "stomp://short:1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := summary(members(t, a))
		if got == "long=stomp://long:1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Members %q 10s after a 100ms registration", got)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition
	}
	// Registering again revives it.
	register(t, b, "short", time.Minute, "stomp://short:2")
	if got, want := summary(members(t, a)), "long=stomp://long:1 short=stomp://short:2"; got != want {
		t.Fatalf("Members %q, want %q", got, want)
	}
}

func testRegistryDeregister(t *testing.T, a, b store.Registry) {
	for i := range 3 {
		register(t, a, fmt.Sprint("n", i), time.Minute, fmt.Sprintf("stomp://h%d:1", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Deregister(ctx, "n1"); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if err := b.Deregister(ctx, "unknown"); err != nil {
		t.Fatalf("Deregister of an unknown node: %v", err)
	}
	var nodes []string
	for _, m := range members(t, a) {
		nodes = append(nodes, m.Node)
	}
	if !slices.Equal(nodes, []string{"n0", "n2"}) {
		t.Fatalf("members %v after deregistering n1, want [n0 n2]", nodes)
	}
}
