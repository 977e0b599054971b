package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

var ctx = context.Background()

// TestMain silences go-redis's own logger (a global one that prints to
// stderr): the reconnect messages of the fault tests are expected. After
// the tests it checks that no goroutine of this package (writer, lease
// renewal) outlived its store.
func TestMain(m *testing.M) {
	goredis.SetLogger(quiet{})
	clientLog.Do(func() {}) // Open must not replace it
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to timeout for the package's goroutines to
// exit and returns the stacks of those that did not.
func leakedGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "backend/redis.(*Store)") || strings.Contains(g, "backend/redis.(*redisLease)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond) // polling the condition
	}
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// open opens a store of group on the Redis at url, closed when the test
// ends.
func open(t testing.TB, url, group string, maxSize int64) *Store {
	t.Helper()
	s, err := Open(ctx, Options{URL: url, Group: group, MaxSize: maxSize, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openClient opens a store of group on a client of addr with short
// timeouts and few retries (for the tests that cut the network: the
// defaults wait 3 s per attempt, four times), closed when the test ends.
func openClient(t testing.TB, addr, group string) *Store {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr: addr, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, MaxRetries: 1,
	})
	s, err := Open(ctx, Options{Client: c, Group: group, Logger: testLogger(t)})
	if err != nil {
		c.Close()
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		_ = c.Close()
	})
	return s
}

func enq(q string, id uint64, data string) store.Record {
	return store.Record{Op: store.OpEnqueue, Queue: q, ID: id, Data: []byte(data)}
}

func ack(q string, id uint64) store.Record {
	return store.Record{Op: store.OpAck, Queue: q, ID: id}
}

func mustAppend(t testing.TB, s store.Store, m *storetest.Model, recs ...store.Record) {
	t.Helper()
	if err := s.Append(ctx, recs); err != nil {
		t.Fatalf("Append(%d records): %v", len(recs), err)
	}
	if m != nil {
		m.Apply(recs)
	}
}

func recoverAll(t testing.TB, s store.Store) []store.Record {
	t.Helper()
	var out []store.Record
	if err := s.Recover(ctx, func(r store.Record) error {
		r.Data = bytes.Clone(r.Data)
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return out
}

// check compares what s recovers with the model.
func check(t testing.TB, s store.Store, m *storetest.Model) {
	t.Helper()
	if d := storetest.Diff(m.Records(), recoverAll(t, s)); d != "" {
		t.Fatalf("Recover differs from the model: %s", d)
	}
}

// checkBytes checks that the store's byte counter matches the data and
// definitions the model holds.
func checkBytes(t testing.TB, srv *redistest.Server, s *Store, m *storetest.Model) {
	t.Helper()
	var want int64
	for _, r := range m.Records() {
		want += int64(len(r.Data))
	}
	got, err := srv.Client(t).Get(ctx, s.prefix+"bytes").Int64()
	if err != nil && !errors.Is(err, goredis.Nil) {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("bytes counter %d, stored data %d", got, want)
	}
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling the condition
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func acquire(t testing.TB, s *Store, node string, ttl time.Duration) *redisLease {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := s.Acquire(actx, node, ttl)
	if err != nil {
		t.Fatalf("%s: Acquire: %v", node, err)
	}
	return l.(*redisLease)
}

// pause stops renewing l without giving it up, as a paused process does:
// the lease key lapses after its ttl and l does not notice until it is
// fenced.
func (l *redisLease) pause() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}
