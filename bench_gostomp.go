package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// The go-stomp client behind `mqgate bench --client go-stomp`, kept to show
// how much the lean client gains (docs/benchmarks.md).

// goStompSender is a producer over go-stomp: every Send is a channel hop to
// go-stomp's I/O goroutine, which flushes each frame.
type goStompSender struct {
	conn       *stomp.Conn
	dest       string
	body       []byte
	persistent bool
	index      string
	closeOnce  sync.Once
}

func newGoStompSender(ctx context.Context, cfg benchConfig, dest string, body []byte, index int) (*goStompSender, error) {
	conn, err := dialGoStomp(ctx, cfg.target, 0)
	if err != nil {
		return nil, err
	}
	return &goStompSender{conn: conn, dest: dest, body: body, persistent: cfg.persistent, index: strconv.Itoa(index)}, nil
}

func (s *goStompSender) send(seq, ts int64, receipt bool) error {
	opts := make([]func(*frame.Frame) error, 0, 5)
	opts = append(opts,
		stomp.SendOpt.Header("bench-p", s.index),
		stomp.SendOpt.Header("bench-seq", strconv.FormatInt(seq, 10)),
		stomp.SendOpt.Header("bench-ts", strconv.FormatInt(ts, 10)))
	if s.persistent {
		opts = append(opts, stomp.SendOpt.Header("persistent", "true"))
	}
	if receipt {
		opts = append(opts, stomp.SendOpt.Receipt)
	}
	return s.conn.Send(s.dest, "", s.body, opts...)
}

func (s *goStompSender) pause() error { return nil }

func (s *goStompSender) finish() error {
	err := s.conn.Disconnect()
	s.close()
	return err
}

func (s *goStompSender) close() {
	s.closeOnce.Do(func() { s.conn.MustDisconnect() })
}

// goStompReceiver is a consumer over go-stomp.
type goStompReceiver struct {
	conn      *stomp.Conn
	sub       *stomp.Subscription
	stop      chan struct{}
	stopOnce  sync.Once
	closeOnce sync.Once
}

func newGoStompReceiver(ctx context.Context, cfg benchConfig, dest string, _ int) (*goStompReceiver, error) {
	mode, err := parseAckMode(cfg.ack)
	if err != nil {
		return nil, err
	}
	conn, err := dialGoStomp(ctx, cfg.consumerTarget(), unackedBound(mode != stomp.AckAuto, cfg.prefetch))
	if err != nil {
		return nil, err
	}
	var opts []func(*frame.Frame) error
	if cfg.prefetch > 0 {
		opts = append(opts,
			stomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(cfg.prefetch)),
			stomp.SubscribeOpt.Header("prefetch-count", strconv.Itoa(cfg.prefetch)))
	}
	sub, err := conn.Subscribe(dest, mode, opts...)
	if err != nil {
		conn.MustDisconnect()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	// go-stomp cannot wait for a SUBSCRIBE receipt (a RECEIPT would close
	// the subscription's channel); give the broker a moment instead.
	time.Sleep(200 * time.Millisecond)
	return &goStompReceiver{conn: conn, sub: sub, stop: make(chan struct{})}, nil
}

func (r *goStompReceiver) receive(t *consumerTally, n *atomic.Int64) error {
	for {
		select {
		case <-r.stop:
			return nil
		case msg, ok := <-r.sub.C:
			if !ok {
				return fmt.Errorf("subscription closed")
			}
			if msg.Err != nil {
				return msg.Err
			}
			p, _ := strconv.ParseInt(msg.Header.Get("bench-p"), 10, 64)
			seq, err := strconv.ParseInt(msg.Header.Get("bench-seq"), 10, 64)
			if err != nil {
				seq = -1
			}
			ts, _ := strconv.ParseInt(msg.Header.Get("bench-ts"), 10, 64)
			if t.record(int(p), seq, ts, time.Now()) {
				n.Add(1)
			}
			if msg.ShouldAck() {
				if err := r.conn.Ack(msg); err != nil {
					return fmt.Errorf("ack: %w", err)
				}
			}
		}
	}
}

func (r *goStompReceiver) interrupt() {
	r.stopOnce.Do(func() { close(r.stop) })
}

func (r *goStompReceiver) close() {
	r.closeOnce.Do(func() {
		go func() {
			for range r.sub.C {
			}
		}()
		r.conn.MustDisconnect()
	})
}
