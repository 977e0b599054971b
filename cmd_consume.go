package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
	"github.com/spf13/cobra"

	"github.com/mqgate/mqgate/cluster/failover"
)

// consumeOptions are the flags of `mqgate consume`.
type consumeOptions struct {
	conn        connFlags
	destination string
	count       int
	ack         string
	prefetch    int
	timeout     time.Duration
	durable     string
	clientID    string
	selector    string
	print       string

	// Derived by validate.
	target   stompTarget
	failover *failover.URI // set for a failover: or amqp:// --url, which the failover client serves
	hostSet  bool          // --host was given
	ackMode  stomp.AckMode
}

func newConsumeCmd() *cobra.Command { return newConsumeCommand(&consumeOptions{}) }

// newConsumeCommand builds the command around o (tests inspect o).
func newConsumeCommand(o *consumeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Receive messages from a queue or topic over STOMP or AMQP 1.0",
		Long: "Subscribe to a destination over STOMP (mqgate, ActiveMQ, RabbitMQ) or AMQP 1.0 and\n" +
			"print what arrives on standard output. Exits 0 after --count messages, on an interrupt\n" +
			"when --count is 0, or after --timeout idle when --count is 0; it exits non-zero\n" +
			"when --timeout or an interrupt ends it before --count messages arrived.\n" +
			"A one-line summary goes to standard error.\n\n" +
			"With a failover URL (failover:(uri,uri)?options, as ActiveMQ writes it) or an\n" +
			"amqp:// URL, the failover client receives: when a broker is lost it moves to the\n" +
			"next one and subscribes again (a --durable subscription by its name), writing one\n" +
			"line per failover to standard error. Messages printed but not yet acknowledged when\n" +
			"the broker was lost are delivered again, and printed again (at-least-once).",
		Example: "  mqgate consume -d /queue/orders -n 10\n" +
			"  mqgate consume -d /topic/prices --durable prices-audit --client-id audit-1 --print headers\n" +
			"  mqgate consume -d /queue/orders --selector \"region = 'EU'\" --ack client --timeout 5s\n" +
			"  mqgate consume --url 'failover:(tcp://a:61613,tcp://b:61613)' -d /queue/orders --ack client-individual",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	o.conn.register(fs)
	fs.Lookup("url").Usage = clientURLUsage
	fs.StringVarP(&o.destination, "destination", "d", "/queue/test", "where to subscribe: /queue/NAME or /topic/NAME")
	fs.IntVarP(&o.count, "count", "n", 0, "exit after this many messages (0: until interrupted or --timeout)")
	fs.StringVar(&o.ack, "ack", "auto", "acknowledgement mode: auto, client (cumulative) or client-individual; client modes ack each message after printing it")
	fs.IntVar(&o.prefetch, "prefetch", 0, "how many unacknowledged messages the broker may push (activemq.prefetchSize header; 0: the broker's default)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit after this long without a message (0: never)")
	fs.StringVar(&o.durable, "durable", "", "durable topic subscription NAME (activemq.subscriptionName header); needs --client-id and a /topic/ destination")
	fs.StringVar(&o.clientID, "client-id", "", "client ID sent on CONNECT (client-id header); identifies the owner of a --durable subscription")
	fs.StringVar(&o.selector, "selector", "", "JMS/SQL-92 message selector, e.g. \"priority > 4 AND region = 'EU'\"")
	fs.StringVar(&o.print, "print", "body", "what to print for each message: body, headers (headers, a blank line, the body) or none")
	return cmd
}

// parseAckMode maps an --ack value to go-stomp's mode.
func parseAckMode(s string) (stomp.AckMode, error) {
	switch s {
	case "auto":
		return stomp.AckAuto, nil
	case "client":
		return stomp.AckClient, nil
	case "client-individual":
		return stomp.AckClientIndividual, nil
	}
	return 0, fmt.Errorf("--ack %q: expected auto, client or client-individual", s)
}

// validate checks the flags and fills the derived fields.
func (o *consumeOptions) validate(cmd *cobra.Command) error {
	t, fo, err := o.conn.resolveClient()
	if err != nil {
		return err
	}
	o.target, o.failover, o.hostSet = t, fo, cmd.Flags().Changed("host")
	if err := validateDestination(o.destination); err != nil {
		return err
	}
	if o.count < 0 {
		return fmt.Errorf("--count must be 0 or more, got %d", o.count)
	}
	if o.ackMode, err = parseAckMode(o.ack); err != nil {
		return err
	}
	if o.prefetch < 0 {
		return fmt.Errorf("--prefetch must be 0 or more, got %d", o.prefetch)
	}
	if o.timeout < 0 {
		return fmt.Errorf("--timeout must not be negative, got %s", o.timeout)
	}
	if o.durable != "" {
		if o.clientID == "" {
			return errors.New("--durable needs --client-id: a durable subscription belongs to a client ID")
		}
		if !strings.HasPrefix(o.destination, "/topic/") {
			return fmt.Errorf("--durable needs a /topic/ destination, got %q", o.destination)
		}
	}
	for _, v := range []struct{ flag, val string }{{"durable", o.durable}, {"client-id", o.clientID}, {"selector", o.selector}} {
		if strings.ContainsAny(v.val, "\n\r\x00") {
			return fmt.Errorf("--%s: contains a line break or NUL", v.flag)
		}
	}
	switch o.print {
	case "body", "headers", "none":
	default:
		return fmt.Errorf("--print %q: expected body, headers or none", o.print)
	}
	return nil
}

func (o *consumeOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.failover != nil {
		return o.runFailover(ctx, stdout, stderr)
	}
	var extra [][2]string
	if o.clientID != "" {
		extra = append(extra, [2]string{"client-id", o.clientID})
	}
	conn, err := dialGoStomp(ctx, o.target, unackedBound(o.ackMode != stomp.AckAuto, o.prefetch), extra...)
	if err != nil {
		return err
	}
	defer conn.MustDisconnect()

	var opts []func(*frame.Frame) error
	if o.prefetch > 0 {
		opts = append(opts, stomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(o.prefetch)))
	}
	if o.selector != "" {
		opts = append(opts, stomp.SubscribeOpt.Header("selector", o.selector))
	}
	if o.durable != "" {
		opts = append(opts, stomp.SubscribeOpt.Header("activemq.subscriptionName", o.durable))
	}
	sub, err := conn.Subscribe(o.destination, o.ackMode, opts...)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", o.destination, err)
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var idle <-chan time.Time
	var idleTimer *time.Timer
	if o.timeout > 0 {
		idleTimer = time.NewTimer(o.timeout)
		defer idleTimer.Stop()
		idle = idleTimer.C
	}

	start := time.Now()
	n := 0
	var stopErr error
loop:
	for o.count == 0 || n < o.count {
		select {
		case <-ctx.Done():
			if o.count > 0 {
				stopErr = fmt.Errorf("interrupted after %d of %d messages", n, o.count)
			}
			break loop
		case <-idle:
			if o.count > 0 {
				stopErr = fmt.Errorf("no message for %s: received %d of %d", o.timeout, n, o.count)
			}
			break loop
		case msg, ok := <-sub.C:
			if !ok {
				return fmt.Errorf("subscription to %s closed after %d messages", o.destination, n)
			}
			if msg.Err != nil {
				return fmt.Errorf("subscription to %s: %w", o.destination, msg.Err)
			}
			n++
			if err := printMessage(out, o.print, msg); err != nil {
				return err
			}
			if msg.ShouldAck() {
				if err := conn.Ack(msg); err != nil {
					return fmt.Errorf("ack message %d: %w", n, err)
				}
			}
			if idleTimer != nil {
				idleTimer.Reset(o.timeout)
			}
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	el := time.Since(start)
	// Messages the broker pushed beyond --count are not acknowledged (it
	// redelivers them); keep draining them so go-stomp's loop can process
	// the DISCONNECT receipt.
	go func() {
		for range sub.C {
		}
	}()
	if err := conn.Disconnect(); err != nil && stopErr == nil {
		stopErr = fmt.Errorf("disconnect: %w", err)
	}
	fmt.Fprintf(stderr, "received %d messages from %s in %s (%s msgs/s)\n", n, o.destination, roundDuration(el), formatRate(float64(n)/el.Seconds()))
	return stopErr
}

// unackedBound is how many deliveries a subscription may leave unacknowledged:
// its prefetch, or with the broker's default prefetch ActiveMQ's largest
// (32766, for topics). With auto acks nothing waits.
func unackedBound(acks bool, prefetch int) int {
	switch {
	case !acks:
		return 0
	case prefetch > 0:
		return prefetch
	default:
		return 32766
	}
}

// printMessage writes msg to w as mode says.
func printMessage(w *bufio.Writer, mode string, msg *stomp.Message) error {
	switch mode {
	case "none":
		return nil
	case "headers":
		for i := 0; i < msg.Header.Len(); i++ {
			k, v := msg.Header.GetAt(i)
			fmt.Fprintf(w, "%s:%s\n", k, v)
		}
		w.WriteByte('\n')
	}
	w.Write(msg.Body)
	if len(msg.Body) == 0 || msg.Body[len(msg.Body)-1] != '\n' {
		w.WriteByte('\n')
	}
	return w.Flush()
}

// runFailover receives through the failover client (a failover: or
// amqp:// --url), which subscribes again after each failover.
func (o *consumeOptions) runFailover(ctx context.Context, stdout, stderr io.Writer) error {
	stderr = &lockedWriter{w: stderr}
	fopts := o.conn.failoverOptions(o.failover, o.hostSet, stderr)
	fopts.ClientID = o.clientID
	conn, err := failover.DialURI(ctx, o.failover, fopts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "connected to %s\n", conn.Broker())
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	ack := map[stomp.AckMode]failover.AckMode{
		stomp.AckAuto: failover.AckAuto, stomp.AckClient: failover.AckClient, stomp.AckClientIndividual: failover.AckIndividual,
	}[o.ackMode]
	sub, err := conn.Subscribe(ctx, o.destination, failover.SubOptions{
		Ack: ack, Prefetch: o.prefetch, Durable: o.durable, Selector: o.selector,
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", o.destination, err)
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	start := time.Now()
	n := 0
	var stopErr error
	for o.count == 0 || n < o.count {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if o.timeout > 0 {
			rctx, cancel = context.WithTimeout(ctx, o.timeout)
		}
		m, err := sub.Receive(rctx)
		idle := err != nil && rctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				if o.count > 0 {
					stopErr = fmt.Errorf("interrupted after %d of %d messages", n, o.count)
				}
			case idle:
				if o.count > 0 {
					stopErr = fmt.Errorf("no message for %s: received %d of %d", o.timeout, n, o.count)
				}
			default:
				return fmt.Errorf("subscription to %s after %d messages: %w", o.destination, n, err)
			}
			break
		}
		n++
		if err := printFailoverMessage(out, o.print, m); err != nil {
			return err
		}
		// A message that came on a lost connection cannot be acknowledged:
		// its broker delivers it again (ErrStaleAck).
		if err := sub.Ack(ctx, m); err != nil && !errors.Is(err, failover.ErrStaleAck) && ctx.Err() == nil {
			return fmt.Errorf("ack message %d: %w", n, err)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "received %d messages from %s in %s (%s msgs/s)\n", n, o.destination, roundDuration(el), formatRate(float64(n)/el.Seconds()))
	return stopErr
}

// printFailoverMessage writes m to w as mode says; "headers" prints
// message-id, destination, content-type and redelivered, then the
// properties sorted by name.
func printFailoverMessage(w *bufio.Writer, mode string, m *failover.Message) error {
	switch mode {
	case "none":
		return nil
	case "headers":
		fmt.Fprintf(w, "message-id:%s\ndestination:%s\n", m.ID, m.Destination)
		if m.ContentType != "" {
			fmt.Fprintf(w, "content-type:%s\n", m.ContentType)
		}
		if _, ok := m.Props["redelivered"]; m.Redelivered && !ok {
			w.WriteString("redelivered:true\n")
		}
		keys := make([]string, 0, len(m.Props))
		for k := range m.Props {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s:%s\n", k, m.Header(k))
		}
		w.WriteByte('\n')
	}
	w.Write(m.Body)
	if len(m.Body) == 0 || m.Body[len(m.Body)-1] != '\n' {
		w.WriteByte('\n')
	}
	return w.Flush()
}
