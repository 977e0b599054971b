package gateway

import (
	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/cluster/network"
	"github.com/mqgate/mqgate/config"
)

// The network of brokers (cluster/network) runs for a term: it forwards
// the term's broker's messages, so it starts once the term serves and
// stops before the term's broker closes. Discovery, which outlives terms,
// hands it peers through membership.

// startNetwork starts the network of brokers over the term's broker when
// cluster.network.enabled, with a bridge to each peer discovery found.
// Without discovery it runs passive: no bridges of its own, its demand
// advertised only while a peer's bridge listens, so that peers may
// bridge here (a duplex bridge from a broker this one cannot dial).
// g.mu must be held.
func (g *Gateway) startNetwork() {
	cl := g.cfg.Cluster
	if g.broker == nil {
		return
	}
	// Peers forward here whether or not this broker bridges to them.
	g.broker.SetDuplicateWindow(cl.Network.DuplicateWindow)
	if !cl.Network.Enabled {
		return
	}
	nw := cl.Network
	n := network.New(g.broker, network.Options{
		NodeID:            g.cfg.Node.ID,
		TTL:               cl.NetworkTTL,
		Included:          config.SplitList(nw.Included),
		Excluded:          config.SplitList(nw.Excluded),
		Duplex:            nw.Duplex,
		Passive:           cl.Discovery == config.DiscoveryNone,
		Prefetch:          nw.Prefetch,
		DecreasePriority:  nw.DecreasePriority,
		Replay:            nw.Replay,
		ReplayDelay:       nw.ReplayDelay,
		ReconnectDelay:    nw.ReconnectDelay,
		MaxReconnectDelay: nw.MaxReconnectDelay,
		AdvertiseInterval: nw.AdvertiseInterval,
		IdleTimeout:       nw.IdleTimeout,
		ClientURIs:        g.topo.selfURIs,
		Logger:            g.log.With().Str("network", g.cfg.Node.ID).Logger(),
	})
	g.members.startNetwork(n, advertiseURI(g.cfg))
	ev := g.log.Info()
	if cl.Discovery == config.DiscoveryNone {
		ev = g.log.Debug() // a standalone broker: quiet until a peer bridges here
	}
	ev.Int("network_ttl", cl.NetworkTTL).Bool("duplex", nw.Duplex).Bool("passive", cl.Discovery == config.DiscoveryNone).
		Msg("network of brokers started")
}

// stopNetwork stops the term's network of brokers, if it runs: bridges
// close and release what they had not forwarded. g.mu must be held.
func (g *Gateway) stopNetwork() {
	if n := g.members.stopNetwork(); n != nil {
		n.Close()
	}
}

// onDemand is the broker's consumer-demand callback: the network, if it
// runs, advertises the change. Any goroutine; it does not block.
func (g *Gateway) onDemand(dest backend.Destination, consumers int) {
	if n := g.members.net.Load(); n != nil {
		n.OnDemand(dest, consumers)
	}
}

// networkStatus is the network of brokers in the admin endpoint's
// /cluster: the bridges, and the queues whose messages no local consumer
// takes.
type networkStatus struct {
	Bridges  []network.BridgeStatus   `json:"bridges"`
	Stranded []network.StrandedStatus `json:"stranded"`
}

// networkStatus describes the network, for the admin endpoint; nil when
// it does not run.
func (g *Gateway) networkStatus() *networkStatus {
	if n := g.members.net.Load(); n != nil {
		return &networkStatus{Bridges: n.Status(), Stranded: n.Stranded()}
	}
	return nil
}
