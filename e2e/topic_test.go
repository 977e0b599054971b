package e2e

import (
	"slices"
	"testing"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// durableName is the SUBSCRIBE/UNSUBSCRIBE header of an ActiveMQ durable
// topic subscription.
func durableName(name string) func(*frame.Frame) error {
	return stomp.SubscribeOpt.Header("activemq.subscriptionName", name)
}

// clientID is the CONNECT header that names a client (durable
// subscriptions belong to it).
func clientID(id string) func(*stomp.Conn) error {
	return stomp.ConnOpt.Header("client-id", id)
}

// TestTopicFanOut: every subscriber gets every message published after it
// subscribed, in order; a late subscriber gets only what came later.
func TestTopicFanOut(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("news")
	var early []*stomp.Subscription
	for range 3 {
		early = append(early, subscribe(t, b.dial(t), topic, stomp.AckAuto))
	}
	prod := b.dial(t)
	first := publishN(t, prod, topic, "a", 5)
	late := subscribe(t, b.dial(t), topic, stomp.AckAuto)
	second := publishN(t, prod, topic, "b", 5)
	all := append(slices.Clone(first), second...)
	for i, s := range early {
		if got := recvBodies(t, s, len(all)); !slices.Equal(got, all) {
			t.Errorf("subscriber %d got %q, want %q", i, got, all)
		}
	}
	if got := recvBodies(t, late, len(second)); !slices.Equal(got, second) {
		t.Errorf("late subscriber got %q, want %q", got, second)
	}
	// A topic keeps nothing for subscribers to come.
	send(t, prod, topic, "last")
	after := subscribe(t, b.dial(t), topic, stomp.AckAuto)
	send(t, prod, topic, "after")
	expectBody(t, after, "after")
}

// TestTopicClientAck: topic subscribers may use client acks too.
func TestTopicClientAck(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("acked")
	s1 := subscribe(t, b.dial(t), topic, stomp.AckClientIndividual)
	s2 := subscribe(t, b.dial(t), topic, stomp.AckClient)
	want := publishN(t, b.dial(t), topic, "t", 3)
	for _, s := range []*stomp.Subscription{s1, s2} {
		if got := recvBodies(t, s, 3); !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", s.AckMode(), got, want)
		}
	}
}

// TestTopicDurableSubscription: a durable subscriber (client-id on
// CONNECT, activemq.subscriptionName on SUBSCRIBE) gets, when it comes
// back, what was published while it was away.
func TestTopicDurableSubscription(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("dur")
	id, name := uniq("client"), "sub1"
	prod := b.dial(t)

	c := b.dial(t, clientID(id))
	s := subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	send(t, prod, topic, "while here")
	ack(t, expectBody(t, s, "while here"))
	barrier(t, c)
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	away := publishN(t, prod, topic, "away", 3)

	c = redial(t, b, clientID(id))
	s = subscribe(t, c, topic, backlogAck, durableName(name))
	if got := recvBodies(t, s, 3); !slices.Equal(got, away) {
		t.Fatalf("back from away got %q, want %q", got, away)
	}
	send(t, prod, topic, "back")
	ack(t, expectBody(t, s, "back"))

	// A non-durable subscriber of the same client id gets nothing old.
	other := subscribe(t, c, topic, stomp.AckAuto)
	send(t, prod, topic, "new")
	expectBody(t, other, "new")
	ack(t, expectBody(t, s, "new"))
}

// TestTopicDurableUnacknowledgedKept: what a durable subscriber received
// but did not ack is redelivered when it comes back.
func TestTopicDurableUnacknowledgedKept(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("durunack")
	id, name := uniq("client"), "keep"
	c := b.dial(t, clientID(id))
	s := subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	send(t, b.dial(t), topic, "unacked")
	expectBody(t, s, "unacked")
	c.MustDisconnect()
	c = redial(t, b, clientID(id))
	s = subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	m := expectBody(t, s, "unacked")
	if m.Header.Get("redelivered") != "true" {
		t.Errorf("redelivered header %q, want true", m.Header.Get("redelivered"))
	}
	ack(t, m)
}

// TestTopicDurableUnsubscribe: UNSUBSCRIBE with activemq.subscriptionName
// removes the durable subscription: nothing is kept for it any more.
// mqgate accepts this on the active subscription; ActiveMQ 5.17 answers it
// with ERROR "Durable consumer is in use" and wants the inactive form of
// the next test (both checked against ActiveMQ 5.17.2).
func TestTopicDurableUnsubscribe(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("unsub")
	id, name := uniq("client"), "gone"
	prod := b.dial(t)
	c := b.dial(t, clientID(id))
	s := subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	unsubscribe(t, s, durableName(name))
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	send(t, prod, topic, "nobody keeps this")

	c = redial(t, b, clientID(id))
	s = subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	send(t, prod, topic, "marker")
	ack(t, expectBody(t, s, "marker"))
}

// TestTopicDurableUnsubscribeWhileInactive: as in ActiveMQ, a client may
// remove its durable subscription without resubscribing: UNSUBSCRIBE with
// activemq.subscriptionName (and an id it never subscribed) after
// connecting with the same client-id.
func TestTopicDurableUnsubscribeWhileInactive(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	topic := "/topic/" + uniq("inactive")
	id, name := uniq("client"), "old"
	c := b.dial(t, clientID(id))
	subscribe(t, c, topic, stomp.AckClientIndividual, durableName(name))
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	prod := b.dial(t)
	send(t, prod, topic, "kept until unsubscribed")

	r := dialRaw(t, b.addr)
	for {
		// The client-id is free once the old connection is cleaned up.
		r.send("CONNECT", "", "accept-version", "1.2", "host", "localhost", "client-id", id)
		f, err := r.readFrame(waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if f.Command == "CONNECTED" {
			break
		}
		r = dialRaw(t, b.addr)
	}
	r.send("UNSUBSCRIBE", "", "id", "whatever", "activemq.subscriptionName", name, "receipt", "u")
	r.expectReceipt("u")
	r.send("SUBSCRIBE", "", "destination", topic, "id", "again", "ack", "client-individual", "activemq.subscriptionName", name, "receipt", "s")
	r.expectReceipt("s")
	send(t, prod, topic, "marker")
	m := r.expect("MESSAGE")
	if string(m.Body) != "marker" {
		t.Fatalf("resubscribed durable got %q first, want only what came after UNSUBSCRIBE", m.Body)
	}
}

// TestTopicDurableNeedsClientID: a durable SUBSCRIBE without client-id on
// CONNECT is an ERROR.
func TestTopicDurableNeedsClientID(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	c.send("SUBSCRIBE", "", "destination", "/topic/x", "id", "1", "activemq.subscriptionName", "d")
	c.expectError()
	c.expectClosed()
}

// redial connects with opts, retrying while the broker still holds the
// client-id of a connection that just went away (see
// TestDisconnectReceiptAfterCleanup for why that can happen at all).
func redial(t testing.TB, b *broker, opts ...func(*stomp.Conn) error) *stomp.Conn {
	t.Helper()
	var c *stomp.Conn
	eventually(t, waitTimeout, func() bool {
		var err error
		c, err = b.tryDial(opts...)
		return err == nil
	})
	t.Cleanup(func() { _ = c.MustDisconnect() })
	return c
}
