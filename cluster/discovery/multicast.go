package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// ActiveMQ's multicast discovery defaults (MulticastDiscoveryAgent).
const (
	DefaultGroup       = "default"
	DefaultAddress     = "239.255.2.3:6155"
	DefaultInterval    = 500 * time.Millisecond
	DefaultMissedBeats = 10
)

// Beacon layout: "<group>.ActiveMQ-4.alive.%<broker name>%<service URI>",
// or ".dead." on a clean stop.
const (
	typeSuffix = "ActiveMQ-4."
	alive      = "alive."
	dead       = "dead."
	delimiter  = "%"
)

// EncodeBeacon returns the datagram announcing self in group (dead on a
// clean stop).
func EncodeBeacon(group string, self Peer, isDead bool) []byte {
	state := alive
	if isDead {
		state = dead
	}
	return []byte(group + "." + typeSuffix + state + delimiter + self.Name + delimiter + self.URI)
}

// DecodeBeacon parses a datagram of group; ok is false for anything else
// (another group, another product, garbage).
func DecodeBeacon(group string, b []byte) (p Peer, isDead, ok bool) {
	s, found := strings.CutPrefix(string(b), group+"."+typeSuffix)
	if !found {
		return Peer{}, false, false
	}
	switch {
	case strings.HasPrefix(s, alive):
		s = s[len(alive):]
	case strings.HasPrefix(s, dead):
		s, isDead = s[len(dead):], true
	default:
		return Peer{}, false, false
	}
	rest, found := strings.CutPrefix(s, delimiter)
	if !found {
		return Peer{}, false, false
	}
	name, uri, found := strings.Cut(rest, delimiter)
	if !found || uri == "" {
		return Peer{}, false, false
	}
	return Peer{Name: name, URI: uri}, isDead, true
}

// Multicast announces Self to a multicast group and reports the other
// brokers that announce themselves there. Its defaults are ActiveMQ's
// multicast://default: group "default" on 239.255.2.3:6155, TTL 1, a
// beacon every 500 ms, a peer gone after 10 missed beacons.
type Multicast struct {
	// Group is the discovery group name; brokers of other groups are
	// ignored.
	Group string
	// Address is the multicast group address as host:port.
	Address string
	// Interface names the network interface to use; "" lets the system
	// choose.
	Interface string
	// TTL is the beacons' IP time-to-live: 1 keeps them on the local link.
	TTL int
	// Interval is the time between beacons.
	Interval time.Duration
	// MissedBeats is how many beacons a peer may miss before it is
	// reported Down.
	MissedBeats int
	// Self is what this broker announces; an empty URI listens only (a
	// client looking for brokers).
	Self Peer
	// Logger receives peer changes and socket errors.
	Logger zerolog.Logger
}

func (m *Multicast) defaults() {
	if m.Group == "" {
		m.Group = DefaultGroup
	}
	if m.Address == "" {
		m.Address = DefaultAddress
	}
	if m.TTL == 0 {
		m.TTL = 1
	}
	if m.Interval <= 0 {
		m.Interval = DefaultInterval
	}
	if m.MissedBeats <= 0 {
		m.MissedBeats = DefaultMissedBeats
	}
}

// ParseMulticast reads ActiveMQ's multicast://default or
// multicast://239.255.2.3:6155?group=x into m's fields (host "default"
// means the default address).
func ParseMulticast(s string) (*Multicast, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "multicast" {
		return nil, fmt.Errorf("%q is not a multicast:// discovery URI", s)
	}
	m := &Multicast{}
	if u.Host != "" && u.Host != DefaultGroup {
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("%q: the address must be host:port or default", s)
		}
		m.Address = u.Host
	}
	q := u.Query()
	for k, vs := range q {
		v := vs[0]
		switch k {
		case "group":
			m.Group = v
		case "timeToLive":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 255 {
				return nil, fmt.Errorf("%q: timeToLive=%q is not 1 to 255", s, v)
			}
			m.TTL = n
		case "keepAliveInterval":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: keepAliveInterval=%q is not a number of milliseconds", s, v)
			}
			m.Interval = time.Duration(n) * time.Millisecond
		case "interface", "networkInterface":
			m.Interface = v
		default:
			return nil, fmt.Errorf("%q: unknown option %q", s, k)
		}
	}
	m.defaults()
	return m, nil
}

// Run joins the group, announces Self every Interval and reports peers.
// On a clean stop (ctx ends) it announces Self dead.
func (m *Multicast) Run(ctx context.Context, fn func(Event)) error {
	m.defaults()
	gaddr, err := net.ResolveUDPAddr("udp4", m.Address)
	if err != nil {
		return fmt.Errorf("discovery: multicast address %q: %w", m.Address, err)
	}
	if !gaddr.IP.IsMulticast() {
		return fmt.Errorf("discovery: %s is not a multicast address", gaddr.IP)
	}
	var ifi *net.Interface
	if m.Interface != "" {
		if ifi, err = net.InterfaceByName(m.Interface); err != nil {
			return fmt.Errorf("discovery: interface %q: %w", m.Interface, err)
		}
	}
	rx, err := net.ListenMulticastUDP("udp4", ifi, gaddr)
	if err != nil {
		return fmt.Errorf("discovery: joining %s: %w", gaddr, err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if m.Self.URI != "" {
		if tx, err = m.sender(gaddr, ifi); err != nil {
			return err
		}
		defer tx.Close()
	}

	type beat struct {
		p      Peer
		isDead bool
	}
	beats := make(chan beat, 64)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, _, err := rx.ReadFromUDP(buf)
			if err != nil {
				close(beats)
				return
			}
			p, isDead, ok := DecodeBeacon(m.Group, buf[:n])
			if !ok || p.URI == m.Self.URI {
				continue
			}
			select {
			case beats <- beat{p, isDead}:
			default: // a flood of beacons must not block the reader; the next one comes soon
			}
		}
	}()

	seen := map[string]time.Time{} // by URI
	peers := map[string]Peer{}
	expiry := time.Duration(m.MissedBeats) * m.Interval
	tick := time.NewTicker(m.Interval)
	defer tick.Stop()
	send := func(isDead bool) {
		if tx == nil {
			return
		}
		if _, err := tx.Write(EncodeBeacon(m.Group, m.Self, isDead)); err != nil {
			m.Logger.Debug().Err(err).Msg("discovery: sending a beacon")
		}
	}
	send(false)
	for {
		select {
		case <-ctx.Done():
			send(true)
			rx.Close()
			for range beats {
			}
			return ctx.Err()
		case b, ok := <-beats:
			if !ok {
				return errors.New("discovery: the multicast socket closed")
			}
			if b.isDead {
				if p, ok := peers[b.p.URI]; ok {
					delete(peers, b.p.URI)
					delete(seen, b.p.URI)
					fn(Event{Kind: Down, Peer: p})
				}
				continue
			}
			if _, ok := peers[b.p.URI]; !ok {
				peers[b.p.URI] = b.p
				fn(Event{Kind: Up, Peer: b.p})
			}
			seen[b.p.URI] = time.Now()
		case now := <-tick.C:
			send(false)
			for uri, at := range seen {
				if now.Sub(at) > expiry {
					p := peers[uri]
					delete(peers, uri)
					delete(seen, uri)
					fn(Event{Kind: Down, Peer: p})
				}
			}
		}
	}
}

// sender opens the socket beacons are sent from, with the TTL and
// interface set.
func (m *Multicast) sender(gaddr *net.UDPAddr, ifi *net.Interface) (*net.UDPConn, error) {
	tx, err := net.DialUDP("udp4", nil, gaddr)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	rc, err := tx.SyscallConn()
	if err != nil {
		tx.Close()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, m.TTL)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1)
		}
		if serr == nil && ifi != nil {
			serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF,
				&syscall.IPMreqn{Ifindex: int32(ifi.Index)})
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		tx.Close()
		return nil, fmt.Errorf("discovery: setting up the beacon socket: %w", err)
	}
	return tx, nil
}
