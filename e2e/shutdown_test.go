package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

// TestCloseGraceful: Close while producers pipeline SENDs with receipts:
// every SEND the broker took is receipted before its connection closes
// (and no receipt is for a message the broker does not have), consumers
// are disconnected, new connections are refused, and Close returns.
func TestCloseGraceful(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("closing")
	q := "/queue/" + qn

	consumer := b.dial(t)
	sub := subscribe(t, consumer, "/queue/"+uniq("idle"), stomp.AckAuto)

	const producers = 4
	type result struct {
		receipts int
		err      error
	}
	results := make(chan result, producers)
	var total atomic.Int64
	for p := range producers {
		c := dialRaw(t, b.addr)
		c.connect("1.2")
		go func() { // writer: pipelines SENDs until the broker goes away
			for i := 0; ; i++ {
				if c.write(encodeFrame("1.2", "SEND", "m", "destination", q, "receipt", fmt.Sprintf("p%d-%d", p, i))) != nil {
					return
				}
			}
		}()
		go func() { // reader: receipts in order, then a clean close
			n := 0
			for {
				f, err := c.readFrame(waitTimeout)
				if errors.Is(err, io.EOF) {
					results <- result{receipts: n}
					return
				}
				if err != nil {
					results <- result{n, err}
					return
				}
				if want := fmt.Sprintf("p%d-%d", p, n); f.Command != "RECEIPT" || f.Value("receipt-id") != want {
					results <- result{n, fmt.Errorf("got %s, want RECEIPT %s", f, want)}
					return
				}
				n++
				total.Add(1)
			}
		}()
	}
	eventually(t, waitTimeout, func() bool { return total.Load() >= 200 })

	start := time.Now()
	b.close(t) // fails the test if Close errs (its context is waitTimeout)
	t.Logf("Close took %v", time.Since(start))

	receipts := 0
	for range producers {
		select {
		case r := <-results:
			if r.err != nil {
				t.Errorf("producer: %v", r.err)
			}
			receipts += r.receipts
		case <-time.After(waitTimeout):
			t.Fatal("a producer's connection was not closed by Close")
		}
	}
	ready, inflight := b.depth(qn)
	if ready+inflight != receipts {
		t.Errorf("producers got %d receipts; the queue holds %d messages", receipts, ready+inflight)
	}
	t.Logf("%d receipted SENDs at Close", receipts)

	// The consumer's connection is gone too.
	select {
	case m, ok := <-sub.C:
		if ok && m.Err == nil {
			t.Errorf("consumer got a message %q at Close", m.Body)
		}
	case <-time.After(waitTimeout):
		t.Error("consumer connection still open after Close")
	}
	if nc, err := net.DialTimeout("tcp", b.addr, time.Second); err == nil {
		nc.Close()
		t.Error("the STOMP port still accepts connections after Close")
	}
	// A second Close is harmless.
	if err := b.gw.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseWithStuckClient: a client that reads nothing while its
// messages pile up does not hold Close past its context.
func TestCloseWithStuckClient(t *testing.T) {
	if testing.Short() {
		t.Skip("moves several MiB; skipped with -short")
	}
	t.Parallel()
	b := startBroker(t)
	q := "/queue/" + uniq("stuck")
	stuck := dialRaw(t, b.addr)
	_ = stuck.nc.(*net.TCPConn).SetReadBuffer(4096) // fill up sooner
	stuck.connect("1.2")
	stuck.send("SUBSCRIBE", "", "destination", q, "id", "s", "receipt", "r")
	stuck.expectReceipt("r")
	// Fill the socket buffers: the broker's writer blocks on this client.
	prod := b.dial(t)
	body := []byte(strings.Repeat("z", 64<<10))
	fill := time.Now()
	for range 100 {
		if err := prod.Send(q, "", body); err != nil {
			t.Fatal(err)
		}
	}
	barrier(t, prod)
	t.Logf("filling took %v", time.Since(fill))

	b.closed.Store(true) // this test closes the gateway itself
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- b.gw.Close(ctx) }()
	select {
	case err := <-done:
		t.Logf("Close returned %v after %v", err, time.Since(start))
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return although its context ended")
	}
}

// TestCloseDuringConnect: connections arriving while the gateway closes
// are served, refused or closed, never left hanging.
func TestCloseDuringConnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	var wg sync.WaitGroup
	var sessions atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.DialTimeout("tcp", b.addr, waitTimeout)
				if err != nil {
					continue // refused: the listener is closed
				}
				c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc), version: "1.0"}
				_ = c.write(encodeFrame("1.2", "CONNECT", "", "accept-version", "1.2", "host", "x") +
					encodeFrame("1.2", "SEND", "x", "destination", "/queue/churn", "receipt", "r"))
				for {
					f, err := c.readFrame(waitTimeout)
					if errors.Is(err, io.EOF) {
						break // closed by the shutdown
					}
					if err != nil {
						t.Errorf("connection left hanging at Close: %v", err)
						break
					}
					if f.Command == "RECEIPT" {
						sessions.Add(1)
						break
					}
					if f.Command != "CONNECTED" && f.Command != "ERROR" {
						t.Errorf("unexpected %s", f)
						break
					}
				}
				nc.Close()
			}
		}()
	}
	eventually(t, waitTimeout, func() bool { return sessions.Load() >= 20 })
	b.close(t)
	close(stop)
	wg.Wait()
}
