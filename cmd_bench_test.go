package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func parseBench(t *testing.T, args ...string) (benchConfig, error) {
	t.Helper()
	o := &benchOptions{}
	cmd := newBenchCommand(o)
	if err := cmd.ParseFlags(args); err != nil {
		return benchConfig{}, err
	}
	return o.config(cmd)
}

func TestBenchFlags(t *testing.T) {
	cfg, err := parseBench(t)
	wantErr(t, err, "")
	if cfg.producers != 1 || cfg.consumers != 1 || cfg.messages != 100000 || cfg.size != 1024 ||
		cfg.ack != "client-individual" || cfg.prefetch != 1000 || cfg.receiptEvery != 0 || cfg.client != "lean" {
		t.Fatalf("defaults: %+v", cfg)
	}

	cfg, err = parseBench(t, "--persistent")
	wantErr(t, err, "")
	if cfg.receiptEvery != 100 {
		t.Fatalf("--persistent: receiptEvery = %d, want the default 100", cfg.receiptEvery)
	}
	cfg, err = parseBench(t, "--receipt-every", "10")
	wantErr(t, err, "")
	if cfg.receiptEvery != 10 {
		t.Fatalf("explicit --receipt-every on a non-persistent run: got %d", cfg.receiptEvery)
	}
	cfg, err = parseBench(t, "--duration", "3s", "--rate", "5000", "--warmup", "1s", "--topic", "-p", "2", "-c", "4")
	wantErr(t, err, "")
	if cfg.messages != 0 || cfg.duration != 3*time.Second || cfg.rate != 5000 || !cfg.topic || cfg.producers != 2 || cfg.consumers != 4 {
		t.Fatalf("parsed: %+v", cfg)
	}

	cfg, err = parseBench(t, "--url", "tcp://a:61613", "--consumer-url", "stomp://c:61614")
	wantErr(t, err, "")
	if cfg.target.Addr != "a:61613" || cfg.consumerTarget().Addr != "c:61614" {
		t.Fatalf("--consumer-url: producers at %q, consumers at %q", cfg.target.Addr, cfg.consumerTarget().Addr)
	}
	cfg, err = parseBench(t, "--protocol", "amqp", "--url", "amqp://a:5672", "--consumer-url", "amqp://c:5673")
	wantErr(t, err, "")
	if cfg.target.Addr != "a:5672" || cfg.consumerTarget().Addr != "c:5673" {
		t.Fatalf("AMQP --consumer-url: producers at %q, consumers at %q", cfg.target.Addr, cfg.consumerTarget().Addr)
	}
	if cfg, _ = parseBench(t); cfg.consumerTarget() != cfg.target {
		t.Fatalf("without --consumer-url the consumers connect to %+v, not %+v", cfg.consumerTarget(), cfg.target)
	}
	_, err = parseBench(t, "--consumer-url", "ftp://c:1")
	wantErr(t, err, "--consumer-url")

	cfg, err = parseBench(t, "--groups", "1000", "--selector", "bench_region = 'eu'")
	wantErr(t, err, "")
	if cfg.groups != 1000 || cfg.selector != "bench_region = 'eu'" {
		t.Fatalf("--groups/--selector: %+v", cfg)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-p", "0"}, "--producers"},
		{[]string{"-c", "0"}, "--consumers"},
		{[]string{"-n", "0"}, "--messages"},
		{[]string{"-n", "10", "--duration", "1s"}, "cannot be used together"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--size", "-1"}, "--size"},
		{[]string{"--receipt-every", "-1"}, "--receipt-every"},
		{[]string{"--ack", "none"}, "--ack"},
		{[]string{"--prefetch", "-5"}, "--prefetch"},
		{[]string{"--rate", "-1"}, "--rate"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
		{[]string{"--idle-timeout", "0s"}, "--idle-timeout"},
		{[]string{"--client", "fast"}, "--client"},
		{[]string{"--url", "amqp://h"}, `"amqp"`},
		{[]string{"--groups", "-1"}, "--groups"},
		{[]string{"--groups", "10", "--client", "go-stomp"}, "--client lean"},
		{[]string{"--selector", "a = 1", "--protocol", "amqp"}, "--client lean"},
	} {
		_, err := parseBench(t, tc.args...)
		wantErr(t, err, tc.err)
	}
	// Every problem is reported at once.
	_, err = parseBench(t, "-p", "0", "-c", "0")
	wantErr(t, err, "--consumers")
	wantErr(t, err, "--producers")
}

func TestEveryFlagHasHelp(t *testing.T) {
	for _, cmd := range []*cobra.Command{newProduceCmd(), newConsumeCmd(), newBenchCmd()} {
		if cmd.Short == "" || cmd.Long == "" {
			t.Errorf("%s: missing Short or Long help", cmd.Name())
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s --%s has no help text", cmd.Name(), f.Name)
			}
		})
	}
}
