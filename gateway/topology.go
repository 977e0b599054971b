package gateway

import (
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/protocols/amqp"
)

// topology is what the broker tells clients about the cluster (ActiveMQ's
// updateClusterClients): its own client-facing URIs, those of the other
// live nodes of its master/slave group (registry.go), and those its
// peers' network bridges named (amqp.PropClientURIs). Its own lock, not
// g.mu: connections read it while Close may hold g.mu. mu is a leaf lock:
// nothing is called and no I/O is done while it is held.
type topology struct {
	mu    sync.Mutex
	self  map[string]string   // scheme → this broker's URI; guarded by mu
	peers map[string][]string // node id → the client URIs its bridge named; guarded by mu
	group []store.Member      // the other live nodes of the master/slave group, by node id; guarded by mu
}

// clientHost is the host clients reach this broker at: the host of
// cluster.advertise, else the listen host when it names one, else the
// host name.
func clientHost(cfg *config.Config, ln net.Addr) string {
	if u, err := url.Parse(cfg.Cluster.Advertise); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	if ln != nil {
		if host, _, err := net.SplitHostPort(ln.String()); err == nil {
			if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
				return host
			}
		}
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

// configuredURI returns the client URI of scheme for a listener
// configured on listen (host:port), as clientHost names the host, or ""
// when listen has no fixed port (empty, or 0: the port is known only once
// the listener is open).
func configuredURI(cfg *config.Config, scheme, listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	var ln net.Addr
	if host != "" {
		ln = listenAddr(listen)
	}
	return scheme + "://" + net.JoinHostPort(clientHost(cfg, ln), port)
}

// setSelf records this broker's listener for scheme ("stomp", "amqp");
// a nil ln forgets it.
func (t *topology) setSelf(cfg *config.Config, scheme string, ln net.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.self == nil {
		t.self = map[string]string{}
	}
	if ln == nil {
		delete(t.self, scheme)
		return
	}
	_, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return
	}
	t.self[scheme] = scheme + "://" + net.JoinHostPort(clientHost(cfg, ln), port)
}

// selfURIs returns this broker's client URIs, STOMP first.
func (t *topology) selfURIs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, s := range []string{"stomp", "amqp"} {
		if u, ok := t.self[s]; ok {
			out = append(out, u)
		}
	}
	return out
}

// selfMap returns a copy of this broker's client URIs by scheme.
func (t *topology) selfMap() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.self)
}

// setGroup replaces the other members of this node's master/slave group;
// the topology keeps ms.
func (t *topology) setGroup(ms []store.Member) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.group = ms
}

// learn records the client URIs a peer's bridge named.
func (t *topology) learn(node string, uris []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.peers == nil {
		t.peers = map[string][]string{}
	}
	t.peers[node] = slices.Clone(uris)
}

// clusterURIs returns the client URIs of scheme, each once: this
// broker's first, then those the other live nodes of its master/slave
// group registered, then those of every peer discovery has up (a peer's
// URIs as its bridge named them, or, for AMQP, the URI it was discovered
// by).
func (g *Gateway) clusterURIs(scheme string) []string {
	t := &g.topo
	t.mu.Lock()
	var out []string
	if u, ok := t.self[scheme]; ok {
		out = append(out, u)
	}
	for _, m := range t.group {
		for _, u := range m.URIs {
			if strings.HasPrefix(u, scheme+"://") && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	learned := make(map[string][]string, len(t.peers))
	for node, uris := range t.peers {
		learned[node] = uris
	}
	t.mu.Unlock()
	for _, p := range g.members.list() {
		var uris []string
		for node, us := range learned {
			if node == p.Name || slices.Contains(us, p.URI) {
				uris = us
				break
			}
		}
		if uris == nil && strings.HasPrefix(p.URI, "amqp://") {
			uris = []string{p.URI}
		}
		for _, u := range uris {
			if strings.HasPrefix(u, scheme+"://") && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// announces reports whether clients are told about the cluster: when
// discovery finds peers, or when the broker is a node of a master/slave
// group (the group's other nodes).
func (g *Gateway) announces() bool {
	return g.cfg.Cluster.Discovery != config.DiscoveryNone || g.cfg.SharedStore()
}

// stompServerList returns stomp.Options.ServerList: nil unless the broker
// announces the cluster.
func (g *Gateway) stompServerList() func() []string {
	if !g.announces() {
		return nil
	}
	return func() []string { return g.clusterURIs("stomp") }
}

// amqpServerList returns amqp.Options.ServerList: nil unless the broker
// announces the cluster.
func (g *Gateway) amqpServerList() func() []amqp.ServerAddr {
	if !g.announces() {
		return nil
	}
	return g.amqpServers
}

// amqpServers lists the cluster's AMQP addresses.
func (g *Gateway) amqpServers() []amqp.ServerAddr {
	var out []amqp.ServerAddr
	for _, u := range g.clusterURIs("amqp") {
		pu, err := url.Parse(u)
		if err != nil || pu.Hostname() == "" {
			continue
		}
		port, err := strconv.Atoi(pu.Port())
		if err != nil {
			port = 5672
		}
		out = append(out, amqp.ServerAddr{Scheme: "amqp", Host: pu.Hostname(), Port: port})
	}
	return out
}
