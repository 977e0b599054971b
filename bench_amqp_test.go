package main

import (
	"context"
	"testing"
	"time"

	"github.com/mqgate/mqgate/config"
	"github.com/mqgate/mqgate/gateway"
	"github.com/rs/zerolog"
)

// startAMQPGateway starts an embedded in-memory broker with AMQP enabled.
func startAMQPGateway(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.STOMP.Listen = "127.0.0.1:0"
	cfg.AMQP.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = ""
	cfg.Store.Type = "memory"
	g, err := gateway.New(cfg, gateway.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatalf("gateway.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("gateway.Close: %v", err)
		}
	})
	return g.AMQPAddr().String()
}

func TestRunBenchAMQP(t *testing.T) {
	addr := startAMQPGateway(t)
	for _, tc := range []struct {
		name string
		mod  func(*benchConfig)
	}{
		{"queue 1/1", func(*benchConfig) {}},
		{"queue 2/2", func(c *benchConfig) { c.producers, c.consumers, c.messages = 2, 2, 2001 }},
		{"queue 2/2 persistent", func(c *benchConfig) {
			c.producers, c.consumers, c.persistent, c.receiptEvery = 2, 2, true, 50
		}},
		{"queue auto ack", func(c *benchConfig) { c.ack = "auto" }},
		{"topic 1->2", func(c *benchConfig) { c.topic, c.consumers = true, 2 }},
		{"topic 1->2 persistent", func(c *benchConfig) {
			c.topic, c.consumers, c.persistent, c.receiptEvery = true, 2, true, 100
		}},
		{"rate and duration", func(c *benchConfig) {
			c.messages, c.duration, c.warmup, c.rate, c.producers = 0, 300*time.Millisecond, 100*time.Millisecond, 2000, 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := benchConfig{
				target: stompTarget{Addr: addr}, url: "amqp://" + addr, protocol: "amqp", client: benchAMQPClient,
				producers: 1, consumers: 1, messages: 1000, size: 100,
				ack: "client-individual", prefetch: 100, idleTimeout: 10 * time.Second,
			}
			tc.mod(&cfg)
			res, err := runBench(context.Background(), cfg)
			if err != nil {
				t.Fatalf("runBench: %v (result %+v)", err, res)
			}
			if !res.OK || res.Check.Lost != 0 || res.Check.Duplicates != 0 || res.Check.Unexpected != 0 {
				t.Fatalf("check: %+v", res.Check)
			}
			wantSent := cfg.messages
			if cfg.duration > 0 {
				if res.Sent < 300 || res.Sent > 900 || res.WarmupSent < 100 {
					t.Fatalf("rate mode sent %d (+%d warm-up)", res.Sent, res.WarmupSent)
				}
				wantSent = res.Sent
			} else if res.Sent != cfg.messages {
				t.Fatalf("sent %d, want %d", res.Sent, cfg.messages)
			}
			wantDeliveries := wantSent
			if cfg.topic {
				wantDeliveries *= int64(cfg.consumers)
			}
			if res.Deliveries != wantDeliveries || res.Latency.Samples != uint64(wantDeliveries) {
				t.Fatalf("deliveries %d (latency samples %d), want %d", res.Deliveries, res.Latency.Samples, wantDeliveries)
			}
			if res.Destination[:8] != "queue://" && res.Destination[:8] != "topic://" {
				t.Fatalf("destination %q", res.Destination)
			}
		})
	}
}

func TestBenchFlagsAMQP(t *testing.T) {
	cfg, err := parseBench(t, "--protocol", "amqp")
	wantErr(t, err, "")
	if cfg.protocol != "amqp" || cfg.target.Addr != "127.0.0.1:5672" || cfg.client != benchAMQPLeanClient {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = parseBench(t, "--protocol", "amqp", "--amqp-client", "go-amqp")
	wantErr(t, err, "")
	if cfg.client != benchAMQPClient {
		t.Fatalf("--amqp-client go-amqp: %+v", cfg)
	}
	_, err = parseBench(t, "--protocol", "amqp", "--amqp-client", "proton")
	wantErr(t, err, "expected lean or go-amqp")
	_, err = parseBench(t, "--amqp-client", "lean")
	wantErr(t, err, "--protocol amqp only")
	cfg, err = parseBench(t, "--protocol", "amqp", "--url", "amqp://u:p@example.com:5673", "--persistent")
	wantErr(t, err, "")
	if cfg.target.Addr != "example.com:5673" || cfg.target.Login != "u" || cfg.target.Passcode != "p" || cfg.receiptEvery != 100 {
		t.Fatalf("url: %+v", cfg)
	}
	_, err = parseBench(t, "--protocol", "amqp", "--url", "stomp://h:1")
	wantErr(t, err, "amqp://host:port")
	_, err = parseBench(t, "--url", "amqp://h:1")
	wantErr(t, err, "--protocol amqp")
	_, err = parseBench(t, "--protocol", "mqtt")
	wantErr(t, err, "expected stomp or amqp")
	_, err = parseBench(t, "--protocol", "amqp", "--client", "go-stomp")
	wantErr(t, err, "stomp only")
}

func TestAMQPAddress(t *testing.T) {
	for in, want := range map[string]string{
		"/queue/bench.x": "queue://bench.x",
		"/topic/bench.y": "topic://bench.y",
		"other":          "other",
	} {
		if got := amqpAddress(in); got != want {
			t.Errorf("amqpAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
