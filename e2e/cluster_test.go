package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// clusterPeers reads the peers a broker's admin endpoint lists.
func clusterPeers(t *testing.T, admin string) []string {
	resp, err := http.Get("http://" + admin + "/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Peers []struct{ URI string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range body.Peers {
		out = append(out, p.URI)
	}
	return out
}

// TestClusterStaticPeers: cluster.peers, given as MQGATE_CLUSTER_PEERS
// with commas and spaces, are the broker's peers.
func TestClusterStaticPeers(t *testing.T) {
	p := startMQGate(t, []string{"MQGATE_CLUSTER_DISCOVERY=static", "MQGATE_CLUSTER_PEERS=amqp://127.0.0.1:1, amqp://127.0.0.1:2"},
		serveFlags...)
	admin := p.logField("admin HTTP listening", "addr")
	want := []string{"amqp://127.0.0.1:1", "amqp://127.0.0.1:2"}
	eventually(t, waitTimeout, func() bool { return slices.Equal(clusterPeers(t, admin), want) },
		func() string { return fmt.Sprintf("peers %v, want %v", clusterPeers(t, admin), want) })
}

// TestClusterMulticastDiscovery runs two brokers with multicast discovery
// inside a network namespace the test creates (loopback only, so no beacon
// can leave the machine): each finds the other, and a stopped broker's dead
// beacon removes it at once. Skipped where namespaces cannot be created.
func TestClusterMulticastDiscovery(t *testing.T) {
	ip, err := exec.LookPath("ip")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("multicast discovery needs root and iproute2 to run inside its own network namespace")
	}
	ns := fmt.Sprintf("mqgate-e2e-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "lo", "multicast", "on"},
		{"-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	start := func(name, port string) *proc {
		return startMQGateVia(t, []string{ip, "netns", "exec", ns}, nil,
			"serve", "--node-id", name, "--stomp-listen", "", "--admin-listen", "", "--amqp-listen", "127.0.0.1:"+port,
			"--log-format", "json", "--store-type", "memory", "--cluster-discovery", "multicast",
			"--cluster-multicast-interface", "lo", "--cluster-multicast-interval", "100ms",
			"--cluster-advertise", "amqp://127.0.0.1:"+port)
	}
	a := start("a", "15672")
	b := start("b", "25672")
	waitLog := func(p *proc, event, peer string) {
		t.Helper()
		eventually(t, 30*time.Second, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, l := range p.logs {
				if l["message"] == "cluster: peer "+event && l["peer"] == peer {
					return true
				}
			}
			return false
		}, func() string { return fmt.Sprintf("no peer %s %s in:\n%s", event, peer, p.stderrText()) })
	}
	waitLog(a, "up", "amqp://127.0.0.1:25672")
	waitLog(b, "up", "amqp://127.0.0.1:15672")
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.wait(waitTimeout)
	waitLog(a, "down", "amqp://127.0.0.1:25672")
}
