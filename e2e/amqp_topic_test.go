package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"
)

// amqpDurableExists reports whether the broker holds the durable
// subscription name of client.
func amqpDurableExists(b *broker, client, name string) bool {
	for _, s := range b.gw.Broker().Stats() {
		if s.Name == "sub://"+client+":"+name {
			return true
		}
	}
	return false
}

// TestAMQPTopicFanOut: every receiver of a topic gets every message
// published after it attached; a plain address with the topic capability
// names the same topic as topic://.
func TestAMQPTopicFanOut(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	topic := uniq("amqp.topic")
	_, s1 := amqpClient(t, addr, nil)
	_, s2 := amqpClient(t, addr, nil)
	r1 := amqpReceiver(t, s1, "topic://"+topic, &amqp.ReceiverOptions{Credit: 10})
	r2 := amqpReceiver(t, s2, topic, &amqp.ReceiverOptions{Credit: 10, SourceCapabilities: []string{"topic"}})
	_, sp := amqpClient(t, addr, nil)
	snd := amqpSender(t, sp, topic, &amqp.SenderOptions{TargetCapabilities: []string{"topic"}})
	amqpSendText(t, snd, "t1", "t2", "t3")
	for _, r := range []*amqp.Receiver{r1, r2} {
		if got := amqpRecvText(t, r, 3); !slices.Equal(got, []string{"t1", "t2", "t3"}) {
			t.Fatalf("%s got %q", r.Address(), got)
		}
	}
	// The message's to says it came from the topic.
	amqpSendText(t, snd, "t4")
	m := amqpRecv(t, r1)
	if m.Properties == nil || m.Properties.To == nil || *m.Properties.To != "topic://"+topic {
		t.Fatalf("to %+v", m.Properties)
	}
	if v := m.Annotations["x-opt-jms-dest"]; v != int8(1) {
		t.Fatalf("x-opt-jms-dest %#v, want 1 (topic)", v)
	}
	amqpAccept(t, r1, m)
}

// TestAMQPDurableSubscription: a durable subscription (container-id +
// link name, durable terminus, expiry never) keeps the messages published
// while its connection is gone, hands them over on re-attach, and is
// removed when the link is detached with closed=true.
func TestAMQPDurableSubscription(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	topic := "topic://" + uniq("amqp.news")
	client := uniq("amqp-durable-client")
	durable := &amqp.ReceiverOptions{
		Name:               "sub1",
		Credit:             10,
		SourceDurability:   amqp.DurabilityUnsettledState,
		SourceExpiryPolicy: amqp.ExpiryPolicyNever,
	}
	c1, s1 := amqpClient(t, addr, &amqp.ConnOptions{ContainerID: client})
	amqpReceiver(t, s1, topic, durable)
	if !amqpDurableExists(b, client, "sub1") {
		t.Fatal("no durable subscription after attach")
	}
	// Gone without closing the link: the subscription stays.
	if err := c1.Close(); err != nil {
		t.Fatalf("closing the connection: %v", err)
	}
	_, sp := amqpClient(t, addr, nil)
	snd := amqpSender(t, sp, topic, nil)
	amqpSendText(t, snd, "while away 1", "while away 2")
	eventually(t, waitTimeout, func() bool {
		for _, s := range b.gw.Broker().Stats() {
			if s.Name == "sub://"+client+":sub1" {
				return s.Ready == 2 && s.Consumers == 0
			}
		}
		return false
	}, func() string { return "the durable subscription does not hold the 2 messages" })

	_, s2 := amqpClient(t, addr, &amqp.ConnOptions{ContainerID: client})
	r2 := amqpReceiver(t, s2, topic, durable)
	if got := amqpRecvText(t, r2, 2); !slices.Equal(got, []string{"while away 1", "while away 2"}) {
		t.Fatalf("resumed subscription got %q", got)
	}
	// Closed: removed.
	if err := r2.Close(amqpCtx(t)); err != nil {
		t.Fatalf("closing the receiver: %v", err)
	}
	if amqpDurableExists(b, client, "sub1") {
		t.Fatal("the durable subscription is still there after detach with closed=true")
	}
	amqpSendText(t, snd, "after unsubscribe")
	r3 := amqpReceiver(t, s2, topic, &amqp.ReceiverOptions{Name: "sub1", Credit: -1,
		SourceDurability: amqp.DurabilityUnsettledState, SourceExpiryPolicy: amqp.ExpiryPolicyNever})
	amqpExpectNone(t, r3) // a new subscription: nothing published before it
	_ = r3.Close(amqpCtx(t))
}

// TestAMQPDurableSubscriptionInUse: a second link for the same durable
// subscription is refused with amqp:resource-locked while the first is
// attached.
func TestAMQPDurableSubscriptionInUse(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	topic := "topic://" + uniq("amqp.locked")
	opts := &amqp.ReceiverOptions{Name: "only", SourceDurability: amqp.DurabilityConfiguration, SourceExpiryPolicy: amqp.ExpiryPolicyNever}
	_, s1 := amqpClient(t, addr, &amqp.ConnOptions{ContainerID: "amqp-locked"})
	amqpReceiver(t, s1, topic, opts)
	_, s2 := amqpClient(t, addr, &amqp.ConnOptions{ContainerID: "amqp-locked"})
	_, err := s2.NewReceiver(amqpCtx(t), topic, opts)
	if c := amqpCondition(err); c != amqp.ErrCondResourceLocked {
		t.Fatalf("second attach: %v (condition %q), want amqp:resource-locked", err, c)
	}
}

// TestAMQPRequestReply: the requester receives on a dynamic node (a
// temporary queue) and names it in reply-to; the responder answers there;
// the node goes when the requester's link closes.
func TestAMQPRequestReply(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	service := uniq("amqp.service")
	_, rs := amqpClient(t, addr, nil)
	requests := amqpReceiver(t, rs, service, &amqp.ReceiverOptions{Credit: 5})
	replier := amqpSender(t, rs, "", nil)

	_, cs := amqpClient(t, addr, nil)
	replies := amqpReceiver(t, cs, "", &amqp.ReceiverOptions{DynamicAddress: true, Credit: 5})
	replyTo := replies.Address()
	if !strings.HasPrefix(replyTo, "temp-queue://") {
		t.Fatalf("dynamic address %q", replyTo)
	}
	req := amqpSender(t, cs, service, nil)
	for i, q := range []string{"ping", "ping again"} {
		amqpSend(t, req, &amqp.Message{Value: q, Properties: &amqp.MessageProperties{
			MessageID: uint64(100 + i), ReplyTo: &replyTo,
		}})
	}
	for range 2 {
		m := amqpRecv(t, requests)
		if m.Properties == nil || m.Properties.ReplyTo == nil || *m.Properties.ReplyTo != replyTo {
			t.Fatalf("request reply-to %+v, want %q", m.Properties, replyTo)
		}
		amqpSend(t, replier, &amqp.Message{Value: "pong: " + m.Value.(string), Properties: &amqp.MessageProperties{
			To: m.Properties.ReplyTo, CorrelationID: m.Properties.MessageID,
		}})
		amqpAccept(t, requests, m)
	}
	for i, want := range []string{"pong: ping", "pong: ping again"} {
		m := amqpRecv(t, replies)
		if m.Value != want || m.Properties == nil || m.Properties.CorrelationID != uint64(100+i) {
			t.Fatalf("reply %v correlation %v, want %q and %d", m.Value, m.Properties, want, 100+i)
		}
		amqpAccept(t, replies, m)
	}
	// Another connection may not consume from it.
	_, os := amqpClient(t, addr, nil)
	if _, err := os.NewReceiver(amqpCtx(t), replyTo, nil); amqpCondition(err) != amqp.ErrCondUnauthorizedAccess {
		t.Fatalf("another connection attached to the temporary queue: %v", err)
	}
	if err := replies.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	err := replier.Send(amqpCtx(t), &amqp.Message{Value: "late", Properties: &amqp.MessageProperties{To: &replyTo}}, nil)
	if c := amqpCondition(err); c != amqp.ErrCondNotFound {
		t.Fatalf("sending to a deleted temporary queue: %v (condition %q), want amqp:not-found", err, c)
	}
	_ = b
}
