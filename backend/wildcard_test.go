package backend

import "testing"

func TestWildcardMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{"*.b", "a.b", true},
		{"*.b", "a.c", false},
		{">", "a", true},
		{"a.*.c", "a.x.c", true},
		{"a.*.c", "a.x.d", false},
		{"a.b", "a.b", true},
	}
	for _, c := range cases {
		if got := wildcardMatch(c.pattern, c.name); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestWildcardTopicSubscription(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	_, star := sub(t, b, SubscribeOptions{Dest: tp("prices.*"), Credit: 100, AutoAck: true})
	_, rest := sub(t, b, SubscribeOptions{Dest: tp("prices.>"), Credit: 100, AutoAck: true})
	_, exact := sub(t, b, SubscribeOptions{Dest: tp("prices.eu"), Credit: 100, AutoAck: true})
	pub(t, b, tp("prices.eu"), "eu")
	pub(t, b, tp("prices.eu.fr"), "fr")
	pub(t, b, tp("other.eu"), "no")
	if got := string(star.next(t).Msg.Body); got != "eu" {
		t.Fatalf("prices.* got %q", got)
	}
	star.none(t)
	if a, c := string(rest.next(t).Msg.Body), string(rest.next(t).Msg.Body); a != "eu" || c != "fr" {
		t.Fatalf("prices.> got %q %q", a, c)
	}
	rest.none(t)
	if got := string(exact.next(t).Msg.Body); got != "eu" {
		t.Fatalf("prices.eu got %q", got)
	}
	exact.none(t)
	// A durable wildcard subscription keeps what matches while away.
	opts := SubscribeOptions{Dest: tp("orders.>"), Credit: 10, ClientID: "c", DurableName: "all"}
	s, _ := sub(t, b, opts)
	s.Close()
	pub(t, b, tp("orders.new"), "kept")
	_, d := sub(t, b, opts)
	if got := string(d.next(t).Msg.Body); got != "kept" {
		t.Fatalf("durable wildcard got %q", got)
	}
}

func TestVirtualTopic(t *testing.T) {
	b := New(Options{MaxRedeliveries: -1})
	defer b.Close()
	// Two consumers share queue A; queue B gets its own copy; a plain
	// topic subscriber still gets one too.
	_, a1 := sub(t, b, SubscribeOptions{Dest: q("Consumer.A.VirtualTopic.orders"), Credit: 100, AutoAck: true})
	_, a2 := sub(t, b, SubscribeOptions{Dest: q("Consumer.A.VirtualTopic.orders"), Credit: 100, AutoAck: true})
	_, bq := sub(t, b, SubscribeOptions{Dest: q("Consumer.B.VirtualTopic.orders"), Credit: 100, AutoAck: true})
	_, ts := sub(t, b, SubscribeOptions{Dest: tp("VirtualTopic.orders"), Credit: 100, AutoAck: true})
	for i := range 4 {
		pub(t, b, tp("VirtualTopic.orders"), string(rune('0'+i)))
	}
	if len(a1)+len(a2) != 4 || len(a1) == 0 || len(a2) == 0 {
		t.Fatalf("queue A consumers got %d and %d, want 4 shared", len(a1), len(a2))
	}
	if len(bq) != 4 || len(ts) != 4 {
		t.Fatalf("queue B got %d, topic subscriber %d; want 4 each", len(bq), len(ts))
	}
	for _, bad := range []string{"Consumer.A.orders", "Consumer.VirtualTopic.x", "Consumer.A.VirtualTopic."} {
		if _, ok := virtualTopicOf(bad); ok {
			t.Errorf("%q taken for a virtual topic consumer queue", bad)
		}
	}
}
