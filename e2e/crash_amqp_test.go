package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
)

// crashConsumeAMQP receives over AMQP 1.0 (go-amqp, credit 10, unsettled)
// and accepts each message until the connection breaks, recording in l.
// A message received again must carry a delivery-count above 0.
func crashConsumeAMQP(conn *amqp.Conn, source string, l *crashLedger) {
	defer conn.Close()
	ctx := context.Background()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		return
	}
	r, err := s.NewReceiver(ctx, source, &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		return
	}
	for {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			return
		}
		id := string(m.GetData()) // the producer's text body arrives as an amqp-value string
		if v, ok := m.Value.(string); ok {
			id = v
		}
		l.mu.Lock()
		if !l.sent[id] {
			l.bad = append(l.bad, "received a message that was never sent: "+id)
		}
		if l.received[id] > 0 && (m.Header == nil || m.Header.DeliveryCount == 0) {
			l.unflagged = append(l.unflagged, id)
		}
		l.received[id]++
		l.mu.Unlock()
		if r.AcceptMessage(ctx, m) != nil {
			return
		}
	}
}

// TestCrashSIGKILLAMQPConsumers: the SIGKILL loop of
// TestCrashSIGKILLLosesNothingConfirmed with AMQP consumers: nothing
// confirmed is lost, and a message an AMQP consumer sees again after a
// crash has a delivery-count above 0 (the broker writes a delivery only
// once its delivered mark is stored).
func TestCrashSIGKILLAMQPConsumers(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	dataDir := t.TempDir()
	const dest, source = "/queue/crash.amqp", "queue://crash.amqp"
	l := newCrashLedger()
	start := func() (*proc, string, string, string) {
		p, addr, admin := crashStart(t, dataDir, "--amqp-listen", "127.0.0.1:0")
		return p, addr, p.logField("AMQP 1.0 listening", "addr"), admin
	}
	dial := func(addr string) *amqp.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		conn, err := amqp.Dial(ctx, "amqp://"+addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	for r := range rounds {
		p, stompAddr, amqpAddr, _ := start()
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); crashProduce(stompAddr, dest, fmt.Sprintf("r%d-p%d", r, i), l) }()
		}
		for range 2 {
			conn := dial(amqpAddr)
			wg.Add(1)
			go func() { defer wg.Done(); crashConsumeAMQP(conn, source, l) }()
		}
		target := l.confirmedCount() + 50 + r*37%300
		eventually(t, 60*time.Second, func() bool { return l.confirmedCount() >= target }, func() string {
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Sprintf("round %d: %d confirmed, want %d; problems: %v", r, len(l.confirmed), target, l.bad)
		})
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(waitTimeout)
		wg.Wait()
	}

	_, _, amqpAddr, admin := start()
	conn := dial(amqpAddr)
	done := make(chan struct{})
	go func() { defer close(done); crashConsumeAMQP(conn, source, l) }()
	eventually(t, 60*time.Second, func() bool {
		return crashDepth(t, admin, "queue://crash.amqp") == 0
	}, func() string {
		return fmt.Sprintf("drain: depth %d", crashDepth(t, admin, "queue://crash.amqp"))
	})
	conn.Close()
	<-done

	l.mu.Lock()
	defer l.mu.Unlock()
	var lost []string
	for id := range l.confirmed {
		if l.received[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("%d confirmed messages never delivered, e.g. %v", len(lost), lost[:min(10, len(lost))])
	}
	for _, b := range l.bad {
		t.Error(b)
	}
	if len(l.unflagged) > 0 {
		t.Errorf("%d messages delivered again with delivery-count 0, e.g. %v", len(l.unflagged), l.unflagged[:min(5, len(l.unflagged))])
	}
	again := 0
	for _, n := range l.received {
		if n > 1 {
			again++
		}
	}
	t.Logf("%d rounds: %d sent, %d confirmed, %d delivered, %d more than once, %d of them with delivery-count 0",
		rounds, len(l.sent), len(l.confirmed), len(l.received), again, len(l.unflagged))
	if len(l.confirmed) == 0 {
		t.Fatal("nothing was confirmed: the test did not test anything")
	}
}
