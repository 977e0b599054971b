package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// debianPython is the interpreter with Debian's python3-stomp; python3 on
// PATH may be another installation without it.
const debianPython = "/usr/bin/python3"

// needStompPy skips t unless /usr/bin/python3 can import stomp.
func needStompPy(t *testing.T) {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import stomp; print(stomp.__version__)").CombinedOutput()
	if err != nil {
		t.Skipf("stomp.py is not available: %s -c 'import stomp' failed: %v: %s (install Debian's python3-stomp)", debianPython, err, bytes.TrimSpace(out))
	}
	t.Logf("stomp.py %s", bytes.TrimSpace(out))
}

// runStompPy runs one scenario of testdata/stomppy_client.py against b
// and returns its JSON result, failing t if the script failed.
func runStompPy(t *testing.T, b *broker, scenario, version string) map[string]any {
	t.Helper()
	host, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, filepath.Join("testdata", "stomppy_client.py"),
		host, port, scenario, version, uniq("py"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stomp.py %s %s: no JSON result (%v, run: %v)\nstdout: %s\nstderr: %s", scenario, version, err, runErr, stdout.String(), stderr.String())
	}
	if res["ok"] != true {
		t.Fatalf("stomp.py %s %s failed: %v\n%v\nstderr: %s", scenario, version, res["error"], res["trace"], stderr.String())
	}
	return res
}

// strs converts a JSON array of strings.
func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestStompPySendReceiveAck: stomp.py sends, receives and acks in each
// version; acked messages are gone.
func TestStompPySendReceiveAck(t *testing.T) {
	needStompPy(t)
	b := startBroker(t)
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			res := runStompPy(t, b, "sendrecv", v)
			want := []string{"py message 0", "py message 1", "py message 2"}
			if got := strs(res["bodies"]); !slices.Equal(got, want) {
				t.Errorf("bodies %q, want %q", got, want)
			}
			if got := res["after_ack"]; got != "marker" {
				t.Errorf("after acking everything, a new consumer got %q first, want marker", got)
			}
			connected, _ := res["connected"].(map[string]any)
			if v != "1.0" && connected["version"] != v {
				t.Errorf("CONNECTED version %v, want %s", connected["version"], v)
			}
			h, _ := res["first_headers"].(map[string]any)
			for k, want := range map[string]string{"x-py": "v1", "colon": "a:b", "correlation-id": "py-corr"} {
				if h[k] != want {
					t.Errorf("header %s = %v, want %q (headers %v)", k, h[k], want, h)
				}
			}
			if id, _ := h["message-id"].(string); id == "" {
				t.Errorf("no message-id in %v", h)
			}
		})
	}
}

// TestStompPyTransaction: stomp.py's BEGIN/COMMIT/ABORT.
func TestStompPyTransaction(t *testing.T) {
	needStompPy(t)
	t.Parallel()
	b := startBroker(t)
	res := runStompPy(t, b, "tx", "1.2")
	want := []string{"outside", "tx 1", "tx 2", "after abort"}
	if got := strs(res["order"]); !slices.Equal(got, want) {
		t.Errorf("delivery order %q, want %q", got, want)
	}
}

// TestStompPyDurableSubscription: stomp.py gets what a topic published
// while its durable subscription was away.
func TestStompPyDurableSubscription(t *testing.T) {
	needStompPy(t)
	t.Parallel()
	b := startBroker(t)
	res := runStompPy(t, b, "durable", "1.2")
	want := []string{"while away 1", "while away 2"}
	if got := strs(res["bodies"]); !slices.Equal(got, want) {
		t.Errorf("bodies %q, want %q", got, want)
	}
}

// TestStompPyNackToDLQ: a stomp.py NACK sends the message to the DLQ.
func TestStompPyNackToDLQ(t *testing.T) {
	needStompPy(t)
	b := startBroker(t)
	for _, v := range []string{"1.1", "1.2"} {
		t.Run(v, func(t *testing.T) {
			res := runStompPy(t, b, "nack", v)
			if res["dlq_body"] != "poison" || res["dlq_destination"] != "/queue/ActiveMQ.DLQ" {
				t.Errorf("DLQ got %v at %v", res["dlq_body"], res["dlq_destination"])
			}
			if res["dlq_id"] != res["original_id"] || !strings.HasPrefix(res["dlq_id"].(string), "ID:") {
				t.Errorf("DLQ message-id %v, original %v", res["dlq_id"], res["original_id"])
			}
		})
	}
}
