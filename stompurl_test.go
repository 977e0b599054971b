package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
)

func TestParseBrokerURL(t *testing.T) {
	tests := []struct {
		in        string
		addr      string
		login     string
		passcode  string
		errSubstr string // "" = no error
		scheme    bool   // error wraps errUnsupportedScheme
	}{
		{in: "stomp://127.0.0.1:61613", addr: "127.0.0.1:61613"},
		{in: "tcp://broker.example:61614", addr: "broker.example:61614"},
		{in: "TCP://Broker:1234", addr: "Broker:1234"},
		{in: "stomp+nio://h:5", addr: "h:5"},
		{in: "localhost:61613", addr: "localhost:61613"},
		{in: "localhost", addr: "localhost:61613"},
		{in: "  10.0.0.1:7  ", addr: "10.0.0.1:7"},
		{in: "stomp://h", addr: "h:61613"},
		{in: "stomp://:61613", addr: "127.0.0.1:61613"},
		{in: "stomp://h:61613/", addr: "h:61613"},
		{in: "tcp://h:61613?wireFormat.maxFrameSize=1000", addr: "h:61613"},
		{in: "stomp://[::1]:61613", addr: "[::1]:61613"},
		{in: "[::1]:9", addr: "[::1]:9"},
		{in: "::1", addr: "[::1]:61613"},
		{in: "stomp://admin:secret@h:1", addr: "h:1", login: "admin", passcode: "secret"},
		{in: "stomp://guest@h:1", addr: "h:1", login: "guest"},

		{in: "", errSubstr: "empty"},
		{in: "failover:(tcp://a:61613,tcp://b:61613)", errSubstr: `"failover"`, scheme: true},
		{in: "FAILOVER:tcp://a:1", errSubstr: `"failover"`, scheme: true},
		{in: "discovery:(multicast://default)", errSubstr: `"discovery"`, scheme: true},
		{in: "amqp://h:5672", errSubstr: `"amqp"`, scheme: true},
		{in: "amqps://h:5671", errSubstr: `"amqps"`, scheme: true},
		{in: "ssl://h:61617", errSubstr: `"ssl"`, scheme: true},
		{in: "stomp+ssl://h:61612", errSubstr: `"stomp+ssl"`, scheme: true},
		{in: "ws://h:61614", errSubstr: `"ws"`, scheme: true},
		{in: "http://h", errSubstr: `"http"`, scheme: true},
		{in: "h:notaport", errSubstr: "invalid port"},
		{in: "h:0", errSubstr: "invalid port"},
		{in: "h:65536", errSubstr: "invalid port"},
		{in: "stomp://h:99999", errSubstr: "invalid port"},
		{in: "stomp://h:1/queue/x", errSubstr: "unexpected path"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := parseBrokerURL(tc.in)
			if tc.errSubstr != "" {
				if err == nil {
					t.Fatalf("parseBrokerURL(%q) = %+v, want error containing %q", tc.in, u, tc.errSubstr)
				}
				if !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("parseBrokerURL(%q) error %q, want it to contain %q", tc.in, err, tc.errSubstr)
				}
				if got := errors.Is(err, errUnsupportedScheme); got != tc.scheme {
					t.Fatalf("errors.Is(err, errUnsupportedScheme) = %v, want %v (err %q)", got, tc.scheme, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBrokerURL(%q): %v", tc.in, err)
			}
			if u.Addr != tc.addr || u.Login != tc.login || u.Passcode != tc.passcode || u.Scheme != "stomp" {
				t.Fatalf("parseBrokerURL(%q) = %+v, want addr %q login %q passcode %q", tc.in, u, tc.addr, tc.login, tc.passcode)
			}
		})
	}
}

func TestConnFlagsResolve(t *testing.T) {
	c := connFlags{URL: "stomp://u:p@h:1", Host: "/"}
	got, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got != (stompTarget{Addr: "h:1", Login: "u", Passcode: "p", Host: "/"}) {
		t.Fatalf("resolve() = %+v", got)
	}
	c.Login, c.Passcode, c.Host = "admin", "pw", "vh"
	got, err = c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got != (stompTarget{Addr: "h:1", Login: "admin", Passcode: "pw", Host: "vh"}) {
		t.Fatalf("flags must override the URL: resolve() = %+v", got)
	}
}

// TestDiscoveryURLSelectsFailoverClient: produce and consume take
// ActiveMQ's discovery URLs through the failover client, with the URI's
// options, and report a bad one naming the part at fault.
func TestDiscoveryURLSelectsFailoverClient(t *testing.T) {
	for in, want := range map[string]bool{
		"discovery:(multicast://default)": true, " DISCOVERY://(static:(stomp://a:1))": true,
		"failover:(tcp://a:1)": true, "amqp://h": true, "stomp://h:1": false, "h:1": false,
	} {
		if got := usesFailoverClient(in); got != want {
			t.Errorf("usesFailoverClient(%q) = %v, want %v", in, got, want)
		}
	}
	c := connFlags{URL: "discovery:(multicast://239.255.2.3:6155?group=prod&interface=lo)?protocol=stomp&initialReconnectDelay=100", Host: "/"}
	_, u, err := c.resolveClient()
	if err != nil {
		t.Fatalf("resolveClient: %v", err)
	}
	if u == nil || u.Discovery == nil || u.Discovery.Multicast.Group != "prod" || u.Protocol != failover.STOMP ||
		u.Config.InitialReconnectDelay != 100*time.Millisecond {
		t.Fatalf("resolveClient = %+v", u)
	}
	if o := c.failoverOptions(u, false, io.Discard); o.Host != "/" {
		t.Fatalf("a STOMP discovery URL gets the virtual host: %+v", o)
	}
	for url, want := range map[string]string{
		"discovery:(multicast://default?ttl=3)":        `unknown option "ttl"`,
		"discovery:(static:(stomp://a:1,amqp://b:2))":  "mixes stomp and amqp",
		"discovery:(multicast://default)?protocol=xmp": `"xmp"`,
	} {
		c := connFlags{URL: url}
		if _, _, err := c.resolveClient(); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--url: ") {
			t.Errorf("resolveClient(%q): %v, want an error on --url containing %q", url, err, want)
		}
	}
}

// TestProduceDiscoveryURL: produce through discovery:(static:(...)) of
// two brokers sends to the first, and after it closes to the second.
func TestProduceDiscoveryURL(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			a, b := startCLIBroker(t), startCLIBroker(t)
			aAddr, bAddr := cliBrokerAddr(a, proto), cliBrokerAddr(b, proto)
			url := fmt.Sprintf("discovery:(static:(%s://%s,%s://%s))?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50",
				proto, aAddr, proto, bAddr)
			o, err := parseProduce(t, "--url", url, "-d", "/queue/cli.discovery", "--stdin", "--persistent")
			wantErr(t, err, "")
			in, feed := io.Pipe()
			stderr := &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- o.run(context.Background(), in, stderr) }()
			fmt.Fprintln(feed, "first")
			waitFor(t, func() bool { r, _ := queueDepth(a, "cli.discovery"); return r == 1 }, "1 message on the first broker")
			closeCLIBroker(t, a)
			fmt.Fprintln(feed, "second")
			feed.Close()
			select {
			case err := <-done:
				wantErr(t, err, "")
			case <-time.After(30 * time.Second):
				t.Fatal("produce did not finish")
			}
			out := stderr.String()
			for _, want := range []string{
				"connected to " + proto + "://" + aAddr,
				"failover: " + proto + "://" + aAddr + " -> " + proto + "://" + bAddr,
				"sent 2 messages to /queue/cli.discovery",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("stderr lacks %q:\n%s", want, out)
				}
			}
			if r, _ := queueDepth(b, "cli.discovery"); r != 1 {
				t.Fatalf("the second broker holds %d messages, want 1", r)
			}
		})
	}
}
