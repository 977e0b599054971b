package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
)

// amqpNeedProton skips t unless Debian's python3-qpid-proton imports in
// /usr/bin/python3.
func amqpNeedProton(t *testing.T) {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import proton; print('.'.join(map(str, proton.VERSION)))").CombinedOutput()
	if err != nil {
		t.Skipf("Qpid Proton is not available: %s -c 'import proton' failed: %v: %s (install Debian's python3-qpid-proton)", debianPython, err, bytes.TrimSpace(out))
	}
	t.Logf("qpid-proton %s", bytes.TrimSpace(out))
}

// amqpRunProton runs one scenario of testdata/amqp_proton_client.py and
// returns its JSON result, failing t if the script failed.
func amqpRunProton(t *testing.T, addr, scenario, name string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, filepath.Join("testdata", "amqp_proton_client.py"), addr, scenario, name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("proton %s: no JSON result (%v, run: %v)\nstdout: %s\nstderr: %s", scenario, err, runErr, stdout.String(), stderr.String())
	}
	if res["ok"] != true {
		t.Fatalf("proton %s failed: %v\n%v\nstderr: %s", scenario, res["error"], res["trace"], stderr.String())
	}
	return res
}

// TestAMQPProtonQueue: Proton sends and receives on a queue; headers,
// subject and typed application-properties survive.
func TestAMQPProtonQueue(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	b, addr := amqpStartBroker(t)
	name := uniq("py.queue")
	res := amqpRunProton(t, addr, "queue", name)
	want := []string{"proton 0", "proton 1", "proton 2", "proton 3", "proton 4"}
	if got := strs(res["bodies"]); !slices.Equal(got, want) {
		t.Errorf("bodies %q, want %q", got, want)
	}
	if got := strs(res["subjects"]); !slices.Equal(got, []string{"s0", "s1", "s2", "s3", "s4"}) {
		t.Errorf("subjects %q", got)
	}
	props, _ := res["props"].([]any)
	for i, p := range props {
		m, _ := p.(map[string]any)
		if m["i"] != float64(i) || m["tag"] != "py" {
			t.Errorf("message %d properties %v", i, m)
		}
	}
	b.waitDepth(t, name, 0, 0)
}

// TestAMQPProtonTopic: two Proton receivers of a topic get everything.
func TestAMQPProtonTopic(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	_, addr := amqpStartBroker(t)
	res := amqpRunProton(t, addr, "topic", uniq("py.topic"))
	want := []string{"news 0", "news 1", "news 2"}
	for _, k := range []string{"r1", "r2"} {
		if got := strs(res[k]); !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", k, got, want)
		}
	}
}

// TestAMQPProtonRequestReply: a Proton requester with a dynamic receiver
// is answered by a go-amqp responder through reply-to, with the
// correlation-id echoed.
func TestAMQPProtonRequestReply(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	_, addr := amqpStartBroker(t)
	service := uniq("py.service")
	_, s := amqpClient(t, addr, nil)
	requests := amqpReceiver(t, s, service, &amqp.ReceiverOptions{Credit: 10})
	replier := amqpSender(t, s, "", nil)
	served := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for range 3 {
			m, err := requests.Receive(ctx, nil)
			if err != nil {
				served <- err
				return
			}
			reply := &amqp.Message{Value: "reply to " + m.Value.(string), Properties: &amqp.MessageProperties{
				To: m.Properties.ReplyTo, CorrelationID: m.Properties.CorrelationID}}
			if err := replier.Send(ctx, reply, nil); err != nil {
				served <- err
				return
			}
			if err := requests.AcceptMessage(ctx, m); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	res := amqpRunProton(t, addr, "requestreply", service)
	if err := <-served; err != nil {
		t.Fatalf("responder: %v", err)
	}
	if rt, _ := res["reply_to"].(string); !strings.HasPrefix(rt, "temp-queue://") {
		t.Errorf("dynamic address %q", rt)
	}
	replies, _ := res["replies"].([]any)
	if len(replies) != 3 {
		t.Fatalf("replies %v", replies)
	}
	for i, r := range replies {
		m, _ := r.(map[string]any)
		if m["body"] != "reply to request "+itoa(i) || m["correlation_id"] != "corr-"+itoa(i) {
			t.Errorf("reply %d: %v", i, m)
		}
	}
}

// TestAMQPProtonDurable: a Proton durable subscriber detaches without
// closing, messages wait for it, it resumes and then closes the
// subscription.
func TestAMQPProtonDurable(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	b, addr := amqpStartBroker(t)
	name := uniq("py.durable")
	res := amqpRunProton(t, addr, "durable", name)
	if got := strs(res["bodies"]); !slices.Equal(got, []string{"kept 1", "kept 2"}) {
		t.Errorf("resumed subscription got %q", got)
	}
	eventually(t, waitTimeout, func() bool { return !amqpDurableExists(b, "py-"+name, "sub") },
		func() string { return "the durable subscription is still there after Proton closed it" })
}

// TestAMQPProtonTransactions: Proton's transactions: a committed send
// lands, a rolled-back one does not, a transactional accept removes the
// message it settles.
func TestAMQPProtonTransactions(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	b, addr := amqpStartBroker(t)
	name := uniq("py.txn")
	res := amqpRunProton(t, addr, "txn", name)
	want := []string{"declared send", "committed send", "declared abort", "aborted abort", "declared receive", "message c1", "committed receive"}
	if got := strs(res["events"]); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	b.waitDepth(t, name, 1, 0)
	_, s := amqpClient(t, addr, nil)
	r := amqpReceiver(t, s, name, &amqp.ReceiverOptions{Credit: -1})
	if got := amqpRecvTextCredit(t, r, 1); got[0] != "c2" {
		t.Fatalf("left on the queue: %q, want c2", got)
	}
	amqpExpectNone(t, r)
}

// amqpRecvTextCredit is amqpRecvText for a receiver with manual credit.
func amqpRecvTextCredit(t testing.TB, r *amqp.Receiver, n int) []string {
	t.Helper()
	if err := r.IssueCredit(uint32(n)); err != nil {
		t.Fatal(err)
	}
	return amqpRecvText(t, r, n)
}
