package gateway

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/disk"
	"github.com/mqgate/mqgate/config"
)

func gatewayConfig(dir string) *config.Config {
	cfg := config.Default()
	cfg.Node.DataDir = dir
	cfg.STOMP.Listen = "127.0.0.1:0"
	cfg.AMQP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = ""
	return cfg
}

// TestStandaloneLocked: a second standalone broker on the same data
// directory fails to start, and leaves nothing open.
func TestStandaloneLocked(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, err := New(gatewayConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	if a.Role() != "standalone" || !a.Serving() {
		t.Fatalf("role %s serving %v", a.Role(), a.Serving())
	}
	b, err := New(gatewayConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); !errors.Is(err, disk.ErrLocked) {
		t.Fatalf("second Start = %v, want ErrLocked", err)
	}
	if b.STOMPAddr() != nil || b.Serving() {
		t.Fatal("a failed Start left listeners open")
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSharedStoreHandOver: two brokers with ha.mode shared-store on one
// directory; the second waits as a slave with its listeners closed, and
// takes over as soon as the first closes (its lease is released, not left
// to lapse).
func TestSharedStoreHandOver(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mk := func(id string) *Gateway {
		cfg := gatewayConfig(dir)
		cfg.Node.ID = id
		cfg.HA.Mode = config.HASharedStore
		cfg.HA.LeaseTTL = time.Minute // take-over must not wait for a lapse
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return g
	}
	a := mk("a")
	if err := a.WaitMaster(ctx); err != nil {
		t.Fatal(err)
	}
	b := mk("b")
	defer b.Close(context.Background())
	if b.Role() != "slave" || b.STOMPAddr() != nil || b.Broker() != nil {
		t.Fatalf("b: role %s, stomp %v", b.Role(), b.STOMPAddr())
	}
	if a.Role() != "master" || a.STOMPAddr() == nil {
		t.Fatalf("a: role %s", a.Role())
	}
	start := time.Now()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitMaster(ctx); err != nil {
		t.Fatal(err)
	}
	if b.STOMPAddr() == nil || b.Role() != "master" {
		t.Fatalf("b after take-over: role %s", b.Role())
	}
	// A lease left to lapse would take the whole TTL.
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("hand-over took %v: the lease was not released", took)
	}
}

// TestSharedStoreStartFailsCleanly: a group member whose admin endpoint
// cannot listen fails Start, and Close after it returns without starting
// or stopping a node that never ran.
func TestSharedStoreStartFailsCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := gatewayConfig(t.TempDir())
	cfg.HA.Mode = config.HASharedStore
	cfg.Admin.Listen = busy.Addr().String()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded on a busy admin address")
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatalf("Close after a failed Start: %v", err)
	}
}
