package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/backend"
)

// snapshot is a broker's advertised demand, the body of a message on
// DemandTopic (see doc.go).
type snapshot struct {
	V      int     `json:"v"`
	Node   string  `json:"node"`
	Demand []entry `json:"demand"`
}

// entry is the demand for one destination: the routes to its consumers.
type entry struct {
	Dest   string  `json:"dest"`
	Routes []route `json:"routes"`
}

// route is one way to a destination's consumers: hops from the
// advertiser, and the peer it goes through ("" for local consumers).
type route struct {
	Hops int    `json:"hops"`
	Via  string `json:"via,omitempty"`
}

// snapshotVersion is the format version a snapshot carries.
const snapshotVersion = 1

// maxDemandEntries bounds the destinations taken from one peer snapshot.
const maxDemandEntries = 100000

// encode returns s as JSON.
func (s *snapshot) encode() []byte {
	b, _ := json.Marshal(s) // plain structs of strings and ints
	return b
}

// snapshot computes this broker's demand: local consumers, the routes
// its bridges learned and the pulls of peers' duplex bridges
// (backend.Broker.PeerDemand) that one more hop keeps within the TTL;
// watched reports that someone subscribes to DemandTopic. It also
// refreshes the local demand the filters read and Network.want (the
// demand before the global Included and Excluded, which the snapshot
// applies).
func (n *Network) snapshot() (s *snapshot, watched bool) {
	local := map[backend.Destination]int{}
	routes := map[backend.Destination][]route{}
	for _, d := range n.b.LocalDemand() {
		if d.Dest.Kind == backend.Topic && d.Dest.Name == DemandTopic && d.Consumers > 0 {
			watched = true
		}
		if !exchanged(d.Dest, nil, nil) {
			continue
		}
		local[d.Dest] = d.Consumers
		routes[d.Dest] = append(routes[d.Dest], route{Hops: 0})
	}
	old := n.local.Swap(&local)
	n.mu.Lock()
	brs := make([]*bridge, 0, len(n.bridges))
	for _, br := range n.bridges {
		brs = append(brs, br)
	}
	n.mu.Unlock()
	for d, c := range *old {
		if c > 0 && local[d] == 0 && d.Kind == backend.Queue {
			// The last local consumer left: stranded messages may now
			// be replayed to peers; dispatch them.
			for _, br := range brs {
				br.poke(d)
			}
		}
	}
	for _, br := range brs {
		peer, learned := br.learnedRoutes()
		for d, hops := range learned {
			if hops < n.opts.TTL {
				routes[d] = append(routes[d], route{Hops: hops, Via: peer})
			}
		}
	}
	for _, pd := range n.b.PeerDemand() {
		if pd.Hops < n.opts.TTL && pd.Peer != n.opts.NodeID && exchanged(pd.Dest, nil, nil) {
			routes[pd.Dest] = append(routes[pd.Dest], route{Hops: pd.Hops, Via: pd.Peer})
		}
	}
	all := encodeRoutes(n.opts.NodeID, routes)
	n.want.Store(all)
	s = &snapshot{V: snapshotVersion, Node: n.opts.NodeID, Demand: make([]entry, 0, len(all.Demand))}
	for _, e := range all.Demand {
		if d, err := backend.ParseDestination(e.Dest); err == nil && n.forwarded(d) {
			s.Demand = append(s.Demand, e)
		}
	}
	return s, watched
}

// encodeRoutes returns the snapshot of node with routes, sorted.
func encodeRoutes(node string, routes map[backend.Destination][]route) *snapshot {
	s := &snapshot{V: snapshotVersion, Node: node, Demand: make([]entry, 0, len(routes))}
	for d, rs := range routes {
		slices.SortFunc(rs, func(a, b route) int {
			if a.Hops != b.Hops {
				return a.Hops - b.Hops
			}
			return strings.Compare(a.Via, b.Via)
		})
		s.Demand = append(s.Demand, entry{Dest: d.String(), Routes: rs})
	}
	slices.SortFunc(s.Demand, func(a, b entry) int { return strings.Compare(a.Dest, b.Dest) })
	return s
}

// parseSnapshot decodes a peer's snapshot.
func parseSnapshot(body []byte) (*snapshot, error) {
	var s snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("demand snapshot: %w", err)
	}
	if s.V != snapshotVersion {
		return nil, fmt.Errorf("demand snapshot version %d, want %d", s.V, snapshotVersion)
	}
	if s.Node == "" {
		return nil, errors.New("demand snapshot without a node id")
	}
	if len(s.Demand) > maxDemandEntries {
		return nil, fmt.Errorf("demand snapshot of %d destinations, more than %d", len(s.Demand), maxDemandEntries)
	}
	return &s, nil
}

// learn returns the destinations a peer's snapshot offers to a broker
// named self, with the hops from self: the shortest route that does not
// go through self, plus one, within ttl; only destinations forward
// accepts.
func learn(s *snapshot, self string, ttl int, forward func(backend.Destination) bool) map[backend.Destination]int {
	out := map[backend.Destination]int{}
	for _, e := range s.Demand {
		d, err := backend.ParseDestination(e.Dest)
		if err != nil || !forward(d) {
			continue
		}
		best := -1
		for _, r := range e.Routes {
			if r.Via == self || r.Hops < 0 {
				continue // split horizon: our own demand coming back
			}
			if best < 0 || r.Hops < best {
				best = r.Hops
			}
		}
		if best >= 0 && best+1 <= ttl {
			out[d] = best + 1
		}
	}
	return out
}
