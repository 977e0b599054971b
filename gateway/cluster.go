package gateway

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/cluster/discovery"
	"github.com/mqgate/mqgate/cluster/network"
	"github.com/mqgate/mqgate/config"
)

// membership is what discovery found: the peers that are up now, and
// the network of brokers that bridges to them while a term serves.
type membership struct {
	// net is the running network, or nil; set under mu, read anywhere.
	net atomic.Pointer[network.Network]

	mu    sync.Mutex
	peers map[string]discovery.Peer // by URI; guarded by mu
	self  string                    // this broker's URI, never bridged to; guarded by mu

	rebal rebalancer // cluster.rebalance_clients (rebalance.go)
}

func (m *membership) apply(e discovery.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.peers == nil {
		m.peers = map[string]discovery.Peer{}
	}
	n := m.net.Load()
	switch e.Kind {
	case discovery.Up:
		m.peers[e.Peer.URI] = e.Peer
		if n != nil && e.Peer.URI != m.self {
			n.AddPeer(e.Peer.URI)
		}
	case discovery.Down:
		delete(m.peers, e.Peer.URI)
		if n != nil {
			n.RemovePeer(e.Peer.URI)
		}
	}
}

// startNetwork makes n follow the membership, starting with a bridge to
// each peer up now except self (this broker's own URI).
func (m *membership) startNetwork(n *network.Network, self string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.self = self
	m.net.Store(n)
	for uri := range m.peers {
		if uri != self {
			n.AddPeer(uri)
		}
	}
}

// stopNetwork detaches the running network, if any, and returns it for
// the caller to close.
func (m *membership) stopNetwork() *network.Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.net.Swap(nil)
}

func (m *membership) list() []discovery.Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]discovery.Peer, 0, len(m.peers))
	for _, p := range m.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b discovery.Peer) int { return strings.Compare(a.URI, b.URI) })
	return out
}

// advertiseURI is the URI peers reach this broker at: cluster.advertise,
// or amqp://<host>:<amqp.listen port> with the listen host when it names
// one, else the host name.
func advertiseURI(cfg *config.Config) string {
	if cfg.Cluster.Advertise != "" {
		return cfg.Cluster.Advertise
	}
	host, port, err := net.SplitHostPort(cfg.AMQP.Listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "localhost"
		}
	}
	return "amqp://" + net.JoinHostPort(host, port)
}

// discoveryAgent returns the agent cluster.discovery names, or nil.
func (g *Gateway) discoveryAgent() discovery.Agent {
	cl := g.cfg.Cluster
	switch cl.Discovery {
	case config.DiscoveryStatic:
		return discovery.Static{URIs: config.SplitList(cl.Peers)}
	case config.DiscoveryMulticast:
		return &discovery.Multicast{
			Group:       cl.Multicast.Group,
			Address:     cl.Multicast.Address,
			Interface:   cl.Multicast.Interface,
			TTL:         cl.Multicast.TTL,
			Interval:    cl.Multicast.Interval,
			MissedBeats: cl.Multicast.MissedBeats,
			Self:        discovery.Peer{Name: g.cfg.Node.ID, URI: advertiseURI(g.cfg)},
			Logger:      g.log.With().Str("discovery", "multicast").Logger(),
		}
	}
	return nil
}

// startDiscovery runs discovery until Close. g.mu must be held.
func (g *Gateway) startDiscovery() {
	agent := g.discoveryAgent()
	if agent == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.discStop = cancel
	g.members.rebal.started(time.Now())
	if g.cfg.Cluster.RebalanceClients {
		armed := time.AfterFunc(rebalanceQuiet, func() {
			g.log.Info().Dur("after", rebalanceQuiet).Msg("cluster: client rebalancing armed")
		})
		context.AfterFunc(ctx, func() { armed.Stop() })
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := agent.Run(ctx, func(e discovery.Event) {
			g.log.Info().Str("peer", e.Peer.URI).Str("peer_name", e.Peer.Name).Str("event", e.Kind.String()).Msg("cluster: peer " + e.Kind.String())
			g.members.apply(e)
			if e.Kind == discovery.Up {
				g.peerUp(e.Peer)
			}
		})
		if err != nil && ctx.Err() == nil {
			g.log.Error().Err(err).Msg("cluster: discovery stopped")
		}
	}()
}

// Peers returns the brokers discovery has found and not lost.
func (g *Gateway) Peers() []discovery.Peer { return g.members.list() }
