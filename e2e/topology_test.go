package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/cluster/failover"
)

// topoNode is a broker of a two-node static cluster on fixed loopback
// ports.
type topoNode struct {
	p            *proc
	stomp, amqpA string
}

func startTopoPair(t *testing.T) (a, b topoNode) {
	t.Helper()
	a = topoNode{stomp: haFreeAddr(t), amqpA: haFreeAddr(t)}
	b = topoNode{stomp: haFreeAddr(t), amqpA: haFreeAddr(t)}
	start := func(name string, self, peer topoNode) *proc {
		return startMQGate(t, nil, "serve", "--node-id", name, "--stomp-listen", self.stomp, "--amqp-listen", self.amqpA,
			"--admin-listen", "127.0.0.1:0", "--log-format", "json", "--store-type", "memory",
			"--cluster-discovery", "static", "--cluster-peers", "amqp://"+peer.amqpA,
			"--cluster-advertise", "amqp://"+self.amqpA)
	}
	a.p = start("topo-a", a, b)
	b.p = start("topo-b", b, a)
	for _, p := range []*proc{a.p, b.p} {
		p.logField("AMQP 1.0 listening", "addr") // waits until it listens
		p.logField("STOMP listening", "addr")
	}
	return a, b
}

// amqpServerList dials addr with go-amqp and returns the brokers its open
// announced.
func amqpServerList(t *testing.T, addr string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := amqp.Dial(ctx, "amqp://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, errs := failover.ParseAMQPServerList(c.Properties())
	if len(errs) > 0 {
		t.Fatalf("failover-server-list: %v", errs)
	}
	var out []string
	for _, br := range list {
		out = append(out, br.Addr)
	}
	slices.Sort(out)
	return out
}

// stompServerList connects over STOMP and returns the CONNECTED frame's
// failover-server-list header.
func stompServerList(t *testing.T, addr string) string {
	t.Helper()
	c := dialRaw(t, addr) // closed when the test ends
	c.send("CONNECT", "", "accept-version", "1.2", "host", "/")
	f := c.expect("CONNECTED")
	return f.Value("failover-server-list")
}

// TestTopologyAnnounced: brokers in a cluster tell clients about each
// other: the AMQP open carries failover-server-list (the list of maps Qpid
// JMS and Artemis read) with both brokers, go-amqp and Qpid Proton read it,
// and STOMP's CONNECTED names the brokers' STOMP URIs.
func TestTopologyAnnounced(t *testing.T) {
	t.Parallel()
	a, b := startTopoPair(t)
	want := []string{a.amqpA, b.amqpA}
	slices.Sort(want)
	eventually(t, waitTimeout, func() bool { return slices.Equal(amqpServerList(t, a.amqpA), want) }, func() string {
		return fmt.Sprintf("A announces %v over AMQP, want %v", amqpServerList(t, a.amqpA), want)
	})
	if got := amqpServerList(t, b.amqpA); !slices.Equal(got, want) {
		t.Errorf("B announces %v over AMQP, want %v", got, want)
	}
	if v := stompServerList(t, a.stomp); !strings.Contains(v, "stomp://"+a.stomp) {
		t.Errorf("A's CONNECTED failover-server-list %q lacks stomp://%s", v, a.stomp)
	}

	amqpNeedProton(t)
	res := amqpRunProton(t, a.amqpA, "serverlist", "-")
	var got []string
	for _, e := range res["servers"].([]any) {
		m := e.(map[string]any)
		if m["scheme"] != "amqp" {
			t.Errorf("proton read entry %v: scheme not amqp", m)
		}
		got = append(got, fmt.Sprintf("%v:%v", m["network-host"], m["port"]))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Qpid Proton read failover-server-list %v, want %v", got, want)
	}
}

// TestTopologyNotAnnouncedAlone: a broker without cluster discovery sends
// no failover-server-list.
func TestTopologyNotAnnouncedAlone(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	if got := amqpServerList(t, addr); len(got) != 0 {
		t.Errorf("a standalone broker announced %v", got)
	}
}
