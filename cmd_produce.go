package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	"github.com/spf13/cobra"

	"github.com/mqgate/mqgate/cluster/failover"
)

// produceOptions are the flags of `mqgate produce`.
type produceOptions struct {
	conn        connFlags
	destination string
	count       int
	size        int
	body        string
	stdin       bool
	persistent  bool
	receipt     bool
	headers     []string

	// Derived by validate.
	target      stompTarget
	failover    *failover.URI // set for a failover: or amqp:// --url, which the failover client serves
	hostSet     bool          // --host was given
	headerPairs [][2]string
}

func newProduceCmd() *cobra.Command { return newProduceCommand(&produceOptions{}) }

// newProduceCommand builds the command around o (tests inspect o).
func newProduceCommand(o *produceOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Send messages to a queue or topic over STOMP or AMQP 1.0",
		Long: "Send messages to a destination over STOMP (mqgate, ActiveMQ, RabbitMQ) or AMQP 1.0.\n\n" +
			"The body is --body, or one message per line of standard input with --stdin,\n" +
			"or a generated text of --size bytes (\"message I of N\" padded with dots).\n" +
			"A one-line summary goes to standard error.\n\n" +
			"With a failover URL (failover:(uri,uri)?options, as ActiveMQ writes it) or an\n" +
			"amqp:// URL, the failover client sends: every message waits for the broker's\n" +
			"confirmation (up to 100 in flight), and when a broker is lost the client moves\n" +
			"to the next one and sends again what was not confirmed, writing one line per\n" +
			"failover to standard error.",
		Example: "  mqgate produce -d /queue/orders -n 1000 --size 1024\n" +
			"  mqgate produce -d /topic/prices --body '{\"px\":1}' --header content-type=application/json\n" +
			"  tail -f events.log | mqgate produce -d /queue/events --stdin --persistent\n" +
			"  mqgate produce --url 'failover:(tcp://a:61613,tcp://b:61613)?randomize=false' -d /queue/orders -n 100000 --persistent",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, cmd.InOrStdin(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	fs.Lookup("url").Usage = clientURLUsage
	fs.StringVarP(&o.destination, "destination", "d", "/queue/test", "where to send: /queue/NAME or /topic/NAME")
	fs.IntVarP(&o.count, "count", "n", 1, "number of messages to send (not with --stdin, which sends one per line)")
	fs.IntVar(&o.size, "size", 0, "size in bytes of the generated body when --body and --stdin are not given (0: just \"message I of N\")")
	fs.StringVar(&o.body, "body", "", "literal message body, sent --count times")
	fs.BoolVar(&o.stdin, "stdin", false, "read standard input and send each line as a message (without its newline)")
	fs.BoolVar(&o.persistent, "persistent", false, "send persistent messages (persistent:true header)")
	fs.BoolVar(&o.receipt, "receipt", false, "ask for a RECEIPT on every SEND and wait for it (default true with --persistent; always with a failover or amqp:// URL)")
	fs.StringArrayVar(&o.headers, "header", nil, "extra header on every message, as key=value (repeatable)")
	return cmd
}

// reservedSendHeaders are set by produce itself; --header may not override them.
var reservedSendHeaders = map[string]bool{
	"destination": true, "content-length": true, "receipt": true, "transaction": true,
}

// validate checks the flags and fills the derived fields.
func (o *produceOptions) validate(cmd *cobra.Command) error {
	fs := cmd.Flags()
	t, fo, err := o.conn.resolveClient()
	if err != nil {
		return err
	}
	o.target, o.failover, o.hostSet = t, fo, fs.Changed("host")
	if err := validateDestination(o.destination); err != nil {
		return err
	}
	if o.stdin && fs.Changed("body") {
		return errors.New("--body and --stdin cannot be used together")
	}
	if o.stdin && fs.Changed("count") {
		return errors.New("--count and --stdin cannot be used together: --stdin sends one message per line")
	}
	if fs.Changed("size") && (fs.Changed("body") || o.stdin) {
		return errors.New("--size generates a body; it cannot be used with --body or --stdin")
	}
	if o.count < 1 {
		return fmt.Errorf("--count must be at least 1, got %d", o.count)
	}
	if o.size < 0 || o.size > maxBenchBody {
		return fmt.Errorf("--size must be between 0 and %d, got %d", maxBenchBody, o.size)
	}
	if !fs.Changed("receipt") {
		o.receipt = o.persistent
	}
	pairs, err := parseHeaderFlags(o.headers)
	if err != nil {
		return err
	}
	o.headerPairs = pairs
	return nil
}

// validateDestination accepts the destination forms brokers understand:
// /queue/NAME, /topic/NAME and other absolute names (/temp-queue/…,
// /exchange/… on RabbitMQ).
func validateDestination(d string) error {
	if d == "" {
		return errors.New("--destination must not be empty")
	}
	if !strings.HasPrefix(d, "/") {
		return fmt.Errorf("--destination %q: expected /queue/NAME or /topic/NAME", d)
	}
	if strings.ContainsAny(d, "\n\r\x00") {
		return fmt.Errorf("--destination %q: contains a line break or NUL", d)
	}
	return nil
}

// parseHeaderFlags parses repeated --header key=value flags.
func parseHeaderFlags(hs []string) ([][2]string, error) {
	var out [][2]string
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			return nil, fmt.Errorf("--header %q: expected key=value", h)
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("--header %q: empty key", h)
		}
		if reservedSendHeaders[strings.ToLower(k)] {
			return nil, fmt.Errorf("--header %q: %s is set by mqgate produce", h, k)
		}
		if strings.ContainsAny(k+v, "\n\r\x00") {
			return nil, fmt.Errorf("--header %q: contains a line break or NUL", h)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// generatedBody is the body of message i (1-based) of n for --size.
func generatedBody(i, n, size int) []byte {
	b := []byte("message " + strconv.Itoa(i) + " of " + strconv.Itoa(n))
	if size == 0 {
		return b
	}
	for len(b) < size {
		b = append(b, '.')
	}
	return b[:size]
}

// dialGoStomp opens a go-stomp connection to t with extra CONNECT headers.
//
// unacked bounds the deliveries the broker may have outstanding on this
// connection (the prefetch; 0 for a producer). go-stomp's I/O goroutine
// blocks handing a MESSAGE to the subscriber while that subscriber blocks
// queueing its ACK for the same goroutine: with a write queue shorter than
// the prefetch, a consumer that acks deadlocks under load. A write queue
// longer than the prefetch cannot fill, since the broker stops sending once
// the prefetch is used up.
func dialGoStomp(ctx context.Context, t stompTarget, unacked int, extra ...[2]string) (*stomp.Conn, error) {
	opts := []func(*stomp.Conn) error{
		stomp.ConnOpt.Host(t.Host),
		stomp.ConnOpt.MsgSendTimeout(0),
		stomp.ConnOpt.RcvReceiptTimeout(60 * time.Second),
		stomp.ConnOpt.Logger(quietLogger{}),
		stomp.ConnOpt.WriteChannelCapacity(unacked + 64),
	}
	if t.Login != "" || t.Passcode != "" {
		opts = append(opts, stomp.ConnOpt.Login(t.Login, t.Passcode))
	}
	for _, h := range extra {
		opts = append(opts, stomp.ConnOpt.Header(h[0], h[1]))
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := stomp.DialWithContext(dctx, "tcp", t.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	return c, nil
}

// quietLogger silences go-stomp's logging: its errors reach us as return
// values, and it logs routine closes as errors.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{})   {}
func (quietLogger) Infof(string, ...interface{})    {}
func (quietLogger) Warningf(string, ...interface{}) {}
func (quietLogger) Errorf(string, ...interface{})   {}
func (quietLogger) Debug(string)                    {}
func (quietLogger) Info(string)                     {}
func (quietLogger) Warning(string)                  {}
func (quietLogger) Error(string)                    {}

func (o *produceOptions) run(ctx context.Context, stdin io.Reader, stderr io.Writer) error {
	if o.failover != nil {
		return o.runFailover(ctx, stdin, stderr)
	}
	conn, err := dialGoStomp(ctx, o.target, 0)
	if err != nil {
		return err
	}
	defer conn.MustDisconnect()

	var opts []func(*frame.Frame) error
	if o.persistent {
		opts = append(opts, stomp.SendOpt.Header("persistent", "true"))
	}
	for _, h := range o.headerPairs {
		opts = append(opts, stomp.SendOpt.Header(h[0], h[1]))
	}
	if o.receipt {
		opts = append(opts, stomp.SendOpt.Receipt)
	}

	start := time.Now()
	sent := 0
	send := func(body []byte) error {
		if err := conn.Send(o.destination, "text/plain", body, opts...); err != nil {
			return fmt.Errorf("send message %d to %s: %w", sent+1, o.destination, err)
		}
		sent++
		return nil
	}
	switch {
	case o.stdin:
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), maxBenchBody)
		for sc.Scan() {
			if ctx.Err() != nil {
				break
			}
			if err := send(sc.Bytes()); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	default:
		for i := 1; i <= o.count && ctx.Err() == nil; i++ {
			body := []byte(o.body)
			if o.body == "" {
				body = generatedBody(i, o.count, o.size)
			}
			if err := send(body); err != nil {
				return err
			}
		}
	}
	// DISCONNECT waits for its receipt, so every SEND has reached the broker
	// when it returns.
	if err := conn.Disconnect(); err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "sent %d messages to %s in %s (%s msgs/s)\n", sent, o.destination, roundDuration(el), formatRate(float64(sent)/el.Seconds()))
	if ctx.Err() != nil && !o.stdin && sent < o.count {
		return fmt.Errorf("interrupted after %d of %d messages", sent, o.count)
	}
	return nil
}

// roundDuration rounds d for display.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// formatRate formats a rate with thousands separators and no decimals.
func formatRate(r float64) string {
	if r != r || r < 0 || r > 1e15 { // NaN, negative, Inf
		return "-"
	}
	return groupThousands(int64(r + 0.5))
}

// groupThousands formats n as 1,234,567.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// produceWindow bounds the messages produce has in flight, not yet
// confirmed, over the failover client.
const produceWindow = 100

// runFailover sends through the failover client (a failover: or amqp://
// --url): each message is confirmed by the broker, up to produceWindow in
// flight, and a failover sends again what was not confirmed.
func (o *produceOptions) runFailover(ctx context.Context, stdin io.Reader, stderr io.Writer) error {
	stderr = &lockedWriter{w: stderr}
	fopts := o.conn.failoverOptions(o.failover, o.hostSet, stderr)
	fopts.SendWindow = produceWindow
	conn, err := failover.DialURI(ctx, o.failover, fopts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "connected to %s\n", conn.Broker())
	closeConn := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return conn.Close(cctx)
	}
	defer closeConn()

	sopts := &failover.SendOptions{ContentType: "text/plain", Persistent: o.persistent}
	for _, h := range o.headerPairs {
		switch k := strings.ToLower(h[0]); {
		case k == "content-type":
			sopts.ContentType = h[1]
		case k == "persistent":
			sopts.Persistent = sopts.Persistent || h[1] == "true"
		default:
			if sopts.Props == nil {
				sopts.Props = map[string]any{}
			}
			if _, dup := sopts.Props[h[0]]; !dup {
				sopts.Props[h[0]] = h[1]
			}
		}
	}

	start := time.Now()
	queued, confirmed := 0, 0
	var inflight []*failover.Receipt // in send order
	// settle takes the confirmed messages off the front of inflight; with
	// wait it waits for all of them.
	settle := func(wait bool) error {
		for len(inflight) > 0 {
			r := inflight[0]
			if !wait {
				select {
				case <-r.Done():
				default:
					return nil
				}
			}
			if err := r.Wait(ctx); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted; reported below
				}
				return fmt.Errorf("message %d to %s: %w", r.Seq(), o.destination, err)
			}
			inflight = inflight[1:]
			confirmed++
		}
		return nil
	}
	send := func(body []byte) error {
		r, err := conn.SendAsync(ctx, o.destination, body, sopts)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("send message %d to %s: %w", queued+1, o.destination, err)
		}
		queued++
		inflight = append(inflight, r)
		return settle(false)
	}
	switch {
	case o.stdin:
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64*1024), maxBenchBody)
		for ctx.Err() == nil && sc.Scan() {
			// The client keeps the body until the broker confirms it.
			if err := send(bytes.Clone(sc.Bytes())); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	default:
		for i := 1; i <= o.count && ctx.Err() == nil; i++ {
			body := []byte(o.body)
			if o.body == "" {
				body = generatedBody(i, o.count, o.size)
			}
			if err := send(body); err != nil {
				return err
			}
		}
	}
	if err := settle(true); err != nil {
		return err
	}
	el := time.Since(start)
	if err := closeConn(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	fmt.Fprintf(stderr, "sent %d messages to %s in %s (%s msgs/s)\n", confirmed, o.destination, roundDuration(el), formatRate(float64(confirmed)/el.Seconds()))
	switch {
	case len(inflight) > 0:
		return fmt.Errorf("interrupted with %d messages not confirmed by the broker", len(inflight))
	case ctx.Err() != nil && !o.stdin && confirmed < o.count:
		return fmt.Errorf("interrupted after %d of %d messages", confirmed, o.count)
	}
	return nil
}
