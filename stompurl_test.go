package main

import (
	"errors"
	"strings"
	"testing"
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
