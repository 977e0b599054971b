package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
)

// Nodes of a master/slave group announce each other: each registers its
// client URIs in the group's members registry on the shared store (a hash
// on Redis, a members folder in a shared node.data_dir), and the master
// names every live node in STOMP's CONNECTED and AMQP's open, itself
// first. A failover client that knows only the master learns the slave
// and moves to it when the master is SIGKILLed.

// TestHATopologyRedis: two nodes on one Redis.
func TestHATopologyRedis(t *testing.T) {
	srv := startRedis(t)
	g, amqpAddrs := foGroup(t, nil, "--store-type", "redis", "--store-redis-url", "redis://"+srv.addr+"/0",
		"--store-redis-group", "topo", "--ha-lease-ttl", "1s", "--node-data-dir", t.TempDir())
	haTopology(t, g, amqpAddrs)
}

// TestHATopologySharedDisk: two nodes on one shared directory.
func TestHATopologySharedDisk(t *testing.T) {
	g, amqpAddrs := foGroup(t, nil, "--node-data-dir", t.TempDir(), "--store-type", "disk",
		"--ha-mode", "shared-store", "--ha-lease-ttl", "1s")
	haTopology(t, g, amqpAddrs)
}

// haTopology checks what the master of g announces, then fails failover
// clients over STOMP and AMQP, each given only the master's address, over
// to the slave by SIGKILLing the master.
func haTopology(t *testing.T, g *haGroup, amqpAddrs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := g.master(30 * time.Second)
	mi := slices.Index(g.nodes, m)
	si := 1 - mi
	s := g.nodes[si]

	// The slave registers while a slave; the master announces it once its
	// registrar read it back (every third of ha.lease_ttl).
	wantAMQP := slices.Sorted(slices.Values(amqpAddrs))
	eventually(t, 30*time.Second, func() bool { return slices.Equal(amqpServerList(t, amqpAddrs[mi]), wantAMQP) },
		func() string {
			return fmt.Sprintf("the master announces %v over AMQP, want %v", amqpServerList(t, amqpAddrs[mi]), wantAMQP)
		})
	if got, want := stompServerList(t, m.stomp), "stomp://"+m.stomp+",stomp://"+s.stomp; got != want {
		t.Fatalf("the master's CONNECTED failover-server-list %q, want %q (itself first)", got, want)
	}

	query := "?randomize=false&initialReconnectDelay=10&maxReconnectDelay=200&timeout=60000"
	type client struct {
		proto, dest string
		c           *failover.Conn
	}
	var clients []client
	for _, proto := range []string{"stomp", "amqp"} {
		addr := m.stomp
		if proto == "amqp" {
			addr = amqpAddrs[mi]
		}
		c, err := failover.Dial(ctx, "failover:("+proto+"://"+addr+")"+query, failover.Options{})
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		defer c.Close(context.Background())
		slave := s.stomp
		if proto == "amqp" {
			slave = amqpAddrs[si]
		}
		if !slices.Contains(c.Brokers(), proto+"://"+slave) {
			t.Fatalf("%s: the failover client knows %v, not the slave %s", proto, c.Brokers(), slave)
		}
		dest := "/queue/" + uniq("hatopo."+proto)
		if err := c.Send(ctx, dest, []byte("before "+proto), &failover.SendOptions{Persistent: true}); err != nil {
			t.Fatalf("%s: send before the kill: %v", proto, err)
		}
		clients = append(clients, client{proto, dest, c})
	}

	m.kill(syscall.SIGKILL)
	killed := time.Now()
	for _, cl := range clients {
		sub, err := cl.c.Subscribe(ctx, cl.dest, failover.SubOptions{Ack: failover.AckIndividual})
		if err != nil {
			t.Fatalf("%s: subscribe after the kill: %v", cl.proto, err)
		}
		msg, err := sub.Receive(ctx)
		if err != nil {
			t.Fatalf("%s: receive after the kill: %v", cl.proto, err)
		}
		if string(msg.Body) != "before "+cl.proto {
			t.Fatalf("%s: received %q", cl.proto, msg.Body)
		}
		if err := sub.Ack(ctx, msg); err != nil {
			t.Fatalf("%s: ack: %v", cl.proto, err)
		}
		if b := cl.c.Broker(); !strings.HasSuffix(b, s.stomp) && !strings.HasSuffix(b, amqpAddrs[si]) {
			t.Fatalf("%s: connected to %q, want the former slave", cl.proto, b)
		}
		t.Logf("%s: SIGKILL to the message on the former slave: %v", cl.proto, time.Since(killed).Round(time.Millisecond))
	}
	if role, ready := s.readyz(); !ready || role != "master" {
		t.Fatalf("the former slave: role %q ready %v", role, ready)
	}
}
