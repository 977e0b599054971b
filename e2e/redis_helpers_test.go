package e2e

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisServer is a real redis-server on a loopback port, with an
// append-only file fsync'd on every write, restartable on the same port and
// data.
type redisServer struct {
	t    *testing.T
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server, or skips the test when it is not
// installed (scripts/test installs it).
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server; scripts/test does it)")
	}
	s := &redisServer{t: t, addr: haFreeAddr(t), dir: t.TempDir()}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGKILL) })
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no")
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	eventually(s.t, waitTimeout, func() bool { return s.ping() }, func() string { return "redis-server does not answer PING" })
}

// ping sends PING and reports whether PONG came back.
func (s *redisServer) ping() bool {
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
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

// stop signals the server and waits for it to exit.
func (s *redisServer) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		s.t.Errorf("redis-server pid %s still running", strconv.Itoa(s.cmd.Process.Pid))
	}
	s.cmd = nil
}

// kill SIGKILLs the server; restart starts it again on its port and data.
func (s *redisServer) kill()    { s.stop(syscall.SIGKILL) }
func (s *redisServer) restart() { s.start() }
