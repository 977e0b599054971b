// Package discovery finds the other brokers of a cluster and reports them
// as peer-up and peer-down events. Two modes exist, as in ActiveMQ: a static
// list of peer URIs (`static:(amqp://a:5672,amqp://b:5672)`) and multicast
// beacons wire-compatible with ActiveMQ's `multicast://default`. Nothing
// that consumes the events cares which mode produced them.
package discovery

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Peer is one broker found by discovery.
type Peer struct {
	// Name is the broker's name (its node id), when the mode knows it.
	Name string `json:"name"`
	// URI is the address to connect to, e.g. "amqp://10.0.0.2:5672".
	URI string `json:"uri"`
}

// Kind says whether a peer appeared or went away.
type Kind int

// Event kinds.
const (
	Up Kind = iota + 1
	Down
)

// String returns "up" or "down".
func (k Kind) String() string {
	switch k {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// Event reports a change in the set of peers.
type Event struct {
	Kind Kind
	Peer Peer
}

// Agent produces events until its context ends. A peer is reported Up once
// until it is reported Down; events for one peer come in order.
type Agent interface {
	// Run sends events to fn, from one goroutine, until ctx ends; it
	// returns ctx's error, or the error that stopped it.
	Run(ctx context.Context, fn func(Event)) error
}

// Static reports every URI of a fixed list as Up at once and never Down:
// a static peer that is unreachable is the bridge's business (it
// reconnects with back-off), as with ActiveMQ's static: discovery.
type Static struct {
	URIs []string
}

// Run reports the list, then waits for ctx.
func (s Static) Run(ctx context.Context, fn func(Event)) error {
	for _, u := range s.URIs {
		fn(Event{Kind: Up, Peer: Peer{URI: u}})
	}
	<-ctx.Done()
	return ctx.Err()
}

// SplitList splits a list of URIs written with commas or spaces between
// them, as cluster.peers and MQGATE_CLUSTER_PEERS take them.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// ParseStatic parses "static:(uri,uri)" or "static://(uri,uri)" into its
// URIs, checking that each is an absolute URI with a host and port.
func ParseStatic(s string) ([]string, error) {
	rest, ok := strings.CutPrefix(s, "static:")
	if !ok {
		return nil, fmt.Errorf("%q is not a static: discovery URI", s)
	}
	rest = strings.TrimPrefix(rest, "//")
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		return nil, fmt.Errorf("%q: write static:(uri,uri,...)", s)
	}
	uris := SplitList(rest[1 : len(rest)-1])
	if len(uris) == 0 {
		return nil, fmt.Errorf("%q lists no URI", s)
	}
	for _, u := range uris {
		if err := CheckPeerURI(u); err != nil {
			return nil, err
		}
	}
	return uris, nil
}

// CheckPeerURI checks that u is scheme://host:port.
func CheckPeerURI(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" || p.Port() == "" {
		return fmt.Errorf("%q is not a peer URI; write scheme://host:port, such as amqp://10.0.0.2:5672", u)
	}
	return nil
}
