package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/cluster/discovery"
)

func TestParseDiscoveryURI(t *testing.T) {
	type want struct {
		proto     Protocol
		brokers   []Broker
		group     string // multicast only
		address   string
		iface     string
		stompPort string
		cfg       func(*Config)
	}
	tests := []struct {
		in string
		want
	}{
		{"discovery:(multicast://default)", want{proto: AMQP, group: "default", address: discovery.DefaultAddress}},
		{"DISCOVERY://(multicast://default)?initialReconnectDelay=100", want{proto: AMQP, group: "default", address: discovery.DefaultAddress,
			cfg: func(c *Config) { c.InitialReconnectDelay = 100 * time.Millisecond }}},
		{"discovery:(multicast://239.255.2.4:6156?group=prod&interface=lo)?protocol=stomp&stompPort=1234&randomize=false",
			want{proto: STOMP, group: "prod", address: "239.255.2.4:6156", iface: "lo", stompPort: "1234",
				cfg: func(c *Config) { c.Randomize = false }}},
		{"discovery:(multicast://default?networkInterface=eth0)?group=billing&reconnectDelay=10&discovered.connectionTimeout=5",
			want{proto: AMQP, group: "billing", address: discovery.DefaultAddress, iface: "eth0"}},
		{"discovery:multicast://default?group=x", want{proto: AMQP, group: "x", address: discovery.DefaultAddress}},
		{"discovery:(static:(stomp://a:61613,stomp://b:61614))", want{proto: STOMP, brokers: []Broker{stompB("a:61613"), stompB("b:61614")}}},
		{"discovery:(static:(tcp://u:p@a:1))?maxReconnectAttempts=3", want{proto: STOMP,
			brokers: []Broker{{Protocol: STOMP, Addr: "a:1", Login: "u", Passcode: "p"}}, cfg: func(c *Config) { c.MaxReconnectAttempts = 3 }}},
		{"discovery:(static:(amqp://a:5672,amqp://b:5673))", want{proto: AMQP, brokers: []Broker{amqpB("a:5672"), amqpB("b:5673")}}},
		{"discovery:(static:(amqp://a:5672,amqp://b:5673))?protocol=stomp", want{proto: STOMP, stompPort: DefaultSTOMPPort,
			brokers: []Broker{stompB("a:61613"), stompB("b:61613")}}},
		{"discovery:(static:(amqp://a:5672,stomp://b:7))?protocol=stomp&stompPort=9", want{proto: STOMP, stompPort: "9",
			brokers: []Broker{stompB("a:9"), stompB("b:7")}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			d := u.Discovery
			if d == nil || !u.Failover || u.Protocol != tc.proto || !slices.Equal(u.Brokers, tc.brokers) {
				t.Fatalf("ParseURI = %+v (discovery %+v), want protocol %s brokers %v", u, d, tc.proto, tc.brokers)
			}
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if !equalConfig(u.Config, cfg) {
				t.Errorf("config %+v, want %+v", u.Config, cfg)
			}
			if tc.stompPort != "" && d.STOMPPort != tc.stompPort {
				t.Errorf("stompPort %q, want %q", d.STOMPPort, tc.stompPort)
			}
			if tc.address != "" {
				m := d.Multicast
				if m == nil || m.Group != tc.group || m.Address != tc.address || m.Interface != tc.iface {
					t.Fatalf("multicast %+v, want group %q address %q interface %q", m, tc.group, tc.address, tc.iface)
				}
			} else if d.Multicast != nil || d.Static == nil {
				t.Fatalf("want a static agent, got %+v", d)
			}
			// String renders a URI that parses to the same thing.
			again, err := ParseURI(u.String())
			if err != nil || again.Protocol != u.Protocol || !slices.Equal(stripLogins(again.Brokers), stripLogins(u.Brokers)) ||
				!equalConfig(again.Config, u.Config) {
				t.Errorf("String() = %q parses to %+v, %v", u.String(), again, err)
			}
		})
	}
}

func stripLogins(bs []Broker) []Broker {
	out := slices.Clone(bs)
	for i := range out {
		out[i].Login, out[i].Passcode = "", ""
	}
	return out
}

func equalConfig(a, b Config) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestParseDiscoveryURIErrors(t *testing.T) {
	for in, want := range map[string][]string{
		"discovery:(multicast://default":                            {"no closing parenthesis"},
		"discovery:()":                                              {"no discovery agent"},
		"discovery:":                                                {"no discovery agent"},
		"discovery:(multicast://default)x":                          {`unexpected "x"`},
		"discovery:(redis://r:6379)":                                {`discovery agent "redis://r:6379"`},
		"discovery:(multicast://default?bogus=1)":                   {"discovery agent", `unknown option "bogus"`},
		"discovery:(multicast://nohost)":                            {"discovery agent", "host:port or default"},
		"discovery:(multicast://default?timeToLive=0)":              {"timeToLive", `"0"`},
		"discovery:(multicast://default)?protocol=openwire":         {"protocol", `"openwire"`, "stomp or amqp"},
		"discovery:(multicast://default)?stompPort=0":               {"stompPort", `"0"`},
		"discovery:(multicast://default)?amqpPort=x":                {"amqpPort", `"x"`},
		"discovery:(multicast://default)?group=":                    {"group", "empty"},
		"discovery:(multicast://default)?bogus=1":                   {`unknown failover option "bogus"`},
		"discovery:(multicast://default)?timeout=soon":              {"timeout", `"soon"`},
		"discovery:(multicast://default)?randomize":                 {`"randomize" has no value`},
		"discovery:(static:(stomp://a:1,amqp://b:2))":               {"mixes stomp and amqp"},
		"discovery:(static:(stomp://a))":                            {`"stomp://a" is not a peer URI`},
		"discovery:(static:())":                                     {"lists no URI"},
		"discovery:(static:stomp://a:1)":                            {"static:(uri,uri,...)"},
		"discovery:(static:(ssl://a:1))":                            {`"ssl"`, "TLS"},
		"discovery:(static:(stomp://a:1))?group=g":                  {"group applies to multicast"},
		"discovery:(static:(stomp://a:1))?priorityURIs=amqp://a:1":  {"priorityURIs", "speaks amqp"},
		"discovery:(static:(amqp://a:1))?protocol=stomp&stompPort=": {"stompPort", `""`},
	} {
		t.Run(in, func(t *testing.T) {
			u, err := ParseURI(in)
			if err == nil {
				t.Fatalf("ParseURI(%q) = %+v, want an error", in, u)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDiscoveredBroker: how a discovered URI becomes an address in the
// client's protocol.
func TestDiscoveredBroker(t *testing.T) {
	d := &Discovery{STOMPPort: "61613", AMQPPort: "5672"}
	for _, tc := range []struct {
		p    Protocol
		uri  string
		want string // "" = skipped
	}{
		{AMQP, "amqp://10.0.0.1:5673", "amqp://10.0.0.1:5673"},
		{AMQP, "amqp+nio://h:1", "amqp://h:1"},
		{STOMP, "amqp://10.0.0.1:5673", "stomp://10.0.0.1:61613"},
		{STOMP, "stomp://h:7", "stomp://h:7"},
		{STOMP, "tcp://activemq:61616", "stomp://activemq:61613"}, // ActiveMQ's OpenWire beacon
		{AMQP, "tcp://activemq:61616", "amqp://activemq:5672"},
		{STOMP, "amqp://[::1]:5672", "stomp://[::1]:61613"},
		{AMQP, "amqps://h:5671", ""},
		{STOMP, "ssl://h:61617", ""},
		{STOMP, "garbage", ""},
		{STOMP, "amqp://:5672", ""},
	} {
		b, err := d.broker(tc.p, tc.uri)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s %s: %v, want it skipped", tc.p, tc.uri, b)
		case tc.want == "" && !errors.Is(err, errSkipPeer):
			t.Errorf("%s %s: error %v does not wrap errSkipPeer", tc.p, tc.uri, err)
		case tc.want != "" && (err != nil || b.String() != tc.want):
			t.Errorf("%s %s: %v, %v, want %s", tc.p, tc.uri, b, err, tc.want)
		}
	}
}

// chanAgent is a discovery agent fed by the test.
type chanAgent struct {
	events chan discovery.Event
	err    error // returned at once when set
}

func newChanAgent() *chanAgent { return &chanAgent{events: make(chan discovery.Event)} }

func (a *chanAgent) Run(ctx context.Context, fn func(discovery.Event)) error {
	if a.err != nil {
		return a.err
	}
	for {
		select {
		case e := <-a.events:
			fn(e)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send hands e to the Conn's discovery goroutine (and so waits until the
// previous event was applied).
func (a *chanAgent) send(t testing.TB, kind discovery.Kind, uri string) {
	t.Helper()
	select {
	case a.events <- discovery.Event{Kind: kind, Peer: discovery.Peer{URI: uri}}:
	case <-time.After(waitTimeout):
		t.Fatalf("the discovery agent does not take events (%s %s)", kind, uri)
	}
}

// sync returns once every event sent before was applied: the agent
// takes an event only after the previous one's callback returned, and
// this one (a broker never reported up goes down) changes nothing.
func (a *chanAgent) sync(t testing.TB) {
	t.Helper()
	a.send(t, discovery.Down, "amqp://sync.invalid:1")
}

// discoveryURI parses uri and sets agent as its discovery agent.
func discoveryURI(t testing.TB, uri string, agent discovery.Agent) *URI {
	t.Helper()
	u, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	u.Discovery.agent = agent
	return u
}

// dialURITest is dialTest with a parsed URI.
func dialURITest(t testing.TB, u *URI, opts Options) (*Conn, *eventLog, error) {
	t.Helper()
	log := &eventLog{}
	opts.OnFailover = log.add
	opts.Logger = testLogger(t, zerolog.InfoLevel)
	c, err := DialURI(testCtx(t), u, opts)
	if err == nil {
		t.Cleanup(func() { closeConn(t, c) })
	}
	return c, log, err
}

// TestDiscoveryCandidates: with a discovery URI, Dial waits until the
// agent reports a broker; brokers reported later are added, one reported
// down is dropped, except the one in use, which stays until its
// connection fails; the client then fails over to another discovered
// broker and the lost one leaves the list.
func TestDiscoveryCandidates(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		a, b := startBroker(t, false), startBroker(t, false)
		agent := newChanAgent()
		u := discoveryURI(t, "discovery:(multicast://default)?protocol="+string(p)+
			"&randomize=false&initialReconnectDelay=5&maxReconnectDelay=50", agent)

		type dialed struct {
			c   *Conn
			log *eventLog
			err error
		}
		dc := make(chan dialed, 1)
		go func() {
			c, log, err := dialURITest(t, u, Options{})
			dc <- dialed{c, log, err}
		}()
		select {
		case d := <-dc:
			t.Fatalf("Dial returned before any broker was discovered: %v, %v", d.c, d.err)
		case <-time.After(100 * time.Millisecond):
		}
		agent.send(t, discovery.Up, a.uri(p))
		var d dialed
		select {
		case d = <-dc:
		case <-time.After(waitTimeout):
			t.Fatal("Dial did not return once a broker was discovered")
		}
		if d.err != nil {
			t.Fatalf("Dial: %v", d.err)
		}
		c := d.c
		if c.Broker() != a.uri(p) {
			t.Fatalf("connected to %q, want %s", c.Broker(), a.uri(p))
		}
		agent.send(t, discovery.Up, b.uri(p))
		agent.send(t, discovery.Up, "amqps://tls.example:5671") // skipped
		agent.send(t, discovery.Down, a.uri(p))                 // in use: kept
		agent.send(t, discovery.Down, b.uri(p))
		agent.send(t, discovery.Up, "amqp://ignored.invalid:1")
		agent.sync(t)
		want := []string{a.uri(p), b.uri(p)}
		if p == STOMP {
			want = append(want[:1], "stomp://ignored.invalid:61613")
		} else {
			want = append(want[:1], "amqp://ignored.invalid:1")
		}
		if got := c.Brokers(); !slices.Equal(got, want) {
			t.Fatalf("Brokers() = %v, want %v (b dropped, a kept while in use)", got, want)
		}
		agent.send(t, discovery.Down, "amqp://ignored.invalid:1")
		agent.send(t, discovery.Up, b.uri(p))
		agent.send(t, discovery.Up, b.uri(p)) // an Up for a known broker adds nothing
		agent.sync(t)
		if got, want := c.Brokers(), []string{a.uri(p), b.uri(p)}; !slices.Equal(got, want) {
			t.Fatalf("Brokers() = %v, want %v", got, want)
		}

		a.close()
		eventually(t, func() bool { return c.Broker() == b.uri(p) }, func() string {
			return fmt.Sprintf("connected to %q, want %s after a closed", c.Broker(), b.uri(p))
		})
		if got, want := c.Brokers(), []string{b.uri(p)}; !slices.Equal(got, want) {
			t.Fatalf("Brokers() = %v, want %v: a was reported down and then failed", got, want)
		}
		evs := d.log.all()
		if len(evs) != 1 || evs[0].From != a.uri(p) || evs[0].To != b.uri(p) {
			t.Fatalf("events %+v, want one from %s to %s", evs, a.uri(p), b.uri(p))
		}
		if err := c.Send(testCtx(t), "/queue/discovery.candidates", []byte("x"), nil); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
}

// TestDiscoveryStartupLimits: while no broker is discovered Dial gives
// up after startupMaxReconnectAttempts passes, after the URI's timeout, or
// at once when the agent fails.
func TestDiscoveryStartupLimits(t *testing.T) {
	t.Parallel()
	base := "discovery:(multicast://default)?initialReconnectDelay=5&maxReconnectDelay=20"

	_, _, err := dialURITest(t, discoveryURI(t, base+"&startupMaxReconnectAttempts=3", newChanAgent()), Options{})
	if !errors.Is(err, ErrNoBroker) || !containsAll(err.Error(), "after 3 attempt(s)", "none discovered by multicast://default",
		"startupMaxReconnectAttempts=3", "no broker discovered yet") {
		t.Fatalf("Dial with startupMaxReconnectAttempts=3: %v", err)
	}

	start := time.Now()
	_, _, err = dialURITest(t, discoveryURI(t, base+"&timeout=200", newChanAgent()), Options{})
	if !errors.Is(err, ErrTimeout) || !containsAll(err.Error(), "timeout=200") {
		t.Fatalf("Dial with timeout=200: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("Dial gave up after %v, before the timeout", took)
	}

	failing := &chanAgent{err: errors.New("joining 239.255.2.3:6155: no such device")}
	_, _, err = dialURITest(t, discoveryURI(t, base, failing), Options{})
	if !errors.Is(err, ErrNoBroker) || !containsAll(err.Error(), "discovery by multicast://default failed", "no such device") {
		t.Fatalf("Dial with a failing agent: %v", err)
	}
}

// TestDiscoveryStatic: discovery:(static:(...)) connects to the list and
// fails over among its brokers as failover:(...) does.
func TestDiscoveryStatic(t *testing.T) {
	protocols(t, func(t *testing.T, p Protocol) {
		a, b := startBroker(t, false), startBroker(t, false)
		uri := fmt.Sprintf("discovery:(static:(%s,%s))?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50", a.uri(p), b.uri(p))
		c, events := dialTest(t, uri, Options{})
		if c.Broker() != a.uri(p) {
			t.Fatalf("connected to %q, want %s", c.Broker(), a.uri(p))
		}
		a.close()
		eventually(t, func() bool { return events.len() == 1 }, func() string { return fmt.Sprintf("events %+v", events.all()) })
		if e := events.all()[0]; e.From != a.uri(p) || e.To != b.uri(p) {
			t.Fatalf("event %+v, want %s -> %s", e, a.uri(p), b.uri(p))
		}
		if err := c.Send(testCtx(t), "/queue/discovery.static", []byte("x"), nil); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if r, _ := b.depth("discovery.static"); r != 1 {
			t.Fatalf("b holds %d messages, want 1", r)
		}
	})
}

// netnsEnv marks the run of the test binary inside the network namespace
// TestDiscoveryMulticast creates.
const netnsEnv = "MQGATE_FAILOVER_TEST_NETNS"

// TestDiscoveryMulticast runs the multicast part (multicastInNamespace)
// in a network namespace it creates, with only a loopback interface, so
// that no beacon can leave the machine: it re-runs this test binary there
// with `ip netns exec`. Skipped where that cannot be done.
func TestDiscoveryMulticast(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		multicastInNamespace(t)
		return
	}
	ip, err := exec.LookPath("ip")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("multicast discovery needs root and iproute2 to run inside its own network namespace")
	}
	ns := fmt.Sprintf("mqgate-failover-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "lo", "multicast", "on"},
		{"-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", ns, os.Args[0],
		"-test.run", "^TestDiscoveryMulticast$", "-test.v", "-test.count=1", "-test.timeout="+(2*waitTimeout).String())
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDiscoveryMulticast") {
		t.Fatalf("the test inside namespace %s failed (%v):\n%s", ns, err, out)
	}
	t.Logf("inside namespace %s:\n%s", ns, out)
}

// multicastInNamespace: brokers announce themselves with the broker's
// multicast beacons (cluster/discovery, as gateway runs it) on lo; an AMQP
// client finds the first, adds the second when it appears, keeps the
// first after its dead beacon while connected, then fails over to the
// second when the first closes; a STOMP client reaches a broker through
// the stompPort mapping. It refuses to run outside a namespace that has
// only a loopback interface.
func multicastInNamespace(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("interface %s is not loopback: this test sends multicast and must run in its own network namespace", i.Name)
		}
	}
	const group = "failover-test"
	announce := func(b *testBroker) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		m := &discovery.Multicast{Group: group, Interface: "lo", Interval: 50 * time.Millisecond,
			Self: discovery.Peer{Name: b.cfg.Node.ID, URI: b.uri(AMQP)}, Logger: testLogger(t, zerolog.DebugLevel)}
		go func() {
			defer close(done)
			_ = m.Run(ctx, func(discovery.Event) {})
		}()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	a, b := startBroker(t, false), startBroker(t, false)
	stopA := announce(a)
	agentURI := "multicast://" + discovery.DefaultAddress + "?group=" + group + "&interface=lo"

	c, events := dialTest(t, "discovery:("+agentURI+")?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50", Options{})
	if c.Broker() != a.uri(AMQP) {
		t.Fatalf("connected to %q, want %s", c.Broker(), a.uri(AMQP))
	}
	announce(b)
	eventually(t, func() bool { return slices.Contains(c.Brokers(), b.uri(AMQP)) }, func() string {
		return fmt.Sprintf("Brokers() = %v, want %s added", c.Brokers(), b.uri(AMQP))
	})
	stopA() // a dead beacon
	// The dead beacon is applied in order before a later event; wait for
	// one by a broker that appears after it.
	cBroker := startBroker(t, false)
	announce(cBroker)
	eventually(t, func() bool { return slices.Contains(c.Brokers(), cBroker.uri(AMQP)) }, func() string {
		return fmt.Sprintf("Brokers() = %v, want %s added", c.Brokers(), cBroker.uri(AMQP))
	})
	if !slices.Contains(c.Brokers(), a.uri(AMQP)) || c.Broker() != a.uri(AMQP) {
		t.Fatalf("Brokers() = %v, Broker() = %q: the broker in use must stay until it fails", c.Brokers(), c.Broker())
	}
	a.close()
	eventually(t, func() bool { return events.len() == 1 }, func() string { return fmt.Sprintf("events %+v", events.all()) })
	if e := events.all()[0]; e.From != a.uri(AMQP) || e.To != b.uri(AMQP) {
		t.Fatalf("event %+v, want %s -> %s", e, a.uri(AMQP), b.uri(AMQP))
	}
	// Dropped when its connection failed, having announced itself dead
	// (or, had that beacon been lost, once its beacons expire).
	eventually(t, func() bool { return !slices.Contains(c.Brokers(), a.uri(AMQP)) }, func() string {
		return fmt.Sprintf("Brokers() = %v still lists the dead broker %s", c.Brokers(), a.uri(AMQP))
	})

	_, stompPort, _ := net.SplitHostPort(b.stomp)
	sc, _ := dialTest(t, "discovery:("+agentURI+")?protocol=stomp&stompPort="+stompPort, Options{})
	if sc.Broker() != b.uri(STOMP) {
		t.Fatalf("STOMP client connected to %q, want %s (the advertised host, stompPort)", sc.Broker(), b.uri(STOMP))
	}
}
