package main

import (
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

func parseConsume(t *testing.T, args ...string) (*consumeOptions, error) {
	t.Helper()
	o := &consumeOptions{}
	cmd := newConsumeCommand(o)
	if err := cmd.ParseFlags(args); err != nil {
		return o, err
	}
	return o, o.validate(cmd)
}

func TestConsumeFlags(t *testing.T) {
	o, err := parseConsume(t)
	wantErr(t, err, "")
	if o.ackMode != stomp.AckAuto || o.count != 0 || o.print != "body" || o.timeout != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseConsume(t, "--ack", "client-individual", "-n", "5", "--timeout", "2s", "--prefetch", "10")
	wantErr(t, err, "")
	if o.ackMode != stomp.AckClientIndividual || o.count != 5 || o.timeout != 2*time.Second || o.prefetch != 10 {
		t.Fatalf("parsed: %+v", o)
	}
	_, err = parseConsume(t, "-d", "/topic/t", "--durable", "sub1", "--client-id", "c1")
	wantErr(t, err, "")

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--ack", "manual"}, "--ack"},
		{[]string{"-n", "-1"}, "--count"},
		{[]string{"--prefetch", "-1"}, "--prefetch"},
		{[]string{"--timeout", "-1s"}, "--timeout"},
		{[]string{"-d", "/topic/t", "--durable", "s"}, "--client-id"},
		{[]string{"-d", "/queue/q", "--durable", "s", "--client-id", "c"}, "/topic/"},
		{[]string{"--print", "json"}, "--print"},
		{[]string{"--selector", "a\nb"}, "line break"},
		{[]string{"--url", "stomp+ssl://h:1"}, `"stomp+ssl"`},
	} {
		_, err := parseConsume(t, tc.args...)
		wantErr(t, err, tc.err)
	}
}
