package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// benchOptions are the flags of `mqgate bench`.
type benchOptions struct {
	conn         connFlags
	consumerURL  string
	producers    int
	consumers    int
	messages     int64
	size         int
	persistent   bool
	receiptEvery int
	ack          string
	prefetch     int
	topic        bool
	rate         float64
	duration     time.Duration
	warmup       time.Duration
	idleTimeout  time.Duration
	json         bool
	client       string
	protocol     string
	amqpClient   string
	groups       int
	selector     string
}

func newBenchCmd() *cobra.Command { return newBenchCommand(&benchOptions{}) }

// newBenchCommand builds the command around o (tests inspect o).
func newBenchCommand(o *benchOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency and delivery of a STOMP or AMQP 1.0 broker",
		Long: "Measure a STOMP broker (mqgate, ActiveMQ, RabbitMQ's STOMP plugin) or, with\n" +
			"--protocol amqp, an AMQP 1.0 broker (mqgate, RabbitMQ's AMQP 1.0 plugin) with\n" +
			"producers and consumers on a fresh destination.\n\n" +
			"Reports messages sent per second (until the broker confirmed the last one),\n" +
			"deliveries received per second, end-to-end latency percentiles (every message\n" +
			"carries its send time in a bench-ts header; producers and consumers run in\n" +
			"this process, so the clocks agree), and checks that every message arrived\n" +
			"exactly once (once per subscriber with --topic). Exits non-zero when a\n" +
			"message is lost or the run fails.\n\n" +
			"Throughput is measured at full speed; quote latency at a fixed --rate, since\n" +
			"at full speed it is mostly queueing.",
		Example: "  mqgate bench --url tcp://127.0.0.1:61613 -p 4 -c 4 -n 200000\n" +
			"  mqgate bench --persistent --receipt-every 100 -n 20000\n" +
			"  mqgate bench --topic -p 1 -c 4 -n 100000\n" +
			"  mqgate bench --groups 1000 -p 4 -c 4\n" +
			"  mqgate bench --selector \"bench_region = 'eu'\" -p 4 -c 4\n" +
			"  mqgate bench --rate 5000 --duration 10s --warmup 2s --json\n" +
			"  mqgate bench --protocol amqp --url amqp://127.0.0.1:5672 -p 4 -c 4\n" +
			"  mqgate bench --protocol amqp --amqp-client go-amqp --url amqp://127.0.0.1:5672",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, cfg, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	fs.StringVar(&o.consumerURL, "consumer-url", "", "connect the consumers to this broker instead of --url's (same protocol and credentials): measures a network of brokers, producing on one and consuming on another")
	fs.IntVarP(&o.producers, "producers", "p", 1, "number of producer connections")
	fs.IntVarP(&o.consumers, "consumers", "c", 1, "number of consumer connections (with --topic: subscribers, each gets every message)")
	fs.Int64VarP(&o.messages, "messages", "n", 100000, "messages to send in total, split over the producers (not with --duration)")
	fs.IntVar(&o.size, "size", 1024, "body size in bytes")
	fs.BoolVar(&o.persistent, "persistent", false, "send persistent messages (persistent:true)")
	fs.IntVar(&o.receiptEvery, "receipt-every", 100, "each producer asks for a RECEIPT every K sends and waits for it (0: never); applies to --persistent runs unless given explicitly")
	fs.StringVar(&o.ack, "ack", "client-individual", "consumer acknowledgement mode: auto, client (cumulative ACKs) or client-individual (one ACK per message)")
	fs.IntVar(&o.prefetch, "prefetch", 1000, "consumer prefetch: activemq.prefetchSize (and RabbitMQ's prefetch-count); 0: the broker's default")
	fs.BoolVar(&o.topic, "topic", false, "publish to a topic that every consumer subscribes to (fan-out) instead of a queue they share")
	fs.Float64Var(&o.rate, "rate", 0, "total send rate in msgs/s, spread over the producers (0: full speed); use a fixed rate to quote latency")
	fs.DurationVar(&o.duration, "duration", 0, "send for this long instead of a fixed --messages count")
	fs.DurationVar(&o.warmup, "warmup", 0, "send for this long before measuring (those messages are checked but not counted)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 15*time.Second, "give up when nothing is sent or received for this long")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.StringVar(&o.client, "client", "lean", "STOMP client: lean (pipelined, batched flushes) or go-stomp (github.com/go-stomp/stomp, for comparison)")
	fs.StringVar(&o.protocol, "protocol", "stomp", "protocol: stomp, or amqp (AMQP 1.0; --url amqp://host:port, default port 5672)")
	fs.IntVar(&o.groups, "groups", 0, "spread the messages over this many message groups (JMSXGroupID g0, g1, ...; 0: no groups); STOMP lean client")
	fs.StringVar(&o.selector, "selector", "", "consumers subscribe with this JMS selector; every message carries bench_region:eu and bench_n:<seq mod 10> to select on, e.g. \"bench_region = 'eu' AND bench_n >= 0\"; STOMP lean client")
	fs.StringVar(&o.amqpClient, "amqp-client", benchAMQPLeanClient, "AMQP client with --protocol amqp: lean (pipelined, batched flushes and acknowledgements) or go-amqp (github.com/Azure/go-amqp, the real-world client)")
	return cmd
}

// config validates the flags into a benchConfig.
func (o *benchOptions) config(cmd *cobra.Command) (benchConfig, error) {
	fs := cmd.Flags()
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	var t stompTarget
	var err error
	client, reportURL := o.client, o.conn.URL
	switch o.protocol {
	case "stomp":
		t, err = o.conn.resolve()
		if err != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(o.conn.URL)), "amqp://") {
			err = fmt.Errorf("%w \"amqp\" in %q with --protocol stomp: add --protocol amqp", errUnsupportedScheme, o.conn.URL)
		}
	case "amqp":
		// --url defaults to a STOMP URL; without --url use AMQP's default port.
		raw := o.conn.URL
		if !fs.Changed("url") {
			raw = "amqp://127.0.0.1:" + defaultAMQPPort
		}
		t, err = parseAMQPURL(raw)
		reportURL = raw
		if o.conn.Login != "" {
			t.Login = o.conn.Login
		}
		if o.conn.Passcode != "" {
			t.Passcode = o.conn.Passcode
		}
		if fs.Changed("client") {
			bad("--client applies to --protocol stomp only (--amqp-client chooses the AMQP client)")
		}
		client = o.amqpClient
		if client != benchAMQPLeanClient && client != benchAMQPClient {
			bad("--amqp-client %q: expected lean or go-amqp", o.amqpClient)
		}
	default:
		err = fmt.Errorf("--protocol %q: expected stomp or amqp", o.protocol)
	}
	if err != nil {
		return benchConfig{}, err
	}
	var consumerAt stompTarget
	if o.consumerURL != "" {
		cc := o.conn
		cc.URL = o.consumerURL
		switch o.protocol {
		case "amqp":
			consumerAt, err = parseAMQPURL(cc.URL)
			if err == nil && cc.Login != "" {
				consumerAt.Login, consumerAt.Passcode = cc.Login, cc.Passcode
			}
		default:
			consumerAt, err = cc.resolve()
		}
		if err != nil {
			return benchConfig{}, fmt.Errorf("--consumer-url: %w", err)
		}
	}
	if o.producers < 1 {
		bad("--producers must be at least 1, got %d", o.producers)
	}
	if o.consumers < 1 {
		bad("--consumers must be at least 1, got %d", o.consumers)
	}
	if fs.Changed("messages") && fs.Changed("duration") {
		bad("--messages and --duration cannot be used together")
	}
	messages := o.messages
	if o.duration < 0 {
		bad("--duration must not be negative, got %s", o.duration)
	}
	if o.duration > 0 {
		messages = 0
	} else if o.messages < 1 {
		bad("--messages must be at least 1, got %d", o.messages)
	}
	if o.size < 0 || o.size > maxBenchBody {
		bad("--size must be between 0 and %d, got %d", maxBenchBody, o.size)
	}
	if o.receiptEvery < 0 {
		bad("--receipt-every must be 0 or more, got %d", o.receiptEvery)
	}
	receiptEvery := o.receiptEvery
	if !o.persistent && !fs.Changed("receipt-every") {
		receiptEvery = 0
	}
	if _, err := parseAckMode(o.ack); err != nil {
		bad("%v", err)
	}
	if o.prefetch < 0 {
		bad("--prefetch must be 0 or more, got %d", o.prefetch)
	}
	if o.rate < 0 || o.rate != o.rate {
		bad("--rate must be 0 or more, got %v", o.rate)
	}
	if o.warmup < 0 {
		bad("--warmup must not be negative, got %s", o.warmup)
	}
	if o.idleTimeout <= 0 {
		bad("--idle-timeout must be positive, got %s", o.idleTimeout)
	}
	if o.protocol == "stomp" && o.client != "lean" && o.client != "go-stomp" {
		bad("--client %q: expected lean or go-stomp", o.client)
	}
	if o.protocol == "stomp" && fs.Changed("amqp-client") {
		bad("--amqp-client applies to --protocol amqp only")
	}
	if o.groups < 0 {
		bad("--groups must be 0 or more, got %d", o.groups)
	}
	if (o.groups > 0 || o.selector != "") && (o.protocol != "stomp" || o.client != "lean") {
		bad("--groups and --selector need --protocol stomp with --client lean")
	}
	if len(problems) > 0 {
		return benchConfig{}, errors.New(strings.Join(problems, "; "))
	}
	return benchConfig{
		target: t, consumerAt: consumerAt, url: reportURL,
		producers: o.producers, consumers: o.consumers,
		messages: messages, duration: o.duration, warmup: o.warmup,
		size: o.size, persistent: o.persistent, receiptEvery: receiptEvery,
		ack: o.ack, prefetch: o.prefetch, topic: o.topic, rate: o.rate,
		idleTimeout: o.idleTimeout, client: client, protocol: o.protocol,
		groups: o.groups, selector: o.selector,
	}, nil
}

func (o *benchOptions) run(ctx context.Context, cfg benchConfig, out io.Writer) error {
	res, err := runBench(ctx, cfg)
	if res == nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(out)
		if e := enc.Encode(res); e != nil {
			return e
		}
	} else {
		printBenchResult(out, res)
	}
	return err
}

// printBenchResult writes the human-readable report.
func printBenchResult(w io.Writer, r *benchResult) {
	persistence := "non-persistent"
	if r.Persistent {
		persistence = "persistent"
		if r.ReceiptEvery > 0 {
			persistence += fmt.Sprintf(" (receipt every %d)", r.ReceiptEvery)
		}
	} else if r.ReceiptEvery > 0 {
		persistence += fmt.Sprintf(" (receipt every %d)", r.ReceiptEvery)
	}
	rate := "full speed"
	if r.Rate > 0 {
		rate = formatRate(r.Rate) + " msgs/s"
	}
	fmt.Fprintf(w, "bench %s %s at %s (%s client)\n", r.Mode, r.Destination, r.URL, r.Client)
	fmt.Fprintf(w, "  %d producer(s), %d consumer(s), %s B bodies, %s, ack %s, prefetch %d, %s\n",
		r.Producers, r.Consumers, groupThousands(int64(r.Size)), persistence, r.Ack, r.Prefetch, rate)
	if r.Groups > 0 {
		fmt.Fprintf(w, "  groups     %d (JMSXGroupID)\n", r.Groups)
	}
	if r.Selector != "" {
		fmt.Fprintf(w, "  selector   %s\n", r.Selector)
	}
	if r.WarmupSent > 0 {
		fmt.Fprintf(w, "  warm-up    %s msgs (not counted)\n", groupThousands(r.WarmupSent))
	}
	fmt.Fprintf(w, "  sent       %12s msgs in %8.3fs  %10s msgs/s\n", groupThousands(r.Sent), r.SendSeconds, formatRate(r.SendRate))
	label := "received"
	if r.Mode == "topic" {
		label = "deliveries"
	}
	fmt.Fprintf(w, "  %-10s %12s msgs in %8.3fs  %10s msgs/s\n", label, groupThousands(r.Deliveries), r.ReceiveSeconds, formatRate(r.ReceiveRate))
	l := r.Latency
	fmt.Fprintf(w, "  latency    p50 %s  p90 %s  p99 %s  max %s  (mean %s, %s samples)\n",
		fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.Max), fmtMs(l.Mean), groupThousands(int64(l.Samples)))
	c := r.Check
	verdict := "ok"
	if c.Lost > 0 || c.Unexpected > 0 {
		verdict = "FAILED"
	}
	each := "every message exactly once"
	if r.Mode == "topic" {
		each = "every message once per subscriber"
	}
	if c.Lost == 0 && c.Duplicates == 0 && c.Unexpected == 0 {
		fmt.Fprintf(w, "  check      %s: %s deliveries, %s\n", verdict, groupThousands(c.Delivered), each)
	} else {
		fmt.Fprintf(w, "  check      %s: expected %s deliveries, got %s: %s lost, %s duplicates, %s unexpected\n",
			verdict, groupThousands(c.Expected), groupThousands(c.Delivered), groupThousands(c.Lost),
			groupThousands(c.Duplicates), groupThousands(c.Unexpected))
	}
	if c.OutOfOrder > 0 {
		fmt.Fprintf(w, "  order      %s deliveries arrived before an earlier message of the same producer\n", groupThousands(c.OutOfOrder))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", r.Error)
	}
}

// fmtMs formats milliseconds with sensible precision.
func fmtMs(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}
