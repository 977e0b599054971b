// Package redistest runs real redis-server and redis-sentinel processes for
// tests: each on a free loopback port with its data in t.TempDir(), and a
// server can be stopped, killed (SIGKILL) and restarted on the same port
// and data. A test is skipped, with a message saying what to install, when
// redis-server is missing.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// startTimeout bounds how long a process may take to answer PING (an
// append-only file of a few hundred MB loads within it).
const startTimeout = 60 * time.Second

// Options configures a Server.
type Options struct {
	// AppendFsync is Redis's appendfsync: "always" (the default here, so
	// that an acknowledged write survives SIGKILL), "everysec" or "no".
	AppendFsync string
	// NoPersistence turns the append-only file off (appendonly no, no RDB
	// snapshots): for benchmarks and tests that never restart.
	NoPersistence bool
	// Args are more redis-server arguments, e.g. "--maxmemory", "10mb".
	Args []string
}

// Server is a redis-server child process. Its methods are called from the
// test's goroutine (they may call t.Fatal).
type Server struct {
	// Addr is the server's host:port on 127.0.0.1; it stays the same across
	// Restart.
	Addr string
	// Dir holds its append-only file and its log (redis.log).
	Dir string

	t    testing.TB
	bin  string
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// binary returns the path of name, or skips t when it is not installed.
func binary(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	t.Skipf("%s is not installed: apt-get install %s (scripts/test does it)", name, pkg)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Installed reports whether redis-server (and, with sentinel, also
// redis-sentinel) can be run.
func Installed(sentinel bool) bool {
	names := []string{"redis-server"}
	if sentinel {
		names = append(names, "redis-sentinel")
	}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil && !fileExists("/usr/bin/"+n) {
			return false
		}
	}
	return true
}

// Start starts a redis-server on a free loopback port and kills it when the
// test ends. It skips t when redis-server is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.AppendFsync == "" {
		opts.AppendFsync = "always"
	}
	s := &Server{t: t, bin: binary(t, "redis-server", "redis-server"), Dir: t.TempDir(), opts: opts}
	t.Cleanup(s.Kill)
	// A free port can be taken between our probe and redis's bind: try a
	// few.
	var err error
	for range 5 {
		s.Addr = freeAddr(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// URL returns redis://Addr/0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Port returns the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Client returns a go-redis client of the server, closed when the test
// ends: for looking at or tampering with keys behind a store's back.
func (s *Server) Client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) args() []string {
	_, port, _ := net.SplitHostPort(s.Addr)
	a := []string{
		"--bind", "127.0.0.1", "--port", port, "--dir", s.Dir,
		"--logfile", filepath.Join(s.Dir, "redis.log"), "--daemonize", "no",
		"--save", "", "--protected-mode", "no",
	}
	if s.opts.NoPersistence {
		a = append(a, "--appendonly", "no")
	} else {
		a = append(a, "--appendonly", "yes", "--appendfsync", s.opts.AppendFsync)
	}
	return append(a, s.opts.Args...)
}

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redis-server on %s is already running", s.Addr)
	}
	cmd, done, err := spawn(s.bin, s.args()...)
	if err != nil {
		return err
	}
	if err := waitReady(s.Addr, done, func() string { return tail(filepath.Join(s.Dir, "redis.log")) }); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// spawn starts bin with args; done is closed when it has exited.
func spawn(bin string, args ...string) (*exec.Cmd, chan struct{}, error) {
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, done, nil
}

// waitReady polls addr with PING until it answers PONG (not LOADING), the
// process exits, or startTimeout passes.
func waitReady(addr string, done <-chan struct{}, log func() string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if Ping(addr) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis on %s exited at start-up:\n%s", addr, log())
		case <-time.After(5 * time.Millisecond): // polling the condition
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis on %s does not answer PING after %v:\n%s", addr, startTimeout, log())
		}
	}
}

// Ping reports whether a Redis on addr answers PING with PONG now.
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Pid returns the process id of the running server, 0 when it is not
// running: for benchmarks that read its CPU time.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the process is up (started and not stopped).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Stop shuts the server down with SIGTERM (Redis flushes its append-only
// file) and waits for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash, and waits for it to
// exit. What it acknowledged is on disk as far as appendfsync promised.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(startTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart starts a stopped or killed server again on the same port and
// data, and waits until it has loaded its data and answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	// The port was just freed; another process may hold it for a moment.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "ddress already in use") {
			break
		}
		time.Sleep(50 * time.Millisecond) // waiting for the port to be free
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Log returns the end of the server's log file.
func (s *Server) Log() string { return tail(filepath.Join(s.Dir, "redis.log")) }

// tail returns the last lines of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// StartCluster starts n (at least 3) redis-servers in cluster mode on free
// ports, joins them into one Redis Cluster of n masters without replicas
// (redis-cli --cluster create), and waits until every node reports
// cluster_state:ok. It returns the nodes; it skips t when redis-server or
// redis-cli is not installed.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	cli := binary(t, "redis-cli", "redis-tools")
	nodes := make([]*Server, n)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = Start(t, Options{NoPersistence: true, Args: []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
		}})
		args = append(args, nodes[i].Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, nd := range nodes {
		c := goredis.NewClient(&goredis.Options{Addr: nd.Addr})
		for {
			info, _ := c.ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("redistest: cluster node %s not ok:\n%s", nd.Addr, info)
			}
			time.Sleep(10 * time.Millisecond) // polling the condition
		}
		c.Close()
	}
	return nodes
}

// Sentinel is a redis-sentinel child process monitoring one master.
type Sentinel struct {
	// Addr is the sentinel's host:port.
	Addr string
	// MasterName is the name the master is monitored under.
	MasterName string
	Dir        string

	cmd  *exec.Cmd
	done chan struct{}
}

// StartSentinel starts a redis-sentinel on a free port monitoring master
// under name (quorum 1, down after 1s) and waits until it names the
// master. It is killed when the test ends; it skips t when redis-sentinel
// is not installed.
func StartSentinel(t testing.TB, name string, master *Server) *Sentinel {
	t.Helper()
	bin := binary(t, "redis-sentinel", "redis-sentinel")
	s := &Sentinel{MasterName: name, Dir: t.TempDir()}
	var err error
	for range 5 {
		s.Addr = freeAddr(t)
		if err = s.start(bin, master); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	// Wait until it knows the master (it does at once: the address is in
	// its configuration).
	c := goredis.NewSentinelClient(&goredis.Options{Addr: s.Addr})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addr, err := c.GetMasterAddrByName(ctx, name).Result()
		cancel()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == master.Addr {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel %s does not name master %s (%v %v):\n%s", s.Addr, master.Addr, addr, err, s.Log())
		}
		time.Sleep(10 * time.Millisecond) // polling the condition
	}
}

func (s *Sentinel) start(bin string, master *Server) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	host, mport, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(s.Dir, "sentinel.conf")
	body := fmt.Sprintf("bind 127.0.0.1\nport %s\ndir %s\nlogfile %s\nprotected-mode no\n"+
		"sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
		port, s.Dir, filepath.Join(s.Dir, "sentinel.log"), s.MasterName, host, mport, s.MasterName, s.MasterName)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	cmd, done, err := spawn(bin, conf)
	if err != nil {
		return err
	}
	if err := waitReady(s.Addr, done, s.Log); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Log returns the end of the sentinel's log file.
func (s *Sentinel) Log() string { return tail(filepath.Join(s.Dir, "sentinel.log")) }
