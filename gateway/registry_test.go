package gateway

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/config"
)

// freeAddr returns a loopback address whose port was free a moment ago:
// master/slave nodes need fixed ports, which they register while slaves.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond) // polling the condition
	}
}

// TestGroupAnnounced: two nodes of a shared-directory master/slave group
// register in its members registry; the master announces both, itself
// first, over STOMP and AMQP; a slave that stops cleanly leaves the list.
func TestGroupAnnounced(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type node struct {
		g           *Gateway
		stomp, amqp string
	}
	mk := func(id string) node {
		cfg := gatewayConfig(dir)
		cfg.Node.ID = id
		cfg.HA.Mode = config.HASharedStore
		cfg.HA.LeaseTTL = 500 * time.Millisecond
		cfg.STOMP.Listen, cfg.AMQP.Listen = freeAddr(t), freeAddr(t)
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return node{g, cfg.STOMP.Listen, cfg.AMQP.Listen}
	}
	a := mk("a")
	defer a.g.Close(context.Background())
	if err := a.g.WaitMaster(ctx); err != nil {
		t.Fatal(err)
	}
	b := mk("b")
	if a.g.stompServerList() == nil || a.g.amqpServerList() == nil {
		t.Fatal("a node of a master/slave group does not announce")
	}
	wantStomp := []string{"stomp://" + a.stomp, "stomp://" + b.stomp}
	wantAMQP := []string{a.amqp, b.amqp}
	amqpList := func() []string {
		var out []string
		for _, s := range a.g.amqpServers() {
			out = append(out, net.JoinHostPort(s.Host, fmt.Sprint(s.Port)))
		}
		return out
	}
	waitFor(t, 10*time.Second, func() bool {
		return slices.Equal(a.g.clusterURIs("stomp"), wantStomp) && slices.Equal(amqpList(), wantAMQP)
	}, func() string {
		return fmt.Sprintf("master announces %v and %v, want %v and %v", a.g.clusterURIs("stomp"), amqpList(), wantStomp, wantAMQP)
	})

	// b registered its configured addresses while a slave.
	if b.g.Role() != "slave" {
		t.Fatalf("b: role %s", b.g.Role())
	}
	if ents, err := os.ReadDir(dir + "/members"); err != nil || len(ents) != 2 {
		t.Fatalf("members folder: %v %v", ents, err)
	}

	if err := b.g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return slices.Equal(a.g.clusterURIs("stomp"), wantStomp[:1]) },
		func() string {
			return fmt.Sprintf("after b stopped, the master announces %v", a.g.clusterURIs("stomp"))
		})
}

// TestConfiguredURI: the URIs a slave registers come from its configured
// listen addresses; a port 0 has none.
func TestConfiguredURI(t *testing.T) {
	host, _ := os.Hostname()
	cfg := config.Default()
	for _, tc := range []struct{ advertise, listen, want string }{
		{"", "10.0.0.1:61613", "stomp://10.0.0.1:61613"},
		{"", ":61613", "stomp://" + net.JoinHostPort(host, "61613")},
		{"", "0.0.0.0:61613", "stomp://" + net.JoinHostPort(host, "61613")},
		{"amqp://broker.example:5672", "10.0.0.1:61613", "stomp://broker.example:61613"},
		{"", "[::1]:61613", "stomp://[::1]:61613"},
		{"", "127.0.0.1:0", ""},
		{"", "", ""},
	} {
		cfg.Cluster.Advertise = tc.advertise
		if got := configuredURI(cfg, "stomp", tc.listen); got != tc.want {
			t.Errorf("configuredURI(advertise %q, listen %q) = %q, want %q", tc.advertise, tc.listen, got, tc.want)
		}
	}
}
