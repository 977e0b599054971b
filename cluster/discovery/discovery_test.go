package discovery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestBeaconCodec(t *testing.T) {
	t.Parallel()
	self := Peer{Name: "broker-1", URI: "amqp://10.0.0.1:5672"}
	b := EncodeBeacon("default", self, false)
	if want := "default.ActiveMQ-4.alive.%broker-1%amqp://10.0.0.1:5672"; string(b) != want {
		t.Fatalf("beacon = %q, want %q", b, want)
	}
	p, isDead, ok := DecodeBeacon("default", b)
	if !ok || isDead || p != self {
		t.Fatalf("decode = %+v %v %v", p, isDead, ok)
	}
	p, isDead, ok = DecodeBeacon("default", EncodeBeacon("default", self, true))
	if !ok || !isDead || p != self {
		t.Fatalf("decode dead = %+v %v %v", p, isDead, ok)
	}
	// An ActiveMQ 5 broker's beacon, as it sends it.
	p, _, ok = DecodeBeacon("default", []byte("default.ActiveMQ-4.alive.%localhost%tcp://host:61616"))
	if !ok || p.Name != "localhost" || p.URI != "tcp://host:61616" {
		t.Fatalf("ActiveMQ beacon = %+v %v", p, ok)
	}
	for _, bad := range []string{
		"other.ActiveMQ-4.alive.%a%amqp://x:1", // another group
		"default.ActiveMQ-4.sleeping.%a%amqp://x:1",
		"default.ActiveMQ-4.alive.a%amqp://x:1",
		"default.ActiveMQ-4.alive.%a",
		"default.ActiveMQ-4.alive.%a%",
		"", "\x00\xff",
	} {
		if _, _, ok := DecodeBeacon("default", []byte(bad)); ok {
			t.Errorf("DecodeBeacon(%q) accepted", bad)
		}
	}
}

func FuzzDecodeBeacon(f *testing.F) {
	f.Add([]byte("default.ActiveMQ-4.alive.%a%amqp://x:1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, isDead, ok := DecodeBeacon("default", b)
		if !ok {
			return
		}
		if got := EncodeBeacon("default", p, isDead); string(got) != string(b) {
			t.Fatalf("re-encoded %q as %q", b, got)
		}
	})
}

func TestParseStatic(t *testing.T) {
	t.Parallel()
	got, err := ParseStatic("static:(amqp://a:5672, amqp://b:5673)")
	if err != nil || strings.Join(got, " ") != "amqp://a:5672 amqp://b:5673" {
		t.Fatalf("ParseStatic = %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"static:amqp://a:1":      "write static:(uri,uri,...)",
		"static:()":              "lists no URI",
		"static:(amqp://a)":      `"amqp://a" is not a peer URI`,
		"multicast://default":    "is not a static: discovery URI",
		"static:(10.0.0.1:5672)": "is not a peer URI",
	} {
		if _, err := ParseStatic(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseStatic(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseMulticast(t *testing.T) {
	t.Parallel()
	m, err := ParseMulticast("multicast://default")
	if err != nil || m.Address != DefaultAddress || m.Group != DefaultGroup || m.TTL != 1 || m.Interval != DefaultInterval {
		t.Fatalf("default = %+v, %v", m, err)
	}
	m, err = ParseMulticast("multicast://239.1.2.3:7000?group=prod&timeToLive=2&keepAliveInterval=100")
	if err != nil || m.Address != "239.1.2.3:7000" || m.Group != "prod" || m.TTL != 2 || m.Interval != 100*time.Millisecond {
		t.Fatalf("custom = %+v, %v", m, err)
	}
	for in, want := range map[string]string{
		"multicast://default?ttl=2":               `unknown option "ttl"`,
		"multicast://default?timeToLive=0":        "timeToLive",
		"multicast://239.1.2.3":                   "host:port or default",
		"static:(amqp://a:1)":                     "not a multicast:// discovery URI",
		"multicast://default?keepAliveInterval=x": "keepAliveInterval",
	} {
		if _, err := ParseMulticast(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMulticast(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var got []Event
	done := make(chan error)
	go func() {
		done <- Static{URIs: []string{"amqp://a:1", "amqp://b:2"}}.Run(ctx, func(e Event) { got = append(got, e) })
	}()
	cancel()
	<-done
	if len(got) != 2 || got[0].Kind != Up || got[1].Peer.URI != "amqp://b:2" {
		t.Fatalf("events = %+v", got)
	}
}

// netnsEnv marks the child test process that runs inside the namespace.
const netnsEnv = "MQGATE_DISCOVERY_NETNS_CHILD"

// TestMulticastInNamespace runs real multicast discovery inside a network
// namespace that it creates, with only a loopback interface, so that no
// beacon can leave the machine. It needs root and iproute2; elsewhere it
// is skipped.
func TestMulticastInNamespace(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		t.Skip("inside the namespace: the child runs TestMulticastChild")
	}
	ip, err := exec.LookPath("ip")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("multicast discovery test needs root and iproute2 (ip netns) to run in its own network namespace")
	}
	ns := fmt.Sprintf("mqgate-disc-%d", os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (%v: %s); multicast discovery not tested", err, out)
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
	cmd := exec.Command(ip, "netns", "exec", ns, os.Args[0], "-test.run", "^TestMulticastChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMulticastChild") {
		t.Fatalf("child in namespace %s: %v\n%s", ns, err, out)
	}
}

// TestMulticastChild is the part of TestMulticastInNamespace that runs in
// the namespace: two brokers find each other, a clean stop is seen at once
// (dead beacon), a silent one after its missed beats.
func TestMulticastChild(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		t.Skip("runs only inside TestMulticastInNamespace's namespace")
	}
	mk := func(name string) *Multicast {
		return &Multicast{Interface: "lo", Interval: 50 * time.Millisecond, MissedBeats: 4,
			Self: Peer{Name: name, URI: "amqp://127.0.0.1:" + name}}
	}
	events := make(chan Event, 16)
	ctxA, stopA := context.WithCancel(context.Background())
	defer stopA()
	doneA := make(chan error, 1)
	go func() { doneA <- mk("1").Run(ctxA, func(e Event) { events <- e }) }()

	// b and a find each other; a sees b.
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- mk("2").Run(ctxB, func(Event) {}) }()
	expect(t, events, Up, "amqp://127.0.0.1:2")

	// A clean stop sends a dead beacon.
	stopB()
	<-doneB
	expect(t, events, Down, "amqp://127.0.0.1:2")

	// Another group is ignored; a broker that stops beaconing without a dead
	// beacon is down after its missed beats.
	other := mk("3")
	other.Group = "other"
	ctxC, stopC := context.WithCancel(context.Background())
	go func() { _ = other.Run(ctxC, func(Event) {}) }()
	defer stopC()
	silent := mk("4")
	silent.Interval = time.Hour // one beacon at start, then silence
	ctxD, stopD := context.WithCancel(context.Background())
	defer stopD()
	go func() { _ = silent.Run(ctxD, func(Event) {}) }()
	expect(t, events, Up, "amqp://127.0.0.1:4")
	expect(t, events, Down, "amqp://127.0.0.1:4")
	select {
	case e := <-events:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

func expect(t *testing.T, events <-chan Event, kind Kind, uri string) {
	t.Helper()
	select {
	case e := <-events:
		if e.Kind != kind || e.Peer.URI != uri {
			t.Fatalf("event %s %s, want %s %s", e.Kind, e.Peer.URI, kind, uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s event for %s", kind, uri)
	}
}
