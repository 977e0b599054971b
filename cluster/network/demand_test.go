package network

import (
	"reflect"
	"testing"

	"github.com/mqgate/mqgate/backend"
)

// TestLearnSplitHorizonAndTTL: a bridge takes the shortest route that
// does not come back through its own broker, one hop further, within the
// TTL, for the destinations it forwards.
func TestLearnSplitHorizonAndTTL(t *testing.T) {
	s := &snapshot{V: 1, Node: "b", Demand: []entry{
		{Dest: "queue://local", Routes: []route{{Hops: 0}}},
		{Dest: "queue://mine", Routes: []route{{Hops: 1, Via: "a"}}},
		{Dest: "queue://both", Routes: []route{{Hops: 1, Via: "a"}, {Hops: 2, Via: "c"}}},
		{Dest: "topic://far", Routes: []route{{Hops: 2, Via: "c"}}},
		{Dest: "queue://mqgate.network.x", Routes: []route{{Hops: 0}}},
		{Dest: "temp-queue://t", Routes: []route{{Hops: 0}}},
		{Dest: "nonsense", Routes: []route{{Hops: 0}}},
	}}
	n := &Network{}
	got := learn(s, "a", 3, n.forwarded)
	want := map[backend.Destination]int{
		{Kind: backend.Queue, Name: "local"}: 1,
		{Kind: backend.Queue, Name: "both"}:  3,
		{Kind: backend.Topic, Name: "far"}:   3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("learn = %v, want %v", got, want)
	}
	if got := learn(s, "a", 1, n.forwarded); len(got) != 1 {
		t.Fatalf("with TTL 1: %v, want only the peer's own consumers", got)
	}
}

func TestIncludedExcluded(t *testing.T) {
	n := &Network{include: parsePatterns([]string{"queue://orders.>", "prices.*"}), exclude: parsePatterns([]string{"/queue/orders.secret"})}
	for _, tc := range []struct {
		d    backend.Destination
		want bool
	}{
		{backend.Destination{Kind: backend.Queue, Name: "orders.eu"}, true},
		{backend.Destination{Kind: backend.Queue, Name: "orders.secret"}, false},
		{backend.Destination{Kind: backend.Topic, Name: "orders.eu"}, false},
		{backend.Destination{Kind: backend.Topic, Name: "prices.eu"}, true},
		{backend.Destination{Kind: backend.Queue, Name: "prices.eu"}, true},
		{backend.Destination{Kind: backend.Queue, Name: "other"}, false},
	} {
		if got := n.forwarded(tc.d); got != tc.want {
			t.Errorf("forwarded(%v) = %v, want %v", tc.d, got, tc.want)
		}
	}
}

func TestAMQPIDRoundTrip(t *testing.T) {
	for s, want := range map[string]any{
		"ID:a-1":                         "ID:a-1",
		"ID:AMQP_ULONG:42":               uint64(42),
		"ID:AMQP_NO_PREFIX:x":            "x",
		"ID:AMQP_STRING:ID:AMQP_ULONG:1": "ID:AMQP_ULONG:1",
		"ID:AMQP_BINARY:01AB":            []byte{0x01, 0xab},
		"plain":                          "plain",
	} {
		if got := amqpID(s); !reflect.DeepEqual(got, want) {
			t.Errorf("amqpID(%q) = %#v, want %#v", s, got, want)
		}
	}
}
