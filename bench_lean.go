package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// leanSender is a producer over the lean client: SENDs are encoded into the
// connection's write buffer and go out when it fills, when the producer
// pauses, or when a receipt is due. A reader goroutine collects RECEIPT and
// ERROR frames.
type leanSender struct {
	c          *leanConn
	dest       string
	body       []byte
	persistent bool
	index      int

	nextReceipt int64
	receipts    chan int64    // receipt ids from the reader goroutine
	readDone    chan struct{} // closed when the reader goroutine exits
	readErr     error         // why it exited; read after readDone
	closeOnce   sync.Once
}

func newLeanSender(ctx context.Context, cfg benchConfig, dest string, body []byte, index int) (*leanSender, error) {
	c, err := dialLean(ctx, cfg.target)
	if err != nil {
		return nil, err
	}
	c.groups, c.selectable = cfg.groups, cfg.selector != ""
	s := &leanSender{
		c: c, dest: dest, body: body, persistent: cfg.persistent, index: index,
		receipts: make(chan int64, 64),
		readDone: make(chan struct{}),
	}
	go s.readLoop()
	return s, nil
}

// readLoop owns reading from the connection.
func (s *leanSender) readLoop() {
	defer close(s.readDone)
	for {
		f, err := s.c.readFrame()
		if err != nil {
			s.readErr = err
			return
		}
		switch f.kind {
		case kindReceipt:
			id := f.receiptID
			if len(id) < 2 || id[0] != 's' {
				s.readErr = fmt.Errorf("unexpected receipt-id %q", id)
				return
			}
			n, ok := parseNonNeg(id[1:])
			if !ok {
				s.readErr = fmt.Errorf("unexpected receipt-id %q", id)
				return
			}
			s.receipts <- n
		case kindError:
			s.readErr = f.errorValue()
			return
		}
	}
}

func (s *leanSender) send(seq, ts int64, receipt bool) error {
	var rid int64
	if receipt {
		s.nextReceipt++
		rid = s.nextReceipt
	}
	if err := s.c.sendBench(s.dest, s.body, s.persistent, s.index, seq, ts, rid); err != nil {
		return s.writeErr(err)
	}
	if receipt {
		return s.awaitReceipt(rid)
	}
	return nil
}

// writeErr prefers the broker's ERROR over the broken pipe it caused.
func (s *leanSender) writeErr(err error) error {
	select {
	case <-s.readDone:
		if s.readErr != nil && !errors.Is(s.readErr, net.ErrClosed) {
			return s.readErr
		}
	case <-time.After(100 * time.Millisecond):
	}
	return err
}

// awaitReceipt flushes and waits for receipt rid.
func (s *leanSender) awaitReceipt(rid int64) error {
	if err := s.c.flush(); err != nil {
		return s.writeErr(err)
	}
	check := func(got int64) error {
		if got != rid {
			return fmt.Errorf("receipt s%d arrived while waiting for s%d", got, rid)
		}
		return nil
	}
	select {
	case got := <-s.receipts:
		return check(got)
	case <-s.readDone:
		// The broker may close right after the receipt (DISCONNECT): the
		// reader queued it before it saw EOF.
		select {
		case got := <-s.receipts:
			return check(got)
		default:
		}
		if s.readErr == nil {
			return errors.New("connection closed")
		}
		return s.readErr
	}
}

func (s *leanSender) pause() error {
	if err := s.c.flush(); err != nil {
		return s.writeErr(err)
	}
	return nil
}

func (s *leanSender) finish() error {
	s.nextReceipt++
	rid := s.nextReceipt
	if err := s.c.disconnect("s" + strconv.FormatInt(rid, 10)); err != nil {
		return s.writeErr(err)
	}
	err := s.awaitReceipt(rid)
	s.close()
	return err
}

func (s *leanSender) close() {
	s.closeOnce.Do(func() { s.c.close() })
}

// leanReceiver is a consumer over the lean client. receive parses MESSAGE
// frames in place and buffers ACKs, flushing them whenever the read buffer
// runs dry (so one flush carries every ACK for a burst of deliveries).
type leanReceiver struct {
	c        *leanConn
	ackMode  string
	ackEvery int // client mode: cumulative ACK at least every ackEvery messages
	stopping atomic.Bool
	closed   atomic.Bool
}

func newLeanReceiver(ctx context.Context, cfg benchConfig, dest string, index int) (*leanReceiver, error) {
	c, err := dialLean(ctx, cfg.consumerTarget())
	if err != nil {
		return nil, err
	}
	r := &leanReceiver{c: c, ackMode: cfg.ack, ackEvery: max(cfg.prefetch/2, 1)}
	if cfg.prefetch == 0 {
		r.ackEvery = 100
	}
	const receipt = "sub"
	var extra [][2]string
	if cfg.selector != "" {
		extra = append(extra, [2]string{"selector", cfg.selector})
	}
	if err := c.subscribe(dest, strconv.Itoa(index), cfg.ack, cfg.prefetch, receipt, extra); err != nil {
		c.close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if err := c.flush(); err != nil {
		c.close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := c.readFrame()
		if err != nil {
			c.close()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, errors.New("subscribe: no RECEIPT within 30s")
			}
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		if f.kind == kindError {
			c.close()
			return nil, fmt.Errorf("subscribe: %w", f.errorValue())
		}
		if f.kind == kindReceipt && string(f.receiptID) == receipt {
			break
		}
	}
	c.nc.SetReadDeadline(time.Time{})
	return r, nil
}

func (r *leanReceiver) receive(t *consumerTally, n *atomic.Int64) error {
	c := r.c
	var pending int // client mode: messages not yet covered by an ACK
	var ackID, msgID, subID []byte
	flushAcks := func() error {
		if pending > 0 {
			if err := c.ackRaw(ackID, msgID, subID); err != nil {
				return err
			}
			pending = 0
		}
		if c.w.Buffered() > 0 {
			return c.flush()
		}
		return nil
	}
	for {
		if c.r.Buffered() == 0 {
			if err := flushAcks(); err != nil {
				return r.filter(fmt.Errorf("ack: %w", err))
			}
		}
		f, err := c.readFrame()
		if err != nil {
			return r.filter(err)
		}
		switch f.kind {
		case kindMessage:
			if t.record(int(f.benchP), f.benchSeq, f.benchTS, time.Now()) {
				n.Add(1)
			}
			switch r.ackMode {
			case "client-individual":
				err = c.ack(f)
			case "client":
				ackID = append(ackID[:0], f.ack...)
				msgID = append(msgID[:0], f.messageID...)
				subID = append(subID[:0], f.subscription...)
				pending++
				if pending >= r.ackEvery {
					err = flushAcks()
				}
			}
			if err != nil {
				return r.filter(fmt.Errorf("ack: %w", err))
			}
		case kindError:
			return f.errorValue()
		}
	}
}

// filter turns the error caused by interrupt into nil.
func (r *leanReceiver) filter(err error) error {
	if r.stopping.Load() {
		return nil
	}
	return err
}

func (r *leanReceiver) interrupt() {
	r.stopping.Store(true)
	r.c.interrupt()
}

func (r *leanReceiver) close() {
	if r.closed.Swap(true) {
		return
	}
	// Best effort: a polite DISCONNECT, without waiting for its receipt.
	r.c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if r.c.disconnect("") == nil {
		r.c.flush()
	}
	r.c.close()
}
