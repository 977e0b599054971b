package main

import (
	"strings"
	"testing"
)

// parseProduce parses args into fresh produce options and validates them.
func parseProduce(t *testing.T, args ...string) (*produceOptions, error) {
	t.Helper()
	o := &produceOptions{}
	cmd := newProduceCommand(o)
	if err := cmd.ParseFlags(args); err != nil {
		return o, err
	}
	return o, o.validate(cmd)
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if substr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error = %v, want one containing %q", err, substr)
	}
}

func TestProduceFlags(t *testing.T) {
	o, err := parseProduce(t)
	wantErr(t, err, "")
	if o.destination != "/queue/test" || o.count != 1 || o.receipt || o.target.Addr != "127.0.0.1:61613" || o.target.Host != "/" {
		t.Fatalf("defaults: %+v", o)
	}

	o, err = parseProduce(t, "--persistent")
	wantErr(t, err, "")
	if !o.receipt {
		t.Fatal("--persistent must imply --receipt")
	}
	o, err = parseProduce(t, "--persistent", "--receipt=false")
	wantErr(t, err, "")
	if o.receipt {
		t.Fatal("an explicit --receipt=false must win over --persistent")
	}

	o, err = parseProduce(t, "--header", "a=1", "--header", "b=x=y", "-d", "/topic/t", "--url", "tcp://h:2")
	wantErr(t, err, "")
	if len(o.headerPairs) != 2 || o.headerPairs[1] != [2]string{"b", "x=y"} || o.target.Addr != "h:2" {
		t.Fatalf("headers %v target %+v", o.headerPairs, o.target)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--count", "0"}, "--count"},
		{[]string{"--size", "-1"}, "--size"},
		{[]string{"--stdin", "--body", "x"}, "--body and --stdin"},
		{[]string{"--stdin", "-n", "3"}, "--count and --stdin"},
		{[]string{"--size", "10", "--body", "x"}, "--size"},
		{[]string{"--header", "novalue"}, "key=value"},
		{[]string{"--header", "=v"}, "empty key"},
		{[]string{"--header", "destination=/queue/x"}, "set by mqgate"},
		{[]string{"--header", "Content-Length=3"}, "set by mqgate"},
		{[]string{"-d", "queue/x"}, "--destination"},
		{[]string{"-d", ""}, "--destination"},
		{[]string{"--url", "amqp://h:5672"}, `"amqp"`},
		{[]string{"--url", "failover:(tcp://a:1)"}, `"failover"`},
	} {
		_, err := parseProduce(t, tc.args...)
		wantErr(t, err, tc.err)
	}
}

func TestGeneratedBody(t *testing.T) {
	if got := string(generatedBody(3, 10, 0)); got != "message 3 of 10" {
		t.Fatalf("got %q", got)
	}
	if got := string(generatedBody(3, 10, 20)); got != "message 3 of 10....." {
		t.Fatalf("got %q", got)
	}
	if got := string(generatedBody(3, 10, 4)); got != "mess" {
		t.Fatalf("got %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := formatRate(29478.4); got != "29,478" {
		t.Errorf("formatRate = %q", got)
	}
}
