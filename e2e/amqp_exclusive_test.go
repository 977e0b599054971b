package e2e

import (
	"testing"

	"github.com/Azure/go-amqp"
)

// TestAMQPExclusiveConsumer: a receiver attached with the link property
// exclusive=true owns the queue; a plain receiver attached before it gets
// nothing while it is there, and everything once it detaches.
func TestAMQPExclusiveConsumer(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	_, sess := amqpClient(t, addr, nil)
	q := "queue://" + uniq("amqpexcl")
	plain := amqpReceiver(t, sess, q, &amqp.ReceiverOptions{Credit: -1}) // manual credit
	excl := amqpReceiver(t, sess, q, &amqp.ReceiverOptions{Credit: 10,
		Properties: map[string]any{"exclusive": true}})
	// Both may take messages: plain has credit as well.
	if err := plain.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	snd := amqpSender(t, sess, q, nil)
	amqpSendText(t, snd, "a", "b", "c")
	if got := amqpRecvText(t, excl, 3); len(got) != 3 || got[0] != "a" || got[2] != "c" {
		t.Fatalf("exclusive receiver got %q", got)
	}
	amqpExpectNone(t, plain)
	if err := excl.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	amqpSendText(t, snd, "d")
	if err := plain.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	if got := amqpRecvText(t, plain, 1); got[0] != "d" {
		t.Fatalf("plain receiver got %q after the exclusive one left", got)
	}
}

// TestAMQPConsumerPriority: the link property priority orders consumers
// of a queue: the higher one's credit fills first.
func TestAMQPConsumerPriority(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	_, sess := amqpClient(t, addr, nil)
	q := "queue://" + uniq("amqpprio")
	lo := amqpReceiver(t, sess, q, &amqp.ReceiverOptions{Credit: -1})
	if err := lo.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	hi := amqpReceiver(t, sess, q, &amqp.ReceiverOptions{Credit: -1, Properties: map[string]any{"priority": int32(5)}})
	if err := hi.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	amqpSendText(t, amqpSender(t, sess, q, nil), "a", "b", "c")
	if got := amqpRecvText(t, hi, 2); got[0] != "a" || got[1] != "b" {
		t.Fatalf("priority 5 receiver got %q, want a and b", got)
	}
	if got := amqpRecvText(t, lo, 1); got[0] != "c" {
		t.Fatalf("priority 0 receiver got %q, want c", got)
	}
}
