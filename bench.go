package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// benchConfig is one bench run, validated by the bench command.
type benchConfig struct {
	target       stompTarget
	consumerAt   stompTarget // where the consumers connect; Addr "" means target
	url          string      // as given, for the report
	producers    int
	consumers    int
	messages     int64         // messages to send after the warm-up; 0 with duration
	duration     time.Duration // send for this long after the warm-up; 0 with messages
	warmup       time.Duration // send (unmeasured) for this long first
	size         int
	persistent   bool
	receiptEvery int // producer waits for a receipt every K sends; 0 = never
	ack          string
	prefetch     int
	topic        bool
	rate         float64       // total msgs/s; 0 = full speed
	idleTimeout  time.Duration // give up after this long without progress
	client       string        // "lean" or "go-stomp"; "go-amqp" with protocol amqp
	protocol     string        // "stomp" (or "") or "amqp"
	groups       int           // messages spread over this many JMSXGroupIDs; 0 = none
	selector     string        // consumers' JMS selector; "" = none (senders then add no selector headers)
}

// benchSender is one producer connection, used by one goroutine.
type benchSender interface {
	// send sends message seq stamped ts (unix nanos); it may only buffer it.
	// With receipt it flushes and waits until the broker confirms it.
	send(seq, ts int64, receipt bool) error
	// pause flushes buffered messages: the producer is about to sleep.
	pause() error
	// finish flushes, waits until the broker has processed everything sent
	// (DISCONNECT with a receipt) and closes the connection.
	finish() error
	// close closes the connection; safe from any goroutine, at any time.
	close()
}

// benchReceiver is one subscribed consumer connection.
type benchReceiver interface {
	// receive records deliveries into t and counts the first delivery of
	// each message (to this consumer) in n until
	// interrupt is called (then it returns nil) or the connection fails.
	receive(t *consumerTally, n *atomic.Int64) error
	// interrupt makes receive return soon; safe from any goroutine.
	interrupt()
	// close disconnects; call after receive returned.
	close()
}

// producerPlan is what one producer sends.
type producerPlan struct {
	index        int
	quota        int64     // measured messages to send; -1 = until deadline
	measureStart time.Time // messages stamped earlier are warm-up
	deadline     time.Time // zero without --duration
	first        time.Time // when to send the first message (rate mode)
	interval     time.Duration
	receiptEvery int
}

// producerResult is what one producer did.
type producerResult struct {
	sent int64     // messages sent, seqs 0..sent-1, warm-up included
	warm int64     // of which sent before measureStart
	end  time.Time // when the broker confirmed the last one
	err  error
}

// runProducer is the send loop of one producer, shared by both clients.
// progress holds the number sent so far for the coordinator.
func runProducer(done <-chan struct{}, s benchSender, pl producerPlan, progress *atomic.Int64) producerResult {
	var res producerResult
	measureNs := pl.measureStart.UnixNano()
	next := pl.first
	var measured int64
	for pl.quota < 0 || measured < pl.quota {
		select {
		case <-done:
			res.err = errInterrupted
			s.close()
			return res
		default:
		}
		now := time.Now()
		if pl.interval > 0 {
			if now.Before(next) {
				if err := s.pause(); err != nil {
					res.err = fmt.Errorf("producer %d: flush: %w", pl.index, err)
					break
				}
				time.Sleep(next.Sub(now))
				now = time.Now()
			}
			next = next.Add(pl.interval)
		}
		ts := now.UnixNano()
		warm := ts < measureNs
		if !warm && !pl.deadline.IsZero() && !now.Before(pl.deadline) {
			break
		}
		seq := res.sent
		receipt := pl.receiptEvery > 0 && (seq+1)%int64(pl.receiptEvery) == 0
		if err := s.send(seq, ts, receipt); err != nil {
			res.err = fmt.Errorf("producer %d: send: %w", pl.index, err)
			break
		}
		res.sent++
		if warm {
			res.warm++
		} else {
			measured++
		}
		progress.Store(res.sent)
	}
	if res.err != nil {
		s.close()
		return res
	}
	if err := s.finish(); err != nil {
		res.err = fmt.Errorf("producer %d: finish: %w", pl.index, err)
		s.close()
		return res
	}
	res.end = time.Now()
	return res
}

var errInterrupted = errors.New("interrupted")

// paddedCounter keeps each goroutine's progress counter on its own cache
// line: producers and consumers update theirs once per message.
type paddedCounter struct {
	atomic.Int64
	_ [56]byte
}

// stopGrace is how long runBench waits for producers or consumers to stop
// before closing their connections, and again before giving up on them.
const stopGrace = 5 * time.Second

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// benchResult is the outcome of a run; --json prints it.
type benchResult struct {
	URL          string  `json:"url"`
	Destination  string  `json:"destination"`
	Client       string  `json:"client"`
	Mode         string  `json:"mode"` // queue or topic
	Producers    int     `json:"producers"`
	Consumers    int     `json:"consumers"`
	Size         int     `json:"size"`
	Persistent   bool    `json:"persistent"`
	Ack          string  `json:"ack"`
	Prefetch     int     `json:"prefetch"`
	ReceiptEvery int     `json:"receipt_every"`
	Rate         float64 `json:"rate"`
	Groups       int     `json:"groups,omitempty"`
	Selector     string  `json:"selector,omitempty"`
	WarmupSent   int64   `json:"warmup_sent"`

	Sent        int64   `json:"sent"`         // measured messages sent
	SendSeconds float64 `json:"send_seconds"` // from the end of the warm-up to the last receipt
	SendRate    float64 `json:"sent_per_sec"`

	Deliveries     int64   `json:"deliveries"`      // measured deliveries, all consumers
	ReceiveSeconds float64 `json:"receive_seconds"` // from the end of the warm-up to the last delivery
	ReceiveRate    float64 `json:"received_per_sec"`

	Latency latencySummary `json:"latency_ms"`
	Check   deliveryCheck  `json:"check"`
	OK      bool           `json:"ok"`
	Error   string         `json:"error,omitempty"`
}

// latencySummary is end-to-end latency in milliseconds.
type latencySummary struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

func summarizeLatency(h *latencyHist) latencySummary {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return latencySummary{
		Samples: h.n,
		P50:     ms(h.quantile(0.50)),
		P90:     ms(h.quantile(0.90)),
		P99:     ms(h.quantile(0.99)),
		Max:     ms(time.Duration(h.max)),
		Mean:    ms(h.mean()),
	}
}

// uniqueDestination returns a fresh destination name for one run.
func uniqueDestination(topic bool) string {
	var b [4]byte
	rand.Read(b[:])
	kind := "queue"
	if topic {
		kind = "topic"
	}
	return fmt.Sprintf("/%s/bench.%s.%s", kind, time.Now().UTC().Format("20060102T150405"), hex.EncodeToString(b[:]))
}

// splitQuota splits total messages over n producers.
func splitQuota(total int64, n, i int) int64 {
	q := total / int64(n)
	if int64(i) < total%int64(n) {
		q++
	}
	return q
}

// runBench runs one benchmark. It returns a result whenever the run got as
// far as sending, together with an error if something failed.
func runBench(ctx context.Context, cfg benchConfig) (*benchResult, error) {
	dest := uniqueDestination(cfg.topic)
	if cfg.protocol == "amqp" {
		dest = amqpAddress(dest)
	}
	res := &benchResult{
		URL: cfg.url, Destination: dest, Client: cfg.client, Mode: "queue",
		Producers: cfg.producers, Consumers: cfg.consumers, Size: cfg.size,
		Persistent: cfg.persistent, Ack: cfg.ack, Prefetch: cfg.prefetch,
		ReceiptEvery: cfg.receiptEvery, Rate: cfg.rate, Groups: cfg.groups, Selector: cfg.selector,
	}
	if cfg.topic {
		res.Mode = "topic"
	}
	body := make([]byte, cfg.size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}

	// Connect consumers first and wait until each subscription is in place,
	// so a topic loses nothing.
	var receivers []benchReceiver
	var senders []benchSender
	defer func() {
		for _, s := range senders {
			s.close()
		}
		for _, r := range receivers {
			r.close()
		}
	}()
	for i := 0; i < cfg.consumers; i++ {
		var r benchReceiver
		var err error
		if cfg.protocol == "amqp" {
			r, err = newAMQPReceiver(ctx, cfg, dest, i)
		} else if cfg.client == "go-stomp" {
			r, err = newGoStompReceiver(ctx, cfg, dest, i)
		} else {
			r, err = newLeanReceiver(ctx, cfg, dest, i)
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %d: %w", i, err)
		}
		receivers = append(receivers, r)
	}
	for i := 0; i < cfg.producers; i++ {
		var s benchSender
		var err error
		if cfg.protocol == "amqp" {
			s, err = newAMQPSender(ctx, cfg, dest, body, i)
		} else if cfg.client == "go-stomp" {
			s, err = newGoStompSender(ctx, cfg, dest, body, i)
		} else {
			s, err = newLeanSender(ctx, cfg, dest, body, i)
		}
		if err != nil {
			return nil, fmt.Errorf("producer %d: %w", i, err)
		}
		senders = append(senders, s)
	}

	start := time.Now()
	measureStart := start.Add(cfg.warmup)
	var deadline time.Time
	if cfg.duration > 0 {
		deadline = measureStart.Add(cfg.duration)
	}
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.producers) / cfg.rate)
	}

	done := make(chan struct{}) // closed to stop producers early
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(done) }) }

	tallies := make([]*consumerTally, cfg.consumers)
	recvCounts := make([]paddedCounter, cfg.consumers)
	recvErrs := make([]error, cfg.consumers)
	recvDone := make(chan int, cfg.consumers)
	var recvWG sync.WaitGroup
	for i, r := range receivers {
		tallies[i] = newConsumerTally(cfg.producers, measureStart.UnixNano())
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			recvErrs[i] = r.receive(tallies[i], &recvCounts[i].Int64)
			recvDone <- i
		}()
	}

	sentCounts := make([]paddedCounter, cfg.producers)
	prodRes := make([]producerResult, cfg.producers)
	var prodWG sync.WaitGroup
	for i, s := range senders {
		pl := producerPlan{
			index: i, quota: -1, measureStart: measureStart, deadline: deadline,
			first:        start.Add(time.Duration(int64(interval) * int64(i) / int64(cfg.producers))),
			interval:     interval,
			receiptEvery: cfg.receiptEvery,
		}
		if cfg.duration == 0 {
			pl.quota = splitQuota(cfg.messages, cfg.producers, i)
		}
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			prodRes[i] = runProducer(done, s, pl, &sentCounts[i].Int64)
		}()
	}
	prodDone := make(chan struct{})
	go func() { prodWG.Wait(); close(prodDone) }()

	// Watch until every expected delivery arrived, something failed, or
	// nothing moved for idleTimeout.
	var runErr error
	producersFinished := false
	var expected int64
	lastTotal, lastMove := int64(-1), time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
watch:
	for {
		select {
		case <-ctx.Done():
			runErr = errInterrupted
			break watch
		case i := <-recvDone:
			if recvErrs[i] != nil {
				runErr = fmt.Errorf("consumer %d: %w", i, recvErrs[i])
			} else {
				runErr = fmt.Errorf("consumer %d stopped", i)
			}
			break watch
		case <-prodDone:
			prodDone = nil
			producersFinished = true
			var sent int64
			for i := range prodRes {
				if prodRes[i].err != nil && runErr == nil {
					runErr = prodRes[i].err
				}
				sent += prodRes[i].sent
			}
			if runErr != nil {
				break watch
			}
			expected = sent
			if cfg.topic {
				expected *= int64(cfg.consumers)
			}
		case <-tick.C:
		}
		var total, received int64
		for i := range recvCounts {
			received += recvCounts[i].Load()
		}
		total = received
		for i := range sentCounts {
			total += sentCounts[i].Load()
		}
		if producersFinished && received >= expected {
			break
		}
		if total != lastTotal {
			lastTotal, lastMove = total, time.Now()
		} else if time.Since(lastMove) > cfg.idleTimeout {
			if producersFinished {
				runErr = fmt.Errorf("gave up waiting: %d of %d deliveries after %s without progress", received, expected, cfg.idleTimeout)
			} else {
				runErr = fmt.Errorf("stalled: no message sent or received for %s", cfg.idleTimeout)
			}
			break
		}
	}

	// Stop everything: producers (if still running) then consumers.
	stop()
	if !producersFinished {
		for _, s := range senders {
			s.close()
		}
		if !waitTimeout(&prodWG, stopGrace) {
			return nil, errors.Join(runErr, errors.New("producers did not stop"))
		}
	}
	for _, r := range receivers {
		r.interrupt()
	}
	if !waitTimeout(&recvWG, stopGrace) {
		for _, r := range receivers {
			r.close()
		}
		if !waitTimeout(&recvWG, stopGrace) {
			return nil, errors.Join(runErr, errors.New("consumers did not stop"))
		}
	}
	for i, err := range recvErrs {
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("consumer %d: %w", i, err)
		}
	}

	// Results.
	sent := make([]int64, cfg.producers)
	var lastEnd time.Time
	for i, pr := range prodRes {
		sent[i] = pr.sent
		res.WarmupSent += pr.warm
		res.Sent += pr.sent - pr.warm
		if pr.end.After(lastEnd) {
			lastEnd = pr.end
		}
	}
	if !lastEnd.IsZero() {
		res.SendSeconds = lastEnd.Sub(measureStart).Seconds()
	}
	var lat latencyHist
	var lastDelivery time.Time
	for _, t := range tallies {
		res.Deliveries += t.measured
		lat.merge(&t.lat)
		if t.last.After(lastDelivery) {
			lastDelivery = t.last
		}
	}
	if lastDelivery.After(measureStart) {
		res.ReceiveSeconds = lastDelivery.Sub(measureStart).Seconds()
	}
	if res.SendSeconds > 0 {
		res.SendRate = float64(res.Sent) / res.SendSeconds
	}
	if res.ReceiveSeconds > 0 {
		res.ReceiveRate = float64(res.Deliveries) / res.ReceiveSeconds
	}
	res.Latency = summarizeLatency(&lat)
	res.Check = checkDeliveries(sent, tallies, cfg.topic)
	res.OK = runErr == nil && res.Check.Lost == 0 && res.Check.Unexpected == 0
	if runErr != nil {
		res.Error = runErr.Error()
	} else if res.Check.Lost > 0 {
		runErr = fmt.Errorf("lost %d of %d deliveries", res.Check.Lost, res.Check.Expected)
	} else if res.Check.Unexpected > 0 {
		runErr = fmt.Errorf("%d unexpected deliveries (never sent, or without bench headers)", res.Check.Unexpected)
	}
	return res, runErr
}

// consumerTarget is the broker the consumers connect to: --consumer-url,
// else the producers' broker.
func (c benchConfig) consumerTarget() stompTarget {
	if c.consumerAt.Addr != "" {
		return c.consumerAt
	}
	return c.target
}
