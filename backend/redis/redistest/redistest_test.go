package redistest

import (
	"context"
	"testing"
)

// TestRestartKeepsData: a write acknowledged before SIGKILL is there after
// Restart on the same port; Stop then Restart works too.
func TestRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	s := Start(t, Options{})
	c := s.Client(t)
	if err := c.Set(ctx, "k", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	s.Kill()
	if s.Running() || Ping(addr) {
		t.Fatal("killed server still answers")
	}
	s.Restart()
	if s.Addr != addr || !Ping(addr) {
		t.Fatalf("restarted on %s, was %s", s.Addr, addr)
	}
	if v := c.Get(ctx, "k").Val(); v != "v1" {
		t.Fatalf("after SIGKILL and restart: %q", v)
	}
	if err := c.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Restart()
	if v := c.Get(ctx, "k").Val(); v != "v2" {
		t.Fatalf("after SIGTERM and restart: %q", v)
	}
}

func TestSentinelNamesMaster(t *testing.T) {
	if !Installed(true) {
		t.Skip("redis-sentinel is not installed")
	}
	s := Start(t, Options{NoPersistence: true})
	sen := StartSentinel(t, "m", s)
	if !Ping(sen.Addr) {
		t.Fatal("sentinel does not answer")
	}
}
