package gateway

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/cluster/discovery"
	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/protocols/amqp"
)

// rebalanceQuiet is the shortest time between two rebalances toward the
// same peer, and the time after discovery starts during which none is
// made: a broker that just started has no clients to give, and one whose
// peers' bridges (re)connect to it while it starts must not send back
// the clients those peers just gave it.
const rebalanceQuiet = 10 * time.Second

// rebalancer decides when cluster.rebalance_clients moves clients
// (ActiveMQ's rebalanceClusterClients). A rebalance toward a peer starts
// when the peer is known to be up: a multicast beacon (discovery's up
// report) or the peer's network bridge naming its client URIs in the
// open of its connection (a static list reports its peers up at start,
// reachable or not, so there the bridge is the sign). Each protocol is
// rebalanced once per rebalance, as soon as the peer's URI for it is
// known (STOMP: once its bridge named it). Its own lock, a leaf: the
// redirects themselves run on a goroutine of their own, after it.
type rebalancer struct {
	mu    sync.Mutex
	start time.Time                  // when discovery started; guarded by mu
	peers map[string]*rebalanceRound // by peer URI; guarded by mu
}

// rebalanceRound is the latest rebalance toward one peer.
type rebalanceRound struct {
	since time.Time
	done  map[string]bool // scheme → clients of it were asked to move
}

// started records when discovery started.
func (r *rebalancer) started(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = now
}

// due starts a rebalance round toward peer unless one started within
// rebalanceQuiet or discovery started within it, and returns the schemes
// of the current round not done yet, of those in known; it marks them
// done.
func (r *rebalancer) due(peer string, now time.Time, known []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() || now.Sub(r.start) < rebalanceQuiet {
		return nil
	}
	if r.peers == nil {
		r.peers = map[string]*rebalanceRound{}
	}
	rd := r.peers[peer]
	if rd == nil || now.Sub(rd.since) >= rebalanceQuiet {
		rd = &rebalanceRound{since: now, done: map[string]bool{}}
		r.peers[peer] = rd
	}
	var out []string
	for _, s := range known {
		if !rd.done[s] {
			rd.done[s] = true
			out = append(out, s)
		}
	}
	return out
}

// peerUp is discovery's up report for p, after membership applied it
// (cluster.go). Discovery goroutine.
func (g *Gateway) peerUp(p discovery.Peer) {
	if g.cfg.Cluster.Discovery == config.DiscoveryMulticast {
		g.rebalanceToward(p.URI)
	}
}

// peerClients is amqp.Options.OnPeerClients: a peer's network bridge
// named its broker's client URIs. The topology records them; the peer,
// if discovery has it up, is then known to be up and reachable. An AMQP
// reader goroutine: nothing here may wait for the gateway's lock.
func (g *Gateway) peerClients(node string, uris []string) {
	g.topo.learn(node, uris)
	for _, p := range g.members.list() {
		if p.Name == node && node != "" || slices.Contains(uris, p.URI) {
			g.rebalanceToward(p.URI)
			return
		}
	}
}

// rebalanceToward starts the redirects a peer coming up calls for, if
// cluster.rebalance_clients is on and they are due (rebalancer), on a
// goroutine of its own: it takes g.mu, which Close holds while it waits
// for the discovery goroutine and for connections.
func (g *Gateway) rebalanceToward(peer string) {
	if !g.cfg.Cluster.RebalanceClients || peer == advertiseURI(g.cfg) {
		return
	}
	var known []string
	for _, s := range []string{"stomp", "amqp"} {
		if slices.ContainsFunc(g.peerClientURIs(s), func(p peerURI) bool { return p.peer == peer }) {
			known = append(known, s)
		}
	}
	schemes := g.members.rebal.due(peer, time.Now(), known)
	if len(schemes) == 0 {
		return
	}
	go g.rebalance(peer, schemes)
}

// rebalance asks a fair share of this broker's client connections of
// each scheme to move to the other brokers: with N brokers known for the
// scheme (this one included) and C client connections, C - C/N of them,
// round-robin over the others' URIs.
func (g *Gateway) rebalance(peer string, schemes []string) {
	g.mu.Lock()
	st, am, closed := g.stomp, g.amqp, g.closed
	g.mu.Unlock()
	if closed {
		return
	}
	for _, scheme := range schemes {
		var targets []string
		for _, p := range g.peerClientURIs(scheme) {
			targets = append(targets, p.uri)
		}
		if len(targets) == 0 {
			continue
		}
		var clients, asked int
		switch {
		case scheme == "stomp" && st != nil:
			clients = st.Clients()
			asked = st.Redirect(fairShare(clients, len(targets)+1), func(i int) string { return targets[i%len(targets)] })
		case scheme == "amqp" && am != nil:
			addrs := make([]amqp.ServerAddr, 0, len(targets))
			for _, u := range targets {
				if a, ok := serverAddr(u); ok {
					addrs = append(addrs, a)
				}
			}
			if len(addrs) == 0 {
				continue
			}
			clients = am.Clients()
			asked = am.Redirect(fairShare(clients, len(addrs)+1), func(i int) amqp.ServerAddr { return addrs[i%len(addrs)] })
		default:
			continue
		}
		g.log.Info().Str("peer", peer).Str("protocol", scheme).Int("clients", clients).Int("brokers", len(targets)+1).
			Int("redirected", asked).Strs("to", targets).Msg("cluster: rebalanced clients")
	}
}

// fairShare is how many of clients to move away so that brokers brokers
// (this one included) get about as many each: C - C/N.
func fairShare(clients, brokers int) int {
	if brokers < 2 || clients <= 0 {
		return 0
	}
	return clients - clients/brokers
}

// peerURI is one discovered peer's client URI for a scheme.
type peerURI struct {
	peer string // the peer's discovery URI
	uri  string
}

// peerClientURIs returns the client URIs of scheme of every peer
// discovery has up, each once, as clusterURIs names them (the URIs a
// peer's bridge named or, for AMQP, the URI it was discovered by),
// without this broker's own and without its master/slave group's (a
// slave's listeners are closed).
func (g *Gateway) peerClientURIs(scheme string) []peerURI {
	self := g.topo.selfMap()
	t := &g.topo
	t.mu.Lock()
	learned := make(map[string][]string, len(t.peers))
	for node, uris := range t.peers {
		learned[node] = uris
	}
	t.mu.Unlock()
	var out []peerURI
	seen := map[string]bool{self[scheme]: true}
	for _, p := range g.members.list() {
		if p.URI == advertiseURI(g.cfg) {
			continue
		}
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
			if strings.HasPrefix(u, scheme+"://") && !seen[u] {
				seen[u] = true
				out = append(out, peerURI{peer: p.URI, uri: u})
			}
		}
	}
	return out
}

// serverAddr parses an amqp:// URI into an address.
func serverAddr(u string) (amqp.ServerAddr, bool) {
	pu, err := url.Parse(u)
	if err != nil || pu.Hostname() == "" {
		return amqp.ServerAddr{}, false
	}
	port, err := strconv.Atoi(pu.Port())
	if err != nil {
		port = 5672
	}
	return amqp.ServerAddr{Scheme: "amqp", Host: pu.Hostname(), Port: port}, true
}
