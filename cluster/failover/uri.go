package failover

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Protocol is the wire protocol of a URI: every broker of one failover URI
// speaks the same one.
type Protocol string

// The protocols a Conn speaks.
const (
	STOMP Protocol = "stomp"
	AMQP  Protocol = "amqp"
)

// Default ports, as ActiveMQ and mqgate listen.
const (
	DefaultSTOMPPort = "61613"
	DefaultAMQPPort  = "5672"
)

// Broker is one member of a failover URI: where to dial and in which
// protocol.
type Broker struct {
	// Protocol is STOMP or AMQP.
	Protocol Protocol
	// Addr is host:port, ready for net.Dial.
	Addr string
	// Login and Passcode come from user:password@ in the member URI.
	Login, Passcode string
}

// String returns the broker's URI without credentials, stomp://host:port or
// amqp://host:port: the form Event and the logs name a broker by.
func (b Broker) String() string { return string(b.Protocol) + "://" + b.Addr }

// Config holds the failover options of a URI: ActiveMQ's failover transport
// options, with its names, defaults and meanings.
type Config struct {
	// Randomize shuffles the brokers before each pass over them
	// (randomize, default true).
	Randomize bool
	// InitialReconnectDelay is the wait before the first reconnect pass
	// and between the first passes (initialReconnectDelay, ms, default 10).
	InitialReconnectDelay time.Duration
	// MaxReconnectDelay caps the wait between passes (maxReconnectDelay,
	// ms, default 30000).
	MaxReconnectDelay time.Duration
	// UseExponentialBackOff multiplies the wait by BackOffMultiplier after
	// each pass (useExponentialBackOff, default true).
	UseExponentialBackOff bool
	// BackOffMultiplier is the growth factor of the wait
	// (backOffMultiplier, default 2).
	BackOffMultiplier float64
	// MaxReconnectAttempts is how many passes over the brokers the client
	// makes after a working connection is lost before it gives up: -1 is
	// forever, 0 is no reconnection at all (maxReconnectAttempts, default
	// -1).
	MaxReconnectAttempts int
	// StartupMaxReconnectAttempts is the same limit for the first
	// connection, made by Dial; -1 means MaxReconnectAttempts applies
	// (startupMaxReconnectAttempts, default -1). Dial always makes at least
	// one pass.
	StartupMaxReconnectAttempts int
	// Timeout is how long a send waits for a connection while the client is
	// reconnecting before it fails with ErrTimeout; negative is forever
	// (timeout, ms, default -1).
	Timeout time.Duration
	// PriorityBackup makes the client prefer the priority brokers: they are
	// tried first, and while connected to another broker the client keeps
	// trying them and moves back as soon as one answers (priorityBackup,
	// default false).
	PriorityBackup bool
	// PriorityURIs are the priority brokers; empty means the first broker
	// of the list (priorityURIs, comma-separated).
	PriorityURIs []Broker
	// UpdateURIsSupported adds the brokers a broker announces (STOMP
	// CONNECTED header and AMQP open property failover-server-list) to the
	// list (updateURIsSupported, default true).
	UpdateURIsSupported bool
}

// DefaultConfig returns ActiveMQ's defaults.
func DefaultConfig() Config {
	return Config{
		Randomize:                   true,
		InitialReconnectDelay:       10 * time.Millisecond,
		MaxReconnectDelay:           30 * time.Second,
		UseExponentialBackOff:       true,
		BackOffMultiplier:           2,
		MaxReconnectAttempts:        -1,
		StartupMaxReconnectAttempts: -1,
		Timeout:                     -1,
		UpdateURIsSupported:         true,
	}
}

// URI is a parsed failover (or single-broker) URI.
type URI struct {
	// Protocol is the protocol of every broker.
	Protocol Protocol
	// Brokers is the list of members, in the order written.
	Brokers []Broker
	// Failover is false for a single non-failover URI: that one connects
	// once and never reconnects (Config.MaxReconnectAttempts and
	// StartupMaxReconnectAttempts are 0), as ActiveMQ's plain tcp:// does.
	Failover bool
	// Config holds the failover options.
	Config Config
	// Discovery is set for a discovery: URI: its brokers are found by a
	// discovery agent while the Conn runs (Brokers holds a static list's,
	// and is empty for multicast).
	Discovery *Discovery
}

// String renders u in the failover:(...)?options form, without
// credentials, with the options that differ from the defaults.
func (u *URI) String() string {
	if !u.Failover && len(u.Brokers) == 1 && u.Discovery == nil {
		return u.Brokers[0].String()
	}
	var s string
	var opts []string
	if u.Discovery != nil {
		s, opts = u.Discovery.String(u.Protocol)
	} else {
		members := make([]string, len(u.Brokers))
		for i, b := range u.Brokers {
			members[i] = b.String()
		}
		s = "failover:(" + strings.Join(members, ",") + ")"
	}
	d, c := DefaultConfig(), u.Config
	add := func(changed bool, k, v string) {
		if changed {
			opts = append(opts, k+"="+v)
		}
	}
	add(c.Randomize != d.Randomize, "randomize", strconv.FormatBool(c.Randomize))
	add(c.InitialReconnectDelay != d.InitialReconnectDelay, "initialReconnectDelay", ms(c.InitialReconnectDelay))
	add(c.MaxReconnectDelay != d.MaxReconnectDelay, "maxReconnectDelay", ms(c.MaxReconnectDelay))
	add(c.UseExponentialBackOff != d.UseExponentialBackOff, "useExponentialBackOff", strconv.FormatBool(c.UseExponentialBackOff))
	add(c.BackOffMultiplier != d.BackOffMultiplier, "backOffMultiplier", strconv.FormatFloat(c.BackOffMultiplier, 'g', -1, 64))
	add(c.MaxReconnectAttempts != d.MaxReconnectAttempts, "maxReconnectAttempts", strconv.Itoa(c.MaxReconnectAttempts))
	add(c.StartupMaxReconnectAttempts != d.StartupMaxReconnectAttempts, "startupMaxReconnectAttempts", strconv.Itoa(c.StartupMaxReconnectAttempts))
	add(c.Timeout != d.Timeout, "timeout", ms(c.Timeout))
	add(c.PriorityBackup != d.PriorityBackup, "priorityBackup", strconv.FormatBool(c.PriorityBackup))
	if len(c.PriorityURIs) > 0 {
		ps := make([]string, len(c.PriorityURIs))
		for i, b := range c.PriorityURIs {
			ps[i] = b.String()
		}
		opts = append(opts, "priorityURIs="+strings.Join(ps, ","))
	}
	add(c.UpdateURIsSupported != d.UpdateURIsSupported, "updateURIsSupported", strconv.FormatBool(c.UpdateURIsSupported))
	if len(opts) > 0 {
		s += "?" + strings.Join(opts, "&")
	}
	return s
}

// ms formats d as ActiveMQ writes delays: whole milliseconds, -1 for
// negative.
func ms(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// ErrUnsupportedScheme is returned (wrapped) by ParseURI for a member in a
// scheme the client does not speak (TLS, WebSocket, HTTP...).
var ErrUnsupportedScheme = errors.New("unsupported URI scheme")

// IsFailoverURI reports whether s is written as a failover URI
// (failover:...), whatever its validity.
func IsFailoverURI(s string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "failover:")
}

// ParseURI parses a failover URI, as ActiveMQ writes it:
//
//	failover:(stomp://a:61613,stomp://b:61613)?randomize=false&timeout=3000
//	failover:(amqp://a:5672,amqp://b:5672)
//	failover://(tcp://a:61613)   failover:tcp://a:61613,tcp://b:61613
//
// or a single broker URI (stomp://h:p, tcp://h:p, amqp://h:p, or host:port
// for STOMP), which connects once and does not reconnect. tcp://, nio://
// and stomp+nio:// are STOMP; amqp:// and amqp+nio:// are AMQP 1.0. A
// missing port is the protocol's default and a missing host 127.0.0.1;
// user:pass@ gives a login and passcode. Query options on a member URI
// (ActiveMQ transport options such as wireFormat.maxInactivityDuration) are
// ignored. An unknown failover option, a bad value, a member in an
// unsupported scheme or members of different protocols are errors that
// name what is wrong.
//
// It also parses ActiveMQ's discovery URIs, whose brokers a discovery
// agent finds (see parseDiscoveryURI):
//
//	discovery:(multicast://default)?initialReconnectDelay=100
//	discovery:(static:(stomp://a:61613,stomp://b:61613))
func ParseURI(raw string) (*URI, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("empty broker URI")
	}
	if IsDiscoveryURI(s) {
		return parseDiscoveryURI(raw)
	}
	if !IsFailoverURI(s) {
		b, err := parseMember(s)
		if err != nil {
			return nil, err
		}
		cfg := DefaultConfig()
		cfg.MaxReconnectAttempts, cfg.StartupMaxReconnectAttempts = 0, 0
		return &URI{Protocol: b.Protocol, Brokers: []Broker{b}, Config: cfg}, nil
	}
	rest := strings.TrimPrefix(s[len("failover:"):], "//")
	var list, query string
	if strings.HasPrefix(rest, "(") {
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return nil, fmt.Errorf("failover URI %q: no closing parenthesis after the broker list", raw)
		}
		list, rest = rest[1:end], rest[end+1:]
		if rest != "" {
			q, ok := strings.CutPrefix(rest, "?")
			if !ok {
				return nil, fmt.Errorf("failover URI %q: unexpected %q after the broker list (options go after a '?')", raw, rest)
			}
			query = q
		}
	} else {
		if strings.Contains(rest, "?") {
			return nil, fmt.Errorf("failover URI %q: put the brokers in parentheses when giving options: failover:(uri,uri)?options", raw)
		}
		list = rest
	}
	u := &URI{Failover: true, Config: DefaultConfig()}
	for _, m := range strings.Split(list, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			return nil, fmt.Errorf("failover URI %q: empty broker in the list", raw)
		}
		b, err := parseMember(m)
		if err != nil {
			return nil, fmt.Errorf("failover URI %q: %w", raw, err)
		}
		if u.Protocol == "" {
			u.Protocol = b.Protocol
		} else if b.Protocol != u.Protocol {
			return nil, fmt.Errorf("failover URI %q: mixes %s and %s brokers; one failover URI speaks one protocol", raw, u.Protocol, b.Protocol)
		}
		if !slices.ContainsFunc(u.Brokers, func(x Broker) bool { return x.Addr == b.Addr }) {
			u.Brokers = append(u.Brokers, b)
		}
	}
	if err := parseOptions(&u.Config, u.Protocol, query); err != nil {
		return nil, fmt.Errorf("failover URI %q: %w", raw, err)
	}
	return u, nil
}

// parseMember parses one broker URI.
func parseMember(s string) (Broker, error) {
	i := strings.Index(s, "://")
	if i < 0 {
		if strings.ContainsAny(s, "/?@") {
			return Broker{}, fmt.Errorf("broker %q: expected scheme://host:port or host:port", s)
		}
		addr, err := hostPort(s, DefaultSTOMPPort)
		if err != nil {
			return Broker{}, fmt.Errorf("broker %q: %w", s, err)
		}
		return Broker{Protocol: STOMP, Addr: addr}, nil
	}
	scheme := strings.ToLower(s[:i])
	var p Protocol
	switch scheme {
	case "stomp", "tcp", "nio", "stomp+nio":
		p = STOMP
	case "amqp", "amqp+nio":
		p = AMQP
	case "ssl", "stomp+ssl", "stomp+nio+ssl", "stomps", "tls", "amqps", "amqp+ssl", "amqp+nio+ssl":
		return Broker{}, fmt.Errorf("%w %q in %q: TLS is not supported by the failover client yet", ErrUnsupportedScheme, scheme, s)
	default:
		return Broker{}, fmt.Errorf("%w %q in %q: use stomp://, tcp:// or amqp://", ErrUnsupportedScheme, scheme, s)
	}
	u, err := url.Parse("x" + s[i:])
	if err != nil {
		return Broker{}, fmt.Errorf("broker %q: %w", s, err)
	}
	if u.Path != "" && u.Path != "/" {
		return Broker{}, fmt.Errorf("broker %q: unexpected path %q", s, u.Path)
	}
	def := DefaultSTOMPPort
	if p == AMQP {
		def = DefaultAMQPPort
	}
	addr, err := hostPort(u.Host, def)
	if err != nil {
		return Broker{}, fmt.Errorf("broker %q: %w", s, err)
	}
	b := Broker{Protocol: p, Addr: addr}
	if u.User != nil {
		b.Login = u.User.Username()
		b.Passcode, _ = u.User.Password()
	}
	return b, nil
}

// hostPort fills in the default host and port and checks the port.
func hostPort(hp, defPort string) (string, error) {
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.Count(hp, ":") == 1 || (strings.HasPrefix(hp, "[") && strings.Contains(hp, "]:")) {
		return "", fmt.Errorf("invalid host:port %q", hp)
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]")
	}
	if strings.ContainsAny(host, "/?#@ ()") {
		return "", fmt.Errorf("invalid host %q", host)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// parseOptions applies the failover options of query to c. Option names
// are matched without regard to case.
func parseOptions(c *Config, p Protocol, query string) error {
	if query == "" {
		return nil
	}
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		rk, rv, ok := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(rk)
		if err != nil {
			return fmt.Errorf("option %q: %w", rk, err)
		}
		v, err := url.QueryUnescape(rv)
		if err != nil {
			return fmt.Errorf("option %s value %q: %w", k, rv, err)
		}
		if !ok {
			return fmt.Errorf("option %q has no value (expected %s=value)", k, k)
		}
		if err := setOption(c, p, k, v); err != nil {
			return err
		}
	}
	return nil
}

// setOption sets the option named k to v.
func setOption(c *Config, p Protocol, k, v string) error {
	bad := func(want string) error {
		return fmt.Errorf("option %s: invalid value %q: expected %s", k, v, want)
	}
	boolean := func(dst *bool) error {
		switch strings.ToLower(v) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return bad("true or false")
		}
		return nil
	}
	millis := func(dst *time.Duration, min int64) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min || n > int64(1<<62)/int64(time.Millisecond) {
			if min < 0 {
				return bad("a number of milliseconds, or -1")
			}
			return bad("a number of milliseconds, 0 or more")
		}
		if n < 0 {
			*dst = -1
		} else {
			*dst = time.Duration(n) * time.Millisecond
		}
		return nil
	}
	attempts := func(dst *int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return bad("a count, or -1 for no limit")
		}
		*dst = n
		return nil
	}
	switch strings.ToLower(k) {
	case "randomize":
		return boolean(&c.Randomize)
	case "initialreconnectdelay":
		return millis(&c.InitialReconnectDelay, 0)
	case "maxreconnectdelay":
		return millis(&c.MaxReconnectDelay, 0)
	case "useexponentialbackoff":
		return boolean(&c.UseExponentialBackOff)
	case "backoffmultiplier":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 1 && f <= 1e6) { // NaN too
			return bad("a number of 1 or more")
		}
		c.BackOffMultiplier = f
	case "maxreconnectattempts":
		return attempts(&c.MaxReconnectAttempts)
	case "startupmaxreconnectattempts":
		return attempts(&c.StartupMaxReconnectAttempts)
	case "timeout":
		return millis(&c.Timeout, -1)
	case "prioritybackup":
		return boolean(&c.PriorityBackup)
	case "priorityuris":
		c.PriorityURIs = nil
		for _, m := range strings.Split(v, ",") {
			m = strings.TrimSpace(m)
			if m == "" {
				return bad("a comma-separated list of broker URIs")
			}
			b, err := parseMember(m)
			if err != nil {
				return fmt.Errorf("option %s: %w", k, err)
			}
			if b.Protocol != p {
				return fmt.Errorf("option %s: broker %q speaks %s, the list %s", k, m, b.Protocol, p)
			}
			c.PriorityURIs = append(c.PriorityURIs, b)
		}
	case "updateurissupported":
		return boolean(&c.UpdateURIsSupported)
	default:
		return fmt.Errorf("unknown failover option %q (value %q); known: randomize, initialReconnectDelay, maxReconnectDelay, "+
			"useExponentialBackOff, backOffMultiplier, maxReconnectAttempts, startupMaxReconnectAttempts, timeout, "+
			"priorityBackup, priorityURIs, updateURIsSupported", k, v)
	}
	return nil
}
