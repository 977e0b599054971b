package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The queue-semantics tests (semantics_*_test.go) run the mqgate binary,
// as users do, with STOMP, AMQP and the admin endpoint on ephemeral ports
// and the memory store, and drive it with real clients.

// semBroker is a running `mqgate serve`.
type semBroker struct {
	p     *proc
	stomp string // STOMP host:port
	amqp  string // AMQP host:port
	admin string // admin HTTP host:port
}

// startSemBroker runs the binary with extra flags (such as
// "--broker-max-redeliveries", "2"); it is killed when the test ends.
func startSemBroker(t *testing.T, extra ...string) *semBroker {
	t.Helper()
	args := []string{"serve",
		"--stomp-listen", "127.0.0.1:0",
		"--amqp-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0",
		"--log-format", "json",
		"--node-id", "e2e-sem",
		"--shutdown-timeout", "5s",
		"--store-type", "memory",
	}
	p := startMQGate(t, nil, append(args, extra...)...)
	return &semBroker{
		p:     p,
		stomp: p.logField("STOMP listening", "addr"),
		amqp:  p.logField("AMQP 1.0 listening", "addr"),
		admin: p.logField("admin HTTP listening", "addr"),
	}
}

// semQueueStats is one row of the admin endpoint's /queues.
type semQueueStats struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Inflight  int    `json:"inflight"`
	Consumers int    `json:"consumers"`
}

// stats returns the row of the queue name (without "queue://"), or zeros.
func (b *semBroker) stats(t testing.TB, name string) semQueueStats {
	t.Helper()
	client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + b.admin + "/queues")
	if err != nil {
		t.Fatalf("GET /queues: %v", err)
	}
	defer resp.Body.Close()
	var qs []semQueueStats
	if err := json.NewDecoder(resp.Body).Decode(&qs); err != nil {
		t.Fatalf("GET /queues: %v", err)
	}
	for _, q := range qs {
		if q.Name == "queue://"+name {
			return q
		}
	}
	return semQueueStats{Name: "queue://" + name}
}

// waitQueue waits until the queue name holds ready and inflight messages.
func (b *semBroker) waitQueue(t testing.TB, name string, ready, inflight int) {
	t.Helper()
	var last semQueueStats
	eventually(t, waitTimeout, func() bool {
		last = b.stats(t, name)
		return last.Ready == ready && last.Inflight == inflight
	}, func() string {
		return fmt.Sprintf("%s: ready %d inflight %d, want %d and %d", name, last.Ready, last.Inflight, ready, inflight)
	})
}

// semRaw opens a raw STOMP 1.2 connection to b.
func (b *semBroker) semRaw(t testing.TB, extra ...string) *rawConn {
	t.Helper()
	c := dialRaw(t, b.stomp)
	c.connect("1.2", extra...)
	c.version = "1.2"
	return c
}

// sendR sends a frame with a fresh receipt header and returns the frames
// that came before its RECEIPT (all of them MESSAGE frames, or the test
// fails): on one connection, the broker writes the deliveries a frame
// caused before that frame's RECEIPT.
func sendR(c *rawConn, cmd, body string, kv ...string) []*rawFrame {
	c.t.Helper()
	id := "r" + strconv.FormatUint(nameSeq.Add(1), 10)
	c.send(cmd, body, append(kv, "receipt", id)...)
	return c.untilReceipt(id, func(f *rawFrame) bool { return f.Command == "MESSAGE" })
}

// msgSummary renders frames as "sub:body" for failure messages and
// comparisons.
func msgSummary(fs []*rawFrame) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Value("subscription") + ":" + string(f.Body)
	}
	return strings.Join(parts, " ")
}

// expectMessages reads n MESSAGE frames (failing on any other frame).
func expectMessages(c *rawConn, n int) []*rawFrame {
	c.t.Helper()
	out := make([]*rawFrame, 0, n)
	for range n {
		out = append(out, c.expect("MESSAGE"))
	}
	return out
}

// past returns an expires header value some time in the past.
func past() string { return strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10) }
