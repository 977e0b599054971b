package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"

	"github.com/mqgate/mqgate/cluster/failover"
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
		{[]string{"--url", "failover:(tcp://a:1)?randomize=maybe"}, `randomize: invalid value "maybe"`},
		{[]string{"--url", "failover:(tcp://a:1"}, "no closing parenthesis"},
	} {
		_, err := parseConsume(t, tc.args...)
		wantErr(t, err, tc.err)
	}
}

// TestConsumeFailover: consume through a failover URL of two brokers
// prints what it gets from the first, moves to the second when the first
// is closed (one line on standard error), and goes on there.
func TestConsumeFailover(t *testing.T) {
	for _, proto := range []string{"stomp", "amqp"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			a, b := startCLIBroker(t), startCLIBroker(t)
			aAddr, bAddr := cliBrokerAddr(a, proto), cliBrokerAddr(b, proto)
			url := fmt.Sprintf("failover:(%s://%s,%s://%s)?randomize=false&initialReconnectDelay=5&maxReconnectDelay=50",
				proto, aAddr, proto, bAddr)
			const dest = "/queue/cli.consume"
			o, err := parseConsume(t, "--url", url, "-d", dest, "-n", "20", "--ack", "client-individual")
			wantErr(t, err, "")
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() { done <- o.run(context.Background(), stdout, stderr) }()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			publish := func(addr string, from, to int) {
				c, err := failover.Dial(ctx, proto+"://"+addr, failover.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(ctx)
				for i := from; i <= to; i++ {
					if err := c.Send(ctx, dest, fmt.Appendf(nil, "m%d", i), nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			publish(aAddr, 1, 10)
			waitFor(t, func() bool { return strings.Count(stdout.String(), "\n") == 10 }, "10 messages printed")
			// All ten acknowledged, so none comes back from elsewhere.
			waitFor(t, func() bool { r, i := queueDepth(a, "cli.consume"); return r == 0 && i == 0 }, "the acks on the first broker")
			closeCLIBroker(t, a)
			waitFor(t, func() bool { return strings.Contains(stderr.String(), "failover: ") }, "the failover line")
			publish(bAddr, 11, 20)
			select {
			case err := <-done:
				wantErr(t, err, "")
			case <-ctx.Done():
				t.Fatal("consume did not finish")
			}
			var want strings.Builder
			for i := 1; i <= 20; i++ {
				fmt.Fprintf(&want, "m%d\n", i)
			}
			if stdout.String() != want.String() {
				t.Fatalf("stdout:\n%s\nwant:\n%s", stdout.String(), want.String())
			}
			errOut := stderr.String()
			for _, w := range []string{
				"connected to " + proto + "://" + aAddr,
				"failover: " + proto + "://" + aAddr + " -> " + proto + "://" + bAddr,
				"resubscribed 1",
				"received 20 messages from " + dest,
			} {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestPrintFailoverMessage: --print headers shows the message's id,
// destination, content type, redelivery and sorted properties.
func TestPrintFailoverMessage(t *testing.T) {
	var sb strings.Builder
	w := bufio.NewWriter(&sb)
	m := &failover.Message{ID: "ID:1", Destination: "/queue/q", ContentType: "text/plain", Redelivered: true,
		Body: []byte("hi"), Props: map[string]any{"b": int64(2), "a": "x"}}
	if err := printFailoverMessage(w, "headers", m); err != nil {
		t.Fatal(err)
	}
	want := "message-id:ID:1\ndestination:/queue/q\ncontent-type:text/plain\nredelivered:true\na:x\nb:2\n\nhi\n"
	if sb.String() != want {
		t.Fatalf("got %q, want %q", sb.String(), want)
	}
}
