package failover

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func stompB(addr string) Broker { return Broker{Protocol: STOMP, Addr: addr} }
func amqpB(addr string) Broker  { return Broker{Protocol: AMQP, Addr: addr} }

// withCfg returns the default config changed by f.
func withCfg(f func(*Config)) Config {
	c := DefaultConfig()
	f(&c)
	return c
}

func TestParseURI(t *testing.T) {
	single := withCfg(func(c *Config) { c.MaxReconnectAttempts, c.StartupMaxReconnectAttempts = 0, 0 })
	tests := []struct {
		in   string
		want URI
	}{
		{"failover:(stomp://a:61613,stomp://b:61614)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{stompB("a:61613"), stompB("b:61614")}}},
		{"failover:(tcp://a,nio://b,stomp+nio://c:1)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{stompB("a:61613"), stompB("b:61613"), stompB("c:1")}}},
		{"failover:(amqp://a:5672,amqp+nio://b)", URI{Protocol: AMQP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{amqpB("a:5672"), amqpB("b:5672")}}},
		{"FAILOVER://(tcp://a:1)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(), Brokers: []Broker{stompB("a:1")}}},
		{"failover:tcp://a:1,tcp://b:2", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{stompB("a:1"), stompB("b:2")}}},
		{"failover:(a:1, b:2)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{stompB("a:1"), stompB("b:2")}}},
		{"failover:(tcp://a:1,tcp://a:1)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(), Brokers: []Broker{stompB("a:1")}}},
		{"failover:(tcp://u:p@a:1?wireFormat.maxInactivityDuration=0)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{{Protocol: STOMP, Addr: "a:1", Login: "u", Passcode: "p"}}}},
		{"failover:([::1]:7,tcp://[::1]:8)", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(),
			Brokers: []Broker{stompB("[::1]:7"), stompB("[::1]:8")}}},
		{"failover:(tcp://a:1)?", URI{Protocol: STOMP, Failover: true, Config: DefaultConfig(), Brokers: []Broker{stompB("a:1")}}},
		{"failover:(tcp://a:1)?randomize=false&initialReconnectDelay=100&maxReconnectDelay=5000&useExponentialBackOff=FALSE" +
			"&backOffMultiplier=1.5&maxReconnectAttempts=3&startupMaxReconnectAttempts=0&timeout=3000&priorityBackup=true" +
			"&priorityURIs=tcp://a:1,tcp://b:2&updateURIsSupported=false",
			URI{Protocol: STOMP, Failover: true, Brokers: []Broker{stompB("a:1")}, Config: Config{
				Randomize: false, InitialReconnectDelay: 100 * time.Millisecond, MaxReconnectDelay: 5 * time.Second,
				UseExponentialBackOff: false, BackOffMultiplier: 1.5, MaxReconnectAttempts: 3, StartupMaxReconnectAttempts: 0,
				Timeout: 3 * time.Second, PriorityBackup: true, PriorityURIs: []Broker{stompB("a:1"), stompB("b:2")},
				UpdateURIsSupported: false,
			}}},
		{"failover:(tcp://a:1)?MAXRECONNECTATTEMPTS=-1&timeout=-1&initialReconnectDelay=0&priorityURIs=tcp%3A%2F%2Fa%3A1",
			URI{Protocol: STOMP, Failover: true, Brokers: []Broker{stompB("a:1")}, Config: withCfg(func(c *Config) {
				c.InitialReconnectDelay = 0
				c.PriorityURIs = []Broker{stompB("a:1")}
			})}},
		{"stomp://h:1", URI{Protocol: STOMP, Brokers: []Broker{stompB("h:1")}, Config: single}},
		{"tcp://h?ignored=1", URI{Protocol: STOMP, Brokers: []Broker{stompB("h:61613")}, Config: single}},
		{"amqp://u:p@h", URI{Protocol: AMQP, Brokers: []Broker{{Protocol: AMQP, Addr: "h:5672", Login: "u", Passcode: "p"}}, Config: single}},
		{"h:2", URI{Protocol: STOMP, Brokers: []Broker{stompB("h:2")}, Config: single}},
		{"  localhost ", URI{Protocol: STOMP, Brokers: []Broker{stompB("localhost:61613")}, Config: single}},
		{"stomp://:1", URI{Protocol: STOMP, Brokers: []Broker{stompB("127.0.0.1:1")}, Config: single}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseURI(tc.in)
			if err != nil {
				t.Fatalf("ParseURI: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("ParseURI =\n%+v\nwant\n%+v", *got, tc.want)
			}
			// String renders a URI that parses back to the same thing,
			// credentials aside.
			back, err := ParseURI(got.String())
			if err != nil {
				t.Fatalf("ParseURI(String() = %q): %v", got.String(), err)
			}
			strip := func(u *URI) URI {
				c := *u
				c.Brokers = append([]Broker(nil), u.Brokers...)
				for i := range c.Brokers {
					c.Brokers[i].Login, c.Brokers[i].Passcode = "", ""
				}
				return c
			}
			if !reflect.DeepEqual(strip(back), strip(got)) {
				t.Fatalf("String() = %q parses to %+v, want %+v", got.String(), strip(back), strip(got))
			}
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct {
		in     string
		want   []string // substrings of the error
		scheme bool     // wraps ErrUnsupportedScheme
	}{
		{"", []string{"empty"}, false},
		{"   ", []string{"empty"}, false},
		{"failover:(tcp://a:1", []string{"no closing parenthesis"}, false},
		{"failover:(tcp://a:1)x", []string{`unexpected "x"`}, false},
		{"failover:(tcp://a:1)&timeout=1", []string{`unexpected "&timeout=1"`}, false},
		{"failover:tcp://a:1?timeout=5", []string{"parentheses"}, false},
		{"failover:()", []string{"empty broker"}, false},
		{"failover:(tcp://a:1,)", []string{"empty broker"}, false},
		{"failover:", []string{"empty broker"}, false},
		{"failover:(tcp://a:1,amqp://b:2)", []string{"mixes stomp and amqp"}, false},
		{"failover:(amqp://a:1,b:2)", []string{"mixes amqp and stomp"}, false},
		{"failover:(ssl://a:1)", []string{`"ssl"`, "TLS"}, true},
		{"failover:(amqps://a:1)", []string{`"amqps"`, "TLS"}, true},
		{"failover:(ws://a:1)", []string{`"ws"`}, true},
		{"http://a", []string{`"http"`}, true},
		{"stomp+ssl://a:1", []string{`"stomp+ssl"`}, true},
		{"failover:(tcp://a:0)", []string{`invalid port "0"`}, false},
		{"failover:(tcp://a:65536)", []string{`invalid port "65536"`}, false},
		{"h:port", []string{`invalid port "port"`}, false},
		{"failover:(tcp://a:1/queue/x)", []string{`unexpected path "/queue/x"`}, false},
		{"failover:(a/b)", []string{"expected scheme://host:port"}, false},
		{"tcp://a b:1", []string{"broker"}, false},
		{"failover:(tcp://a:1)?randomize=yes", []string{"randomize", `"yes"`, "true or false"}, false},
		{"failover:(tcp://a:1)?randomize", []string{`"randomize" has no value`}, false},
		{"failover:(tcp://a:1)?initialReconnectDelay=-1", []string{"initialReconnectDelay", `"-1"`}, false},
		{"failover:(tcp://a:1)?initialReconnectDelay=1s", []string{"initialReconnectDelay", `"1s"`, "milliseconds"}, false},
		{"failover:(tcp://a:1)?maxReconnectDelay=x", []string{"maxReconnectDelay", `"x"`}, false},
		{"failover:(tcp://a:1)?maxReconnectDelay=99999999999999999999", []string{"maxReconnectDelay", `"99999999999999999999"`}, false},
		{"failover:(tcp://a:1)?useExponentialBackOff=1", []string{"useExponentialBackOff", `"1"`}, false},
		{"failover:(tcp://a:1)?backOffMultiplier=0.5", []string{"backOffMultiplier", `"0.5"`, "1 or more"}, false},
		{"failover:(tcp://a:1)?backOffMultiplier=NaN", []string{"backOffMultiplier", `"NaN"`}, false},
		{"failover:(tcp://a:1)?backOffMultiplier=two", []string{"backOffMultiplier", `"two"`}, false},
		{"failover:(tcp://a:1)?maxReconnectAttempts=-2", []string{"maxReconnectAttempts", `"-2"`, "-1 for no limit"}, false},
		{"failover:(tcp://a:1)?maxReconnectAttempts=many", []string{"maxReconnectAttempts", `"many"`}, false},
		{"failover:(tcp://a:1)?startupMaxReconnectAttempts=1.5", []string{"startupMaxReconnectAttempts", `"1.5"`}, false},
		{"failover:(tcp://a:1)?timeout=-5", []string{"timeout", `"-5"`, "or -1"}, false},
		{"failover:(tcp://a:1)?priorityBackup=on", []string{"priorityBackup", `"on"`}, false},
		{"failover:(tcp://a:1)?priorityURIs=", []string{"priorityURIs", `""`, "comma-separated"}, false},
		{"failover:(tcp://a:1)?priorityURIs=tcp://a:1,,tcp://b:2", []string{"priorityURIs", "comma-separated"}, false},
		{"failover:(tcp://a:1)?priorityURIs=tcp://a:x", []string{"priorityURIs", "invalid port"}, false},
		{"failover:(tcp://a:1)?priorityURIs=amqp://a:1", []string{"priorityURIs", `"amqp://a:1" speaks amqp`}, false},
		{"failover:(tcp://a:1)?priorityURIs=ssl://a:1", []string{"priorityURIs", `"ssl"`}, true},
		{"failover:(tcp://a:1)?updateURIsSupported=", []string{"updateURIsSupported", `""`}, false},
		{"failover:(tcp://a:1)?trackMessages=true", []string{`unknown failover option "trackMessages"`, `"true"`}, false},
		{"failover:(tcp://a:1)?timeout=1&bogus=2", []string{`"bogus"`, `"2"`}, false},
		{"failover:(tcp://a:1)?%zz=1", []string{`option "%zz"`}, false},
		{"failover:(tcp://a:1)?timeout=%zz", []string{"timeout", `"%zz"`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err == nil {
				t.Fatalf("ParseURI(%q) = %+v, want an error", tc.in, u)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, ErrUnsupportedScheme); got != tc.scheme {
				t.Errorf("errors.Is(err, ErrUnsupportedScheme) = %v, want %v (%v)", got, tc.scheme, err)
			}
		})
	}
}

func TestIsFailoverURI(t *testing.T) {
	for in, want := range map[string]bool{
		"failover:(tcp://a)": true, " Failover:x": true, "tcp://a": false, "failover": false, "": false,
	} {
		if got := IsFailoverURI(in); got != want {
			t.Errorf("IsFailoverURI(%q) = %v", in, got)
		}
	}
}
