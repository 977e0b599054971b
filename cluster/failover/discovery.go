package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mqgate/mqgate/cluster/discovery"
)

// Discovery is the discovery part of a discovery: URI (ActiveMQ's
// discovery transport): the agent that finds the brokers, and how a
// discovered broker's URI becomes an address in the client's protocol.
// The agents are the broker's own (package cluster/discovery).
type Discovery struct {
	// Agent is the discovery agent URI as written: multicast://... or
	// static:(uri,uri,...).
	Agent string
	// Multicast is the multicast agent, with the options of Agent (and a
	// group= option after the parenthesis); nil for static.
	Multicast *discovery.Multicast
	// Static lists the URIs of a static agent; nil for multicast. They are
	// also the URI's Brokers, mapped to its protocol.
	Static []string
	// ProtocolSet says the protocol came from a protocol= option rather
	// than from the agent (a static list's members, or AMQP for
	// multicast, which is what mqgate brokers advertise).
	ProtocolSet bool
	// STOMPPort and AMQPPort are the ports a discovered URI in another
	// scheme maps to, with its host (stompPort=, default 61613;
	// amqpPort=, default 5672): a broker advertises its AMQP URI, so a
	// STOMP client dials the advertised host on STOMPPort.
	STOMPPort, AMQPPort string

	// agent replaces the agent built from Multicast, for tests.
	agent discovery.Agent
}

// IsDiscoveryURI reports whether s is written as a discovery URI
// (discovery:...), whatever its validity.
func IsDiscoveryURI(s string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "discovery:")
}

// parseDiscoveryURI parses ActiveMQ's discovery transport URI:
//
//	discovery:(multicast://default)?initialReconnectDelay=100
//	discovery:(multicast://239.255.2.3:6155?group=prod&interface=eth0)?protocol=stomp
//	discovery:(static:(stomp://a:61613,stomp://b:61613))?randomize=false
//	discovery://(...)?options   discovery:multicast://default (no options)
//
// The options after the parenthesis are the failover options, plus
// protocol (stomp or amqp), stompPort and amqpPort (the mapping of
// discovered URIs in another scheme), group (the multicast group, as
// ActiveMQ's discovery transport takes it); ActiveMQ's reconnectDelay and
// discovered.* options are accepted and have no effect.
func parseDiscoveryURI(raw string) (*URI, error) {
	s := strings.TrimSpace(raw)
	rest := strings.TrimPrefix(s[len("discovery:"):], "//")
	var agent, query string
	if strings.HasPrefix(rest, "(") {
		end := closingParen(rest)
		if end < 0 {
			return nil, fmt.Errorf("discovery URI %q: no closing parenthesis after the discovery agent", raw)
		}
		agent, rest = strings.TrimSpace(rest[1:end]), rest[end+1:]
		if rest != "" {
			q, ok := strings.CutPrefix(rest, "?")
			if !ok {
				return nil, fmt.Errorf("discovery URI %q: unexpected %q after the discovery agent (options go after a '?')", raw, rest)
			}
			query = q
		}
	} else {
		agent = strings.TrimSpace(rest)
	}
	if agent == "" {
		return nil, fmt.Errorf("discovery URI %q: no discovery agent; write discovery:(multicast://default) or discovery:(static:(uri,uri))", raw)
	}
	d := &Discovery{Agent: agent, STOMPPort: DefaultSTOMPPort, AMQPPort: DefaultAMQPPort}
	u := &URI{Failover: true, Config: DefaultConfig(), Discovery: d}

	// Discovery options first: the protocol decides how the agent's URIs
	// are read and how priorityURIs parse.
	var failoverOpts []string
	var group string
	groupSet := false
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		rk, rv, ok := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(rk)
		if err != nil {
			return nil, fmt.Errorf("discovery URI %q: option %q: %w", raw, rk, err)
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return nil, fmt.Errorf("discovery URI %q: option %s value %q: %w", raw, k, rv, err)
		}
		if !ok {
			return nil, fmt.Errorf("discovery URI %q: option %q has no value (expected %s=value)", raw, k, k)
		}
		switch lk := strings.ToLower(k); {
		case lk == "protocol":
			switch p := Protocol(strings.ToLower(v)); p {
			case STOMP, AMQP:
				u.Protocol, d.ProtocolSet = p, true
			default:
				return nil, fmt.Errorf("discovery URI %q: option %s: invalid value %q: expected stomp or amqp", raw, k, v)
			}
		case lk == "stompport" || lk == "amqpport":
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("discovery URI %q: option %s: invalid value %q: expected a port, 1 to 65535", raw, k, v)
			}
			if lk == "stompport" {
				d.STOMPPort = v
			} else {
				d.AMQPPort = v
			}
		case lk == "group":
			if v == "" {
				return nil, fmt.Errorf("discovery URI %q: option %s: empty group name", raw, k)
			}
			group, groupSet = v, true
		case lk == "reconnectdelay" || strings.HasPrefix(lk, "discovered."):
			// ActiveMQ's: the wait for discovery, and options of the
			// discovered transports; member options are ignored here.
		default:
			failoverOpts = append(failoverOpts, kv)
		}
	}

	switch {
	case strings.HasPrefix(strings.ToLower(agent), "static:"):
		if groupSet {
			return nil, fmt.Errorf("discovery URI %q: option group applies to multicast:// discovery only", raw)
		}
		uris, err := discovery.ParseStatic(agent)
		if err != nil {
			return nil, fmt.Errorf("discovery URI %q: discovery agent: %w", raw, err)
		}
		d.Static = uris
		for _, m := range uris {
			b, err := parseMember(m)
			if err != nil && !d.ProtocolSet {
				return nil, fmt.Errorf("discovery URI %q: static member: %w (add protocol=stomp or protocol=amqp to map it)", raw, err)
			}
			if u.Protocol == "" {
				u.Protocol = b.Protocol
			} else if b.Protocol != u.Protocol && !d.ProtocolSet {
				return nil, fmt.Errorf("discovery URI %q: mixes %s and %s brokers; one URI speaks one protocol (or add protocol=stomp or protocol=amqp)", raw, u.Protocol, b.Protocol)
			}
			mb, err := d.broker(u.Protocol, m)
			if err != nil {
				return nil, fmt.Errorf("discovery URI %q: static member: %w", raw, err)
			}
			if !slices.ContainsFunc(u.Brokers, func(x Broker) bool { return x.Addr == mb.Addr }) {
				u.Brokers = append(u.Brokers, mb)
			}
		}
	case strings.HasPrefix(strings.ToLower(agent), "multicast:"):
		m, err := discovery.ParseMulticast(agent)
		if err != nil {
			return nil, fmt.Errorf("discovery URI %q: discovery agent: %w", raw, err)
		}
		if groupSet {
			m.Group = group
		}
		d.Multicast = m
		if u.Protocol == "" {
			u.Protocol = AMQP // what mqgate brokers advertise
		}
	default:
		return nil, fmt.Errorf("discovery URI %q: discovery agent %q: expected multicast://... or static:(uri,...)", raw, agent)
	}
	if err := parseOptions(&u.Config, u.Protocol, strings.Join(failoverOpts, "&")); err != nil {
		return nil, fmt.Errorf("discovery URI %q: %w", raw, err)
	}
	return u, nil
}

// closingParen returns the index of the parenthesis closing the one s
// starts with, or -1.
func closingParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// String renders the discovery part, discovery:(agent), with the
// discovery options that differ from the defaults, for URI.String.
func (d *Discovery) String(p Protocol) (string, []string) {
	s := "discovery:(" + d.Agent + ")"
	var opts []string
	if d.ProtocolSet {
		opts = append(opts, "protocol="+string(p))
	}
	if d.STOMPPort != DefaultSTOMPPort {
		opts = append(opts, "stompPort="+d.STOMPPort)
	}
	if d.AMQPPort != DefaultAMQPPort {
		opts = append(opts, "amqpPort="+d.AMQPPort)
	}
	return s, opts
}

// errSkipPeer marks a discovered URI the client cannot use (a TLS or
// unknown scheme, no host): skipped with a debug log.
var errSkipPeer = errors.New("not usable by the failover client")

// broker maps a discovered (or static) URI to a broker of protocol p: a
// URI in p's own schemes (stomp://, stomp+nio:// for STOMP; amqp://,
// amqp+nio:// for AMQP; and in a static list also tcp:// and nio:// for
// STOMP, as failover: members are read) is used as it is; any other
// plain scheme (an mqgate broker's advertised amqp:// for a STOMP client,
// an ActiveMQ broker's OpenWire tcp://) gives its host with p's port
// (STOMPPort or AMQPPort). TLS schemes are skipped: the client does not
// speak TLS yet.
func (d *Discovery) broker(p Protocol, uri string) (Broker, error) {
	pu, err := url.Parse(uri)
	if err != nil || pu.Scheme == "" || pu.Hostname() == "" {
		return Broker{}, fmt.Errorf("%w: %q is not scheme://host:port", errSkipPeer, uri)
	}
	scheme := strings.ToLower(pu.Scheme)
	own := false
	switch p {
	case STOMP:
		own = scheme == "stomp" || scheme == "stomp+nio" || (d.Static != nil && (scheme == "tcp" || scheme == "nio"))
	case AMQP:
		own = scheme == "amqp" || scheme == "amqp+nio"
	}
	if own {
		b, err := parseMember(uri)
		if err != nil {
			return Broker{}, fmt.Errorf("%w: %w", errSkipPeer, err)
		}
		return b, nil
	}
	if strings.Contains(scheme, "ssl") || strings.Contains(scheme, "tls") || slices.Contains([]string{"amqps", "stomps", "wss", "https"}, scheme) {
		return Broker{}, fmt.Errorf("%w: %q: TLS is not supported by the failover client yet", errSkipPeer, uri)
	}
	port := d.STOMPPort
	if p == AMQP {
		port = d.AMQPPort
	}
	addr, err := hostPort(net.JoinHostPort(pu.Hostname(), port), port)
	if err != nil {
		return Broker{}, fmt.Errorf("%w: %q: %w", errSkipPeer, uri, err)
	}
	b := Broker{Protocol: p, Addr: addr}
	if pu.User != nil {
		b.Login = pu.User.Username()
		b.Passcode, _ = pu.User.Password()
	}
	return b, nil
}

// runDiscovery runs the URI's discovery agent until ctx ends, adding the
// brokers it reports up and dropping those it reports down. It runs on
// its own goroutine from DialURI and closes discDone when it returns.
func (c *Conn) runDiscovery(ctx context.Context) {
	defer close(c.discDone)
	d := c.uri.Discovery
	agent := d.agent
	switch {
	case agent != nil:
	case d.Static != nil:
		// Its brokers are the URI's already; it reports them up once.
		agent = discovery.Static{URIs: d.Static}
	default:
		m := *d.Multicast
		m.Self = discovery.Peer{} // a client listens only
		m.Logger = c.log
		agent = &m
	}
	err := agent.Run(ctx, func(e discovery.Event) { c.onPeer(e) })
	if err != nil && ctx.Err() == nil {
		c.log.Error().Err(err).Str("agent", d.Agent).Msg("failover: discovery stopped")
		c.mu.Lock()
		c.discErr = err
		c.signalList()
		c.mu.Unlock()
	}
}

// onPeer applies one discovery event to the candidate list, on the
// discovery goroutine. A broker reported down while it is the one in use
// stays until its connection fails (supervise drops it then).
func (c *Conn) onPeer(e discovery.Event) {
	b, err := c.uri.Discovery.broker(c.uri.Protocol, e.Peer.URI)
	if err != nil {
		c.log.Debug().Err(err).Str("peer", e.Peer.URI).Msg("failover: ignoring a discovered broker")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e.Kind {
	case discovery.Up:
		delete(c.gone, b.Addr)
		if _, added := c.addBroker(b); added {
			c.log.Info().Str("broker", b.String()).Str("peer", e.Peer.URI).Msg("failover: broker discovered, added to the list")
		}
	case discovery.Down:
		if c.cur != nil && c.cur.broker().Addr == b.Addr {
			c.gone[b.Addr] = true
			c.log.Info().Str("broker", b.String()).Msg("failover: broker in use reported gone; kept until its connection ends")
			return
		}
		c.dropBroker(b.Addr)
	}
}

// addBroker appends b to the list unless its address is there, waking a
// connect loop waiting for brokers. It returns the list's entry and
// whether it was added. c.mu must be held.
func (c *Conn) addBroker(b Broker) (Broker, bool) {
	if i := slices.IndexFunc(c.brokers, func(x Broker) bool { return x.Addr == b.Addr }); i >= 0 {
		return c.brokers[i], false
	}
	b.Login, b.Passcode = c.inheritCredentials(b)
	c.brokers = append(c.brokers, b)
	c.signalList()
	return b, true
}

// inheritCredentials gives a discovered or redirected broker without a
// login the login of the URI's first broker that has one (Options.Login
// overrides both at dial time). c.mu must be held.
func (c *Conn) inheritCredentials(b Broker) (string, string) {
	if b.Login != "" {
		return b.Login, b.Passcode
	}
	for _, x := range c.uri.Brokers {
		if x.Login != "" {
			return x.Login, x.Passcode
		}
	}
	return "", ""
}

// dropBroker removes the broker at addr from the list. c.mu must be held.
func (c *Conn) dropBroker(addr string) {
	n := len(c.brokers)
	c.brokers = slices.DeleteFunc(c.brokers, func(x Broker) bool { return x.Addr == addr })
	delete(c.gone, addr)
	if len(c.brokers) != n {
		c.log.Info().Str("broker", string(c.uri.Protocol)+"://"+addr).Msg("failover: broker gone, dropped from the list")
	}
}

// signalList wakes a connect loop waiting between passes for the list to
// change. c.mu must be held.
func (c *Conn) signalList() {
	close(c.listCh)
	c.listCh = make(chan struct{})
}
