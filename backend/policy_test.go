package backend

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestPolicyMostSpecificWins(t *testing.T) {
	b := New(Options{Policies: []Policy{
		{Destination: "queue://>", DLQ: "any"},
		{Destination: "queue://orders.>", DLQ: "orders-rest"},
		{Destination: "queue://orders.>", DLQ: "orders-rest-second"}, // a tie: the first listed wins
		{Destination: "queue://orders.*", DLQ: "orders-one"},
		{Destination: "queue://orders.eu.*", DLQ: "orders-eu"},
		{Destination: "queue://orders.eu", DLQ: "orders-eu-exact"},
		{Destination: "queue://*.eu", DLQ: "star-eu"},
		{Destination: "topic://prices.*", DLQ: "prices"},
		{Destination: "temp-queue://>", DLQ: "temps"},
	}})
	defer b.Close()
	cases := []struct {
		dest Destination
		want string
	}{
		{q("orders.eu"), "orders-eu-exact"},    // an exact name beats every pattern
		{q("orders.us"), "orders-one"},         // '*' (fixed length) beats '>' with as many literals
		{q("orders.eu.fr"), "orders-eu"},       // more literal elements win
		{q("orders.us.ny"), "orders-rest"},     // the first of two equal entries
		{q("shop.eu"), "star-eu"},              // "*.eu" has one literal, ">" none
		{q("orders"), "any"},                   // "orders.>" needs one more element
		{tp("prices.eu"), "prices"},            // topic entries apply to topics only
		{q("prices.us"), "any"},                // and queue entries to queues
		{tp("other"), ""},                      // no entry: the broker's settings
		{Destination{TempQueue, "x"}, "temps"}, // temporary destinations have their own kind
	}
	for _, c := range cases {
		got := ""
		if p := b.policyEntry(c.dest); p != nil {
			got = p.DLQ
		}
		if got != c.want {
			t.Errorf("%s: policy %q, want %q", c.dest, got, c.want)
		}
	}
}

func TestPolicyRedeliveryLimitAndDLQ(t *testing.T) {
	b := New(Options{MaxRedeliveries: 6, Policies: []Policy{
		{Destination: "queue://orders.>", MaxRedeliveries: ptr(1), DLQ: "orders.DLQ"},
	}})
	defer b.Close()
	fail := func(d Destination, times int, opts SubscribeOptions) {
		t.Helper()
		opts.Dest, opts.Credit = d, 10
		s, c := sub(t, b, opts)
		defer s.Close()
		for range times {
			if err := s.Settle(c.next(t).Tag, Failed); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The policy's limit (1): the second failure dead-letters, to the
	// policy's DLQ.
	pub(t, b, q("orders.new"), "o")
	fail(q("orders.new"), 2, SubscribeOptions{})
	if r, _ := b.QueueDepth(q("orders.DLQ")); r != 1 {
		t.Fatalf("orders.DLQ holds %d after two failures with the policy's limit of 1", r)
	}
	if r, _ := b.QueueDepth(q("ActiveMQ.DLQ")); r != 0 {
		t.Fatal("the broker's DLQ was used instead of the policy's")
	}
	// Another queue keeps the broker's limit (6).
	pub(t, b, q("other"), "x")
	fail(q("other"), 2, SubscribeOptions{})
	if r, _ := b.QueueDepth(q("other")); r != 1 {
		t.Fatal("a queue no policy matches used the policy's limit")
	}
	// The subscription's own limit beats the policy's.
	pub(t, b, q("orders.kept"), "k")
	fail(q("orders.kept"), 2, SubscribeOptions{MaxRedeliveries: ptr(5)})
	if r, _ := b.QueueDepth(q("orders.kept")); r != 1 {
		t.Fatal("activemq.maximumRedeliveries on the subscription did not override the policy")
	}
	// orders.DLQ matches "orders.>" but is a dead-letter queue: what is
	// rejected there goes to the broker's DLQ, not back into itself.
	s, c := sub(t, b, SubscribeOptions{Dest: q("orders.DLQ"), Credit: 10})
	d := c.next(t)
	if v, _ := d.Msg.Prop("originalDestination"); v != "queue://orders.new" {
		t.Fatalf("dead letter's originalDestination %v", v)
	}
	s.Settle(d.Tag, Rejected)
	if r, _ := b.QueueDepth(q("ActiveMQ.DLQ")); r != 1 {
		t.Fatal("a message rejected in a policy's DLQ did not go to the broker's DLQ")
	}
}

func TestPolicyRedeliveryDelay(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, Policies: []Policy{
		{Destination: "queue://slow", RedeliveryDelay: ptr(time.Hour)},
		{Destination: "queue://backoff", RedeliveryDelay: ptr(time.Minute), BackOffMultiplier: ptr(2.0), MaxRedeliveryDelay: ptr(3 * time.Minute)},
	}})
	defer b.Close()
	// The policy delays the redelivery by an hour: nothing comes back now.
	pub(t, b, q("slow"), "s")
	s, c := sub(t, b, SubscribeOptions{Dest: q("slow"), Credit: 10})
	s.Settle(c.next(t).Tag, Failed)
	c.none(t)
	if r, i := b.QueueDepth(q("slow")); r != 1 || i != 0 {
		t.Fatalf("slow holds %d+%d, want the delayed message waiting", r, i)
	}
	s.Close()
	// activemq.redeliveryDelay on the subscription overrides the policy.
	zero := time.Duration(0)
	s2, c2 := sub(t, b, SubscribeOptions{Dest: q("slow"), Credit: 10, RedeliveryDelay: &zero})
	defer s2.Close()
	pub(t, b, q("slow"), "t") // "s" still waits out its hour
	d := c2.next(t)
	s2.Settle(d.Tag, Failed)
	if got := c2.next(t); string(got.Msg.Body) != "t" || !got.Redelivered() {
		t.Fatalf("with a zero override got %q redelivered=%v, want t at once", got.Msg.Body, got.Redelivered())
	}
	// Back-off and its cap come from the policy too: the third failure
	// waits min(1m*2*2, 3m).
	pub(t, b, q("backoff"), "b")
	s4, c4 := sub(t, b, SubscribeOptions{Dest: q("backoff"), Credit: 10})
	defer s4.Close()
	c4.next(t)
	e := &entry{msg: &Message{}, deliveries: 3}
	before := time.Now()
	s4.q.mu.Lock()
	s4.delayLocked(e)
	s4.q.mu.Unlock()
	if got := time.UnixMilli(e.notBefore).Sub(before); got < 3*time.Minute-time.Second || got > 3*time.Minute+time.Second {
		t.Fatalf("third redelivery delayed %v, want the policy's cap of 3m", got)
	}
	e.deliveries = 2
	s4.q.mu.Lock()
	s4.delayLocked(e)
	s4.q.mu.Unlock()
	if got := time.UnixMilli(e.notBefore).Sub(before); got < 2*time.Minute-time.Second || got > 2*time.Minute+time.Second {
		t.Fatalf("second redelivery delayed %v, want 2m (1m backed off by 2)", got)
	}
}

func TestPolicyPrioritizedMessagesOff(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, Policies: []Policy{
		{Destination: "queue://fifo.>", PrioritizedMessages: ptr(false)},
		{Destination: "queue://fifo.prio", PrioritizedMessages: ptr(true)},
	}})
	defer b.Close()
	order := func(d Destination) string {
		for i, p := range []uint8{1, 9, 4, 9, 0} {
			pubMsg(t, b, &Message{Dest: d, Body: []byte(fmt.Sprint(i)), Priority: p})
		}
		s, c := sub(t, b, SubscribeOptions{Dest: d, Credit: 100, AutoAck: true})
		defer s.Close()
		var got []string
		for range 5 {
			got = append(got, string(c.next(t).Msg.Body))
		}
		return fmt.Sprint(got)
	}
	if got := order(q("fifo.a")); got != "[0 1 2 3 4]" {
		t.Fatalf("with prioritized messages off: %v, want publish order", got)
	}
	if got := order(q("fifo.prio")); got != "[1 3 2 0 4]" {
		t.Fatalf("with the more specific entry turning it on: %v, want priority order", got)
	}
	if got := order(q("plain")); got != "[1 3 2 0 4]" {
		t.Fatalf("without a policy: %v, want priority order (the default)", got)
	}
}

func TestPolicyTopicSubscription(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1, Policies: []Policy{
		{Destination: "topic://prices.>", MaxRedeliveries: ptr(0), DLQ: "prices.DLQ"},
	}})
	defer b.Close()
	s, c := sub(t, b, SubscribeOptions{Dest: tp("prices.eu"), Credit: 10})
	defer s.Close()
	pub(t, b, tp("prices.eu"), "p")
	s.Settle(c.next(t).Tag, Failed)
	if r, _ := b.QueueDepth(q("prices.DLQ")); r != 1 {
		t.Fatal("a topic subscriber's failed delivery did not follow the topic policy")
	}
}

func TestValidatePolicies(t *testing.T) {
	err := ValidatePolicies([]Policy{
		{Destination: "queue://ok.>", MaxRedeliveries: ptr(3)},
		{Destination: "orders"},
		{Destination: "queue://a.>.b"},
		{Destination: "queue://x", MaxRedeliveries: ptr(-2), RedeliveryDelay: ptr(-time.Second),
			BackOffMultiplier: ptr(0.5), MaxRedeliveryDelay: ptr(time.Duration(0)), DLQ: "dlq.*"},
	})
	want := map[string]bool{
		"1 Destination": true, "2 Destination": true, "3 MaxRedeliveries": true, "3 RedeliveryDelay": true,
		"3 BackOffMultiplier": true, "3 MaxRedeliveryDelay": true, "3 DLQ": true,
	}
	got := map[string]bool{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var pe *PolicyError
		if !errors.As(e, &pe) {
			t.Fatalf("%v is not a *PolicyError", e)
		}
		got[fmt.Sprint(pe.Index, " ", pe.Field)] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems %v, want %v\n%v", got, want, err)
	}
	if err := ValidatePolicies([]Policy{{Destination: "topic://prices.*", DLQ: "prices.DLQ"}}); err != nil {
		t.Fatal(err)
	}
	// New skips an invalid entry rather than applying it.
	b := New(Options{MaxRedeliveries: -1, Policies: []Policy{{Destination: "queue://a", MaxRedeliveries: ptr(-5)}}})
	defer b.Close()
	if b.policyEntry(q("a")) != nil {
		t.Fatal("an invalid policy was kept")
	}
}
