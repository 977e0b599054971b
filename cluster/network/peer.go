package network

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/mqgate/mqgate/backend"
)

// Per-bridge settings. A peer URI may carry query options that override,
// for its bridge only, the Options that apply to every bridge (ActiveMQ
// puts these on its networkConnector):
//
//	amqp://10.0.0.2:5672?duplex=true&included=queue://orders.>&included=topic://prices.*&excluded=queue://orders.tmp.>
//
//   - duplex (true or false): Options.Duplex;
//   - included and excluded: destination patterns as in Options.Included
//     and Excluded, one per value, repeated for more. Present (even
//     empty: "included=" forwards every destination), a key replaces the
//     global list for the bridge; absent, the global list applies.
//
// A peer found by multicast discovery has no query: its bridge takes
// the global Options.

// PeerOptionKeys are the query options a peer URI may carry.
var PeerOptionKeys = []string{"duplex", "included", "excluded"}

// peerConfig is one bridge's settings: the global Options with what its
// peer URI overrides.
type peerConfig struct {
	addr    string // host:port to dial
	host    string // the host name, for the AMQP open
	duplex  bool
	include []pattern
	exclude []pattern
}

// parsePeer reads a peer URI (amqp://host:port, with optional query
// options) against the global options o.
func parsePeer(uri string, o *Options, include, exclude []pattern) (peerConfig, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.Port() == "" {
		return peerConfig{}, fmt.Errorf("peer URI %q: not amqp://host:port", uri)
	}
	pc := peerConfig{addr: u.Host, host: u.Hostname(), duplex: o.Duplex, include: include, exclude: exclude}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return peerConfig{}, fmt.Errorf("peer URI %q: query: %w", uri, err)
	}
	for k, vs := range q {
		switch k {
		case "duplex":
			if len(vs) != 1 {
				return peerConfig{}, fmt.Errorf("peer URI %q: duplex given %d times", uri, len(vs))
			}
			b, err := strconv.ParseBool(vs[0])
			if err != nil {
				return peerConfig{}, fmt.Errorf("peer URI %q: duplex=%q is not true or false", uri, vs[0])
			}
			pc.duplex = b
		case "included", "excluded":
			for _, v := range vs {
				if v != "" && !ValidPattern(v) {
					return peerConfig{}, fmt.Errorf("peer URI %q: %s=%q is not a destination pattern", uri, k, v)
				}
			}
			ps := parsePatterns(vs)
			if k == "included" {
				pc.include = ps
			} else {
				pc.exclude = ps
			}
		default:
			return peerConfig{}, fmt.Errorf("peer URI %q: unknown option %q; use %s", uri, k, strings.Join(PeerOptionKeys, ", "))
		}
	}
	return pc, nil
}

// ValidPattern reports whether p is a destination pattern of
// Options.Included and Excluded: an optional queue://, topic://, /queue/
// or /topic/ prefix and a name without control characters.
func ValidPattern(p string) bool {
	for _, pre := range []string{"queue://", "topic://", "/queue/", "/topic/"} {
		if rest, ok := strings.CutPrefix(p, pre); ok {
			p = rest
			break
		}
	}
	return p != "" && !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// forwards reports whether dest may cross this bridge: not internal, not
// temporary, included and not excluded by the bridge's patterns.
func (pc *peerConfig) forwards(dest backend.Destination) bool {
	return exchanged(dest, pc.include, pc.exclude)
}

// exchanged reports whether dest may cross the network under include and
// exclude.
func exchanged(dest backend.Destination, include, exclude []pattern) bool {
	if dest.Kind != backend.Queue && dest.Kind != backend.Topic || strings.HasPrefix(dest.Name, internalPrefix) {
		return false
	}
	if len(include) > 0 && !matchAny(include, dest) {
		return false
	}
	return !matchAny(exclude, dest)
}
