package failover

import (
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want []time.Duration
	}{
		{"defaults", DefaultConfig(), []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms}},
		{"capped", withCfg(func(c *Config) { c.MaxReconnectDelay = 50 * ms }), []time.Duration{10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms}},
		{"multiplier", withCfg(func(c *Config) { c.InitialReconnectDelay, c.BackOffMultiplier = 100*ms, 1.5 }),
			[]time.Duration{100 * ms, 150 * ms, 225 * ms}},
		{"flat", withCfg(func(c *Config) { c.UseExponentialBackOff = false; c.InitialReconnectDelay = 7 * ms }),
			[]time.Duration{7 * ms, 7 * ms, 7 * ms}},
		{"initial above max", withCfg(func(c *Config) { c.InitialReconnectDelay, c.MaxReconnectDelay = 100*ms, 30*ms }),
			[]time.Duration{30 * ms, 30 * ms}},
		{"zero", withCfg(func(c *Config) { c.InitialReconnectDelay = 0 }), []time.Duration{0, 0}},
		{"no overflow", withCfg(func(c *Config) {
			c.InitialReconnectDelay, c.MaxReconnectDelay, c.BackOffMultiplier = time.Hour, 1<<62, 1e6
		}), []time.Duration{time.Hour, 1e6 * time.Hour, 1 << 62, 1 << 62}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(&tc.cfg)
			var got []time.Duration
			for range tc.want {
				got = append(got, b.delay())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delays %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConnectList(t *testing.T) {
	a, b, c := stompB("a:1"), stompB("b:1"), stompB("c:1")
	all := []Broker{a, b, c}
	ordered := withCfg(func(c *Config) { c.Randomize = false })
	if got := connectList(&ordered, all, ""); !slices.Equal(got, all) {
		t.Fatalf("no randomize: %v", got)
	}
	if got := connectList(&ordered, all, "a:1"); !slices.Equal(got, []Broker{b, c, a}) {
		t.Fatalf("the failed broker goes last: %v", got)
	}
	pri := withCfg(func(x *Config) { x.Randomize, x.PriorityBackup, x.PriorityURIs = false, true, []Broker{c} })
	if got := connectList(&pri, all, "c:1"); !slices.Equal(got, []Broker{c, a, b}) {
		t.Fatalf("priority first, even when it failed: %v", got)
	}
	priFirst := withCfg(func(x *Config) { x.Randomize, x.PriorityBackup = false, true })
	if !isPriority(&priFirst, all, a) || isPriority(&priFirst, all, b) {
		t.Fatal("without priorityURIs the first broker is the priority one")
	}
	// Randomized: every order is a permutation with the failed one last,
	// and over many draws the first position varies.
	random := DefaultConfig()
	firsts := map[string]bool{}
	for range 200 {
		got := connectList(&random, all, "b:1")
		if len(got) != 3 || got[2] != b || !slices.Contains(got, a) || !slices.Contains(got, c) {
			t.Fatalf("randomized list %v", got)
		}
		firsts[got[0].Addr] = true
	}
	if len(firsts) != 2 {
		t.Fatalf("randomize never changed the order: first brokers %v", firsts)
	}
}

func TestAttemptLimit(t *testing.T) {
	for _, tc := range []struct {
		max, startup int
		wantStart    int
		wantRun      int
	}{
		{-1, -1, -1, -1},
		{3, -1, 3, 3},
		{-1, 2, 2, -1},
		{0, 5, 5, 0},
		{4, 0, 0, 4},
	} {
		cfg := withCfg(func(c *Config) { c.MaxReconnectAttempts, c.StartupMaxReconnectAttempts = tc.max, tc.startup })
		if got := attemptLimit(&cfg, true); got != tc.wantStart {
			t.Errorf("max %d startup %d: startup limit %d, want %d", tc.max, tc.startup, got, tc.wantStart)
		}
		if got := attemptLimit(&cfg, false); got != tc.wantRun {
			t.Errorf("max %d startup %d: limit %d, want %d", tc.max, tc.startup, got, tc.wantRun)
		}
	}
}
