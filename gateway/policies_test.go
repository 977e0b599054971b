package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/config"
)

// TestPoliciesChecked: New converts broker.policies (STOMP prefixes
// included) and reports each bad field as a key error naming the entry.
func TestPoliciesChecked(t *testing.T) {
	three, neg, half := 3, -2, 0.5
	cfg := config.Default()
	cfg.Broker.Policies = []config.PolicyConfig{
		{Destination: "/queue/orders.>", MaxRedeliveries: &three, DLQ: "DLQ.orders"},
		{Destination: "topic://prices.*"},
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.policies) != 2 || g.policies[0].Destination != "queue://orders.>" || *g.policies[0].MaxRedeliveries != 3 ||
		g.policies[0].DLQ != "DLQ.orders" || g.policies[1].Destination != "topic://prices.*" {
		t.Fatalf("policies %+v", g.policies)
	}

	delay := -time.Second
	cfg.Broker.Policies = []config.PolicyConfig{
		{Destination: "orders"},
		{Destination: "queue://a.>.b", MaxRedeliveries: &neg, BackOffMultiplier: &half},
		{MaxRedeliveryDelay: &delay, DLQ: "DLQ.*"},
	}
	_, err = New(cfg)
	if err == nil {
		t.Fatal("bad policies accepted")
	}
	msg := err.Error()
	for _, s := range []string{
		"broker.policies[0].destination", "broker.policies[1].destination", "'>' may only be the last element",
		"broker.policies[1].max_redeliveries", "broker.policies[1].backoff_multiplier",
		"broker.policies[2].destination: missing", "broker.policies[2].max_redelivery_delay", "broker.policies[2].dlq",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
	if n := strings.Count(msg, "broker.policies[2].destination"); n != 1 {
		t.Errorf("the missing destination reported %d times:\n%s", n, msg)
	}
}
