package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

// serveFlags are the flags of a test `mqgate serve`: loopback, ephemeral
// ports, no AMQP, JSON logs (the tests read the bound addresses from them).
var serveFlags = []string{
	"serve",
	"--stomp-listen", "127.0.0.1:0",
	"--admin-listen", "127.0.0.1:0",
	"--amqp-listen", "",
	"--log-format", "json",
	"--node-id", "e2e-bin",
	"--shutdown-timeout", "5s",
	"--store-type", "memory",
}

// proc is a running mqgate process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done closes

	mu     sync.Mutex
	stderr []string         // every line
	logs   []map[string]any // the lines that are JSON
	stdout bytes.Buffer
}

// cleanEnv returns the environment without MQGATE_* variables, plus env.
func cleanEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQGATE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// startMQGate runs the binary with args and env (added to a clean
// environment); it is killed when the test ends if still running.
func startMQGate(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startMQGateVia(t, nil, env, args...)
}

// startMQGateVia is startMQGate with the binary run through a wrapper
// command (such as "ip netns exec NAME"), which must exec it in place.
func startMQGateVia(t *testing.T, wrapper []string, env []string, args ...string) *proc {
	t.Helper()
	bin := needBinary(t)
	argv := append(append(append([]string(nil), wrapper...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = cleanEnv(env...)
	cmd.Dir = t.TempDir() // where a relative node.data_dir would go
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.stdout}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var obj map[string]any
			p.mu.Lock()
			p.stderr = append(p.stderr, line)
			if json.Unmarshal([]byte(line), &obj) == nil {
				p.logs = append(p.logs, obj)
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it all first
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("mqgate %q stderr:\n%s", args, p.stderrText())
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

func (p *proc) stdoutText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// logField waits for a JSON log line whose message is msg and returns
// its field key as a string.
func (p *proc) logField(msg, key string) string {
	p.t.Helper()
	return p.logFieldWithin(msg, key, waitTimeout)
}

// logFieldWithin is logField with its own time limit, for start-ups that
// recover a large store on a loaded machine.
func (p *proc) logFieldWithin(msg, key string, limit time.Duration) string {
	p.t.Helper()
	var val string
	find := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.logs {
			if l["message"] == msg {
				switch v := l[key].(type) {
				case string:
					val = v
				case nil:
				default:
					val = fmt.Sprint(v) // a JSON number or boolean
				}
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(limit)
	for !find() {
		select {
		case <-p.done:
			if find() {
				return val
			}
			p.t.Fatalf("mqgate exited (%v) without logging %q\n%s", p.err, msg, p.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q log line within %v\n%s", msg, limit, p.stderrText())
		}
		waitTick()
	}
	return val
}

// wait waits up to timeout for the process to exit and returns its exit
// code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("mqgate still running after %v\n%s", timeout, p.stderrText())
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	p.t.Fatalf("mqgate: %v", p.err)
	return -1
}

// httpGet fetches url without keep-alive (no idle connections outlive
// the test).
func httpGet(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("GET %s: body %q is not JSON: %v", url, raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, body
}

// TestBinaryServe runs `mqgate serve`, checks the admin endpoints, sends
// and receives a message, and stops it with SIGTERM.
func TestBinaryServe(t *testing.T) {
	t.Parallel()
	p := startMQGate(t, nil, serveFlags...)
	stompAddr := p.logField("STOMP listening", "addr")
	adminAddr := p.logField("admin HTTP listening", "addr")
	p.logField("mqgate started", "version")
	if !strings.HasPrefix(stompAddr, "127.0.0.1:") || strings.HasSuffix(stompAddr, ":0") {
		t.Fatalf("STOMP listening on %q, want 127.0.0.1:<ephemeral port>", stompAddr)
	}

	code, health := httpGet(t, "http://"+adminAddr+"/healthz")
	if code != http.StatusOK || health["status"] != "ok" || health["node"] != "e2e-bin" {
		t.Errorf("/healthz: %d %v", code, health)
	}
	code, ready := httpGet(t, "http://"+adminAddr+"/readyz")
	if code != http.StatusOK || ready["ready"] != true {
		t.Errorf("/readyz: %d %v", code, ready)
	}

	b := &broker{addr: stompAddr}
	c := b.dial(t)
	if !strings.HasPrefix(c.Server(), "mqgate/") {
		t.Errorf("server header %q", c.Server())
	}
	q := "/queue/" + uniq("bin")
	sub := subscribe(t, c, q, stomp.AckClientIndividual)
	send(t, b.dial(t), q, "through the binary")
	ack(t, expectBody(t, sub, "through the binary"))
	barrier(t, c)

	// SIGTERM with a client still connected: a clean exit within the
	// shutdown timeout (5s), and the client sees its connection end.
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(5*time.Second + waitTimeout); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.stderrText())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v to stop, more than --shutdown-timeout 5s", took)
	}
	p.logField("stopped", "level")
	select {
	case m, ok := <-sub.C:
		if ok && m.Err == nil {
			t.Errorf("got message %q after SIGTERM", m.Body)
		}
	case <-time.After(waitTimeout):
		t.Error("client connection still open after the broker exited")
	}
}

// TestBinaryVersion: `mqgate version` prints the version.
func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	p := startMQGate(t, nil, "version")
	if code := p.wait(waitTimeout); code != 0 {
		t.Fatalf("exit code %d: %s", code, p.stderrText())
	}
	if out := p.stdoutText(); !strings.HasPrefix(out, "mqgate ") || strings.TrimSpace(out) == "mqgate" {
		t.Errorf("version output %q, want \"mqgate <version>\"", out)
	}
}

// TestBinaryHelp: --help describes the commands and the flags.
func TestBinaryHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		p := startMQGate(t, nil, args...)
		if code := p.wait(waitTimeout); code != 0 {
			t.Fatalf("%q: exit code %d: %s", args, code, p.stderrText())
		}
		out := p.stdoutText() + p.stderrText()
		want := []string{"--stomp-listen", "--config", "--store-type", "--admin-listen"}
		if args[0] == "--help" {
			want = append(want, "serve", "version")
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%q output lacks %q:\n%s", args, w, out)
			}
		}
	}
}

// TestBinaryBadStoreType: an invalid value is refused with its key.
func TestBinaryBadStoreType(t *testing.T) {
	t.Parallel()
	p := startMQGate(t, nil, append(slicesClone(serveFlags), "--store-type", "bogus")...)
	if code := p.wait(waitTimeout); code == 0 {
		t.Fatal("exit code 0 for --store-type bogus")
	}
	out := p.stderrText()
	for _, w := range []string{"store.type", "bogus"} {
		if !strings.Contains(out, w) {
			t.Errorf("error output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "STOMP listening") {
		t.Errorf("it listened before refusing the configuration:\n%s", out)
	}
}

// writeConfig writes a YAML config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mqgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBinaryUnknownConfigKey: an unknown key in the file is an error
// naming it.
func TestBinaryUnknownConfigKey(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "stomp:\n  listen: 127.0.0.1:0\n  bogus_key: 1\nadmin:\n  listen: 127.0.0.1:0\namqp:\n  listen: \"\"\nstore:\n  type: memory\n")
	p := startMQGate(t, nil, "serve", "--config", path)
	if code := p.wait(waitTimeout); code == 0 {
		t.Fatal("exit code 0 with an unknown key in the config file")
	}
	if out := p.stderrText(); !strings.Contains(out, "stomp.bogus_key") {
		t.Errorf("error output does not name stomp.bogus_key:\n%s", out)
	}
}

// TestBinaryEnvOverridesFile: MQGATE_STOMP_LISTEN beats the file's
// stomp.listen, and a flag beats both. The file's address cannot be bound
// here (192.0.2.1 is TEST-NET-1), so serving at all proves the override.
func TestBinaryEnvOverridesFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "stomp:\n  listen: \"192.0.2.1:61613\"\nadmin:\n  listen: \"\"\namqp:\n  listen: \"\"\nlog:\n  format: json\nshutdown:\n  timeout: 5s\nstore:\n  type: memory\n")

	t.Run("file alone", func(t *testing.T) {
		t.Parallel()
		p := startMQGate(t, nil, "serve", "--config", path)
		if code := p.wait(waitTimeout); code == 0 {
			t.Fatal("serving on 192.0.2.1 worked; the test's premise is wrong")
		}
		if out := p.stderrText(); !strings.Contains(out, "stomp.listen") {
			t.Errorf("error does not name stomp.listen:\n%s", out)
		}
	})
	cases := map[string]struct {
		env  []string
		args []string
	}{
		"env over file":  {[]string{"MQGATE_STOMP_LISTEN=127.0.0.1:0"}, nil},
		"flag over env":  {[]string{"MQGATE_STOMP_LISTEN=192.0.2.1:61614"}, []string{"--stomp-listen", "127.0.0.1:0"}},
		"env over file2": {[]string{"MQGATE_STOMP_LISTEN=127.0.0.1:0", "MQGATE_NODE_ID=from-env"}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := startMQGate(t, tc.env, append([]string{"serve", "--config", path}, tc.args...)...)
			addr := p.logField("STOMP listening", "addr")
			if !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Fatalf("STOMP listening on %q", addr)
			}
			b := &broker{addr: addr}
			c := b.dial(t)
			barrier(t, c)
			if strings.Contains(strings.Join(tc.env, " "), "MQGATE_NODE_ID=from-env") {
				if node := p.logField("mqgate started", "node"); node != "from-env" {
					t.Errorf("node %q, want from-env", node)
				}
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(5*time.Second + waitTimeout); code != 0 {
				t.Errorf("exit code %d after SIGTERM", code)
			}
		})
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestBinaryDiskStoreKeepsPersistentMessages: with the disk store, a
// persistent:true message outlives a restart and a non-persistent one
// does not (as in ActiveMQ, whose non-persistent messages live in memory).
func TestBinaryDiskStoreKeepsPersistentMessages(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	flags := append(slicesClone(serveFlags), "--store-type", "disk", "--node-data-dir", dataDir)
	q := "/queue/" + uniq("durable")

	p := startMQGate(t, nil, flags...)
	b := &broker{addr: p.logField("STOMP listening", "addr")}
	c := b.dial(t)
	send(t, c, q, "kept", stomp.SendOpt.Header("persistent", "true"))
	send(t, c, q, "lost")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(5*time.Second + waitTimeout); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}

	p = startMQGate(t, nil, flags...)
	b = &broker{addr: p.logField("STOMP listening", "addr")}
	c = b.dial(t)
	sub := subscribe(t, c, q, stomp.AckClientIndividual)
	m := expectBody(t, sub, "kept")
	if m.Header.Get("persistent") != "true" {
		t.Errorf("recovered message persistent=%q", m.Header.Get("persistent"))
	}
	ack(t, m)
	// The non-persistent one is gone: the next message is a new one.
	send(t, b.dial(t), q, "marker")
	ack(t, expectBody(t, sub, "marker"))
}
