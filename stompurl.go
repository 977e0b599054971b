package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/mqgate/mqgate/cluster/failover"
)

// defaultStompPort is the port a --url without one gets (ActiveMQ's and
// mqgate's STOMP port).
const defaultStompPort = "61613"

// brokerURL is a parsed --url: where the client commands dial and what they
// speak. Only STOMP over plain TCP is supported today.
type brokerURL struct {
	// Scheme is the normalized scheme: always "stomp" for now (tcp:// and
	// stomp+nio:// are ActiveMQ spellings of the same thing).
	Scheme string
	// Addr is host:port, ready for net.Dial.
	Addr string
	// Login and Passcode come from user:password@ in the URL, if present.
	Login, Passcode string
}

// errUnsupportedScheme is returned (wrapped) by parseBrokerURL for a URL in a
// scheme the client commands do not speak yet.
var errUnsupportedScheme = errors.New("unsupported URL scheme")

// parseBrokerURL parses the --url value. Accepted forms:
//
//	stomp://host:port, tcp://host:port, stomp+nio://host:port, host:port, host
//
// A missing port is 61613 and a missing host 127.0.0.1; user:pass@ gives a
// login and passcode; ActiveMQ-style query options (?a=b) are ignored.
// Schemes it does not take (failover:, discovery:, amqp://, TLS) are an
// error that names the scheme; produce and consume take failover:,
// discovery: and amqp:// URLs through resolveClient.
func parseBrokerURL(raw string) (brokerURL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return brokerURL{}, errors.New("empty broker URL")
	}
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "failover:") {
		return brokerURL{}, fmt.Errorf("%w \"failover\" in %q: this command takes one broker as stomp://host:port (mqgate produce and consume take failover URLs)", errUnsupportedScheme, raw)
	}
	if strings.HasPrefix(lower, "discovery:") {
		return brokerURL{}, fmt.Errorf("%w \"discovery\" in %q: this command takes one broker as stomp://host:port (mqgate produce and consume take discovery URLs)", errUnsupportedScheme, raw)
	}
	i := strings.Index(s, "://")
	if i < 0 {
		// host:port or host.
		addr, err := normalizeHostPort(s)
		if err != nil {
			return brokerURL{}, fmt.Errorf("broker URL %q: %w", raw, err)
		}
		return brokerURL{Scheme: "stomp", Addr: addr}, nil
	}
	scheme := strings.ToLower(s[:i])
	switch scheme {
	case "stomp", "tcp", "stomp+nio", "nio":
	case "amqp", "amqps", "amqp+ssl", "amqp+nio", "amqp+nio+ssl":
		return brokerURL{}, fmt.Errorf("%w %q in %q: AMQP is not supported by this command yet; use stomp://host:port", errUnsupportedScheme, scheme, raw)
	case "ssl", "stomp+ssl", "stomp+nio+ssl", "stomps", "tls":
		return brokerURL{}, fmt.Errorf("%w %q in %q: TLS is not supported by this command yet; use stomp://host:port", errUnsupportedScheme, scheme, raw)
	default:
		return brokerURL{}, fmt.Errorf("%w %q in %q: use stomp://host:port, tcp://host:port or host:port", errUnsupportedScheme, scheme, raw)
	}
	u, err := url.Parse("stomp" + s[i:])
	if err != nil {
		return brokerURL{}, fmt.Errorf("broker URL %q: %w", raw, err)
	}
	if u.Path != "" && u.Path != "/" {
		return brokerURL{}, fmt.Errorf("broker URL %q: unexpected path %q (STOMP destinations go in --destination)", raw, u.Path)
	}
	addr, err := normalizeHostPort(u.Host)
	if err != nil {
		return brokerURL{}, fmt.Errorf("broker URL %q: %w", raw, err)
	}
	b := brokerURL{Scheme: "stomp", Addr: addr}
	if u.User != nil {
		b.Login = u.User.Username()
		b.Passcode, _ = u.User.Password()
	}
	return b, nil
}

// normalizeHostPort fills in the default host and port and checks the port.
func normalizeHostPort(hp string) (string, error) {
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.Count(hp, ":") == 1 || (strings.HasPrefix(hp, "[") && strings.Contains(hp, "]:")) {
		return "", fmt.Errorf("invalid host:port %q: %v", hp, err)
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]")
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return "", fmt.Errorf("invalid host %q", host)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = defaultStompPort
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// usesFailoverClient reports whether produce and consume reach raw through
// the failover client (cluster/failover): a failover: or discovery: URL,
// or an AMQP one.
func usesFailoverClient(raw string) bool {
	s := strings.ToLower(strings.TrimSpace(raw))
	return failover.IsFailoverURI(s) || failover.IsDiscoveryURI(s) ||
		strings.HasPrefix(s, "amqp://") || strings.HasPrefix(s, "amqp+nio://")
}

// clientURLUsage is the --url help of produce and consume.
const clientURLUsage = "broker to connect to: stomp://host:port, tcp://host:port (STOMP, as ActiveMQ writes it), host:port, " +
	"amqp://host:port (AMQP 1.0), or a failover URL as ActiveMQ's, e.g. " +
	"failover:(tcp://a:61613,tcp://b:61613)?randomize=false&maxReconnectAttempts=10 " +
	"(reconnects, resubscribes and resends unconfirmed messages; one line on standard error per failover), " +
	"or a discovery URL as ActiveMQ's: discovery:(multicast://default) (AMQP to the brokers found; add ?protocol=stomp for STOMP) " +
	"or discovery:(static:(stomp://a:61613,stomp://b:61613)); " +
	"user:pass@ in the URL sets --login/--passcode"

// resolveClient is resolve for produce and consume: a failover:,
// discovery: or amqp:// URL gives a failover URI (and a zero target),
// anything else a STOMP target as resolve does.
func (c *connFlags) resolveClient() (stompTarget, *failover.URI, error) {
	if !usesFailoverClient(c.URL) {
		t, err := c.resolve()
		return t, nil, err
	}
	u, err := failover.ParseURI(c.URL)
	if err != nil {
		return stompTarget{}, nil, fmt.Errorf("--url: %w", err)
	}
	return stompTarget{}, u, nil
}

// failoverOptions returns the failover client's options for u: the
// credentials, and the virtual host (--host: its default "/" applies to
// STOMP; AMQP gets it only when given), with one line on stderr per
// failover event.
func (c *connFlags) failoverOptions(u *failover.URI, hostSet bool, stderr io.Writer) failover.Options {
	o := failover.Options{Login: c.Login, Passcode: c.Passcode, OnFailover: failoverLogLine(stderr)}
	if u.Protocol == failover.STOMP || hostSet {
		o.Host = c.Host
	}
	return o
}

// failoverLogLine returns an OnFailover callback that writes one line per
// event to w, for an operator watching from a shell.
func failoverLogLine(w io.Writer) func(failover.Event) {
	return func(e failover.Event) {
		if e.To == "" {
			fmt.Fprintf(w, "failover: lost %s; giving up after %s: %v\n", e.From, roundDuration(e.Took), e.Err)
			return
		}
		cause := ""
		if e.Err != nil {
			cause = " (" + e.Err.Error() + ")"
		}
		fmt.Fprintf(w, "failover: %s -> %s in %s%s; resubscribed %d, resent %d\n",
			e.From, e.To, roundDuration(e.Took), cause, e.Resubscribed, e.Resent)
	}
}

// lockedWriter serializes writes to w: the failover client writes its
// event lines from its own goroutine.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// connFlags are the connection flags every client command takes.
type connFlags struct {
	URL      string
	Login    string
	Passcode string
	Host     string
}

// register adds --url, --login, --passcode and --host to fs.
func (c *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.URL, "url", "stomp://127.0.0.1:61613",
		"broker to connect to: stomp://host:port, tcp://host:port (STOMP, as ActiveMQ writes it) or host:port; user:pass@ in the URL sets --login/--passcode")
	fs.StringVar(&c.Login, "login", "", "STOMP login header (overrides a user in --url)")
	fs.StringVar(&c.Passcode, "passcode", "", "STOMP passcode header (overrides a password in --url)")
	fs.StringVar(&c.Host, "host", "/", "STOMP host header: the virtual host (\"/\" suits ActiveMQ, RabbitMQ and mqgate)")
}

// stompTarget is everything needed to open a STOMP connection.
type stompTarget struct {
	Addr     string
	Login    string
	Passcode string
	Host     string
}

// resolve parses the URL and merges the credentials: flags win over the URL.
func (c *connFlags) resolve() (stompTarget, error) {
	u, err := parseBrokerURL(c.URL)
	if err != nil {
		return stompTarget{}, err
	}
	t := stompTarget{Addr: u.Addr, Login: u.Login, Passcode: u.Passcode, Host: c.Host}
	if c.Login != "" {
		t.Login = c.Login
	}
	if c.Passcode != "" {
		t.Passcode = c.Passcode
	}
	return t, nil
}
