package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// server is a real redis-server on a free loopback port, append-only,
// fsync'd on every write.
type server struct {
	t    testing.TB
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startServer(t testing.TB) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server; scripts/test does it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &server{t: t, addr: addr, dir: t.TempDir()}
	s.start()
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no")
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(10 * time.Second)
	for !s.ping() {
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server does not answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) ping() bool {
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

func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

var groups atomic.Int64

func open(t testing.TB, addr, group string, maxSize int64) *Store {
	t.Helper()
	st, err := Open(context.Background(), Options{URL: "redis://" + addr + "/0", Group: group, MaxSize: maxSize, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestConformance runs the store suite; each opened directory is its own
// group on one server, so reopening a directory finds its data again.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	names := map[string]string{}
	group := func(dir string) string {
		if g, ok := names[dir]; ok {
			return g
		}
		g := fmt.Sprintf("g%d", groups.Add(1))
		names[dir] = g
		return g
	}
	storetest.RunOptions(t, func(t *testing.T, dir string) store.Store {
		return open(t, srv.addr, group(dir), 0)
	}, storetest.Options{
		OpenLimited: func(t *testing.T, dir string, maxBytes int64) store.Store {
			return open(t, srv.addr, group(dir), maxBytes)
		},
	})
}

func enq(q string, id uint64) store.Record {
	return store.Record{Op: store.OpEnqueue, Queue: q, ID: id, Data: []byte(fmt.Sprintf("m%d", id))}
}

func recovered(t *testing.T, st *Store) []uint64 {
	t.Helper()
	var ids []uint64
	if err := st.Recover(context.Background(), func(r store.Record) error {
		if r.Op == store.OpEnqueue {
			ids = append(ids, r.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestLeaseExclusiveAndFenced: one holder at a time; the token rises on
// every take-over; a master whose lease was taken over writes nothing and
// learns it lost the lease.
func TestLeaseExclusiveAndFenced(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	a := open(t, srv.addr, "lease", 0)
	defer a.Close()
	b := open(t, srv.addr, "lease", 0)
	defer b.Close()
	la, err := a.Acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(short, "b", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b acquired a held lease: %v", err)
	}
	if err := a.Append(ctx, []store.Record{enq("queue://f", 1)}); err != nil {
		t.Fatal(err)
	}

	// Take the lease from a behind its back, as a slave does once a paused
	// master's lease has lapsed: delete the key, then b acquires.
	admin := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer admin.Close()
	if err := admin.Del(ctx, a.lease).Err(); err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, "b", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("token %d after take-over, was %d", lb.Token(), la.Token())
	}
	if err := a.Append(ctx, []store.Record{enq("queue://f", 2)}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("fenced Append = %v, want ErrFenced", err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a's lease not lost after it was fenced")
	}
	if err := b.Append(ctx, []store.Record{enq("queue://f", 3)}); err != nil {
		t.Fatal(err)
	}
	if got := recovered(t, b); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("recovered %v, want [1 3]: the fenced write must not be there", got)
	}

	// Renewal keeps b's lease past several TTLs; Release hands it over at once.
	time.Sleep(2500 * time.Millisecond) // an observation window of 2.5 TTLs
	select {
	case <-lb.Lost():
		t.Fatal("a renewed lease was lost")
	default:
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c := open(t, srv.addr, "lease", 0)
	defer c.Close()
	quick, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if _, err := c.Acquire(quick, "c", time.Minute); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

// TestRedisRestart: Appends fail while Redis is down and work again once
// it is back; what it acknowledged survives the kill (append-only, fsync
// always).
func TestRedisRestart(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	st := open(t, srv.addr, "restart", 0)
	defer st.Close()
	if err := st.Append(ctx, []store.Record{{Op: store.OpQueueCreate, Queue: "queue://r", Data: []byte("d")}, enq("queue://r", 1)}); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	down, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := st.Append(down, []store.Record{enq("queue://r", 2)})
	cancel()
	if err == nil {
		t.Fatal("Append succeeded with Redis down")
	}
	srv.start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := st.Append(ctx, []store.Record{enq("queue://r", 3)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Append after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // go-redis reconnects on the next command
	}
	got := recovered(t, st)
	if len(got) == 0 || got[0] != 1 || got[len(got)-1] != 3 {
		t.Fatalf("after restart: %v, want 1 first and 3 last (2 may or may not be there)", got)
	}
}

func BenchmarkAppend(b *testing.B) {
	srv := startServer(b)
	st := open(b, srv.addr, "bench", 0)
	defer st.Close()
	data := make([]byte, 1024)
	var id atomic.Uint64
	b.SetBytes(1024)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1)
			if err := st.Append(context.Background(), []store.Record{{Op: store.OpEnqueue, Queue: "queue://b", ID: n, Data: data}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestSentinel opens the store through a redis-sentinel that monitors the
// server, as store.redis.addrs + master_name do.
func TestSentinel(t *testing.T) {
	if _, err := exec.LookPath("redis-sentinel"); err != nil {
		t.Skip("redis-sentinel is not installed (apt-get install redis-sentinel; scripts/test does it)")
	}
	srv := startServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	saddr := ln.Addr().String()
	ln.Close()
	_, sport, _ := net.SplitHostPort(saddr)
	host, port, _ := net.SplitHostPort(srv.addr)
	dir := t.TempDir()
	conf := dir + "/sentinel.conf"
	body := fmt.Sprintf("bind 127.0.0.1\nport %s\ndir %s\nsentinel monitor mq %s %s 1\n", sport, dir, host, port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-sentinel", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	ctx := context.Background()
	var st *Store
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err = Open(ctx, Options{Addrs: []string{saddr}, MasterName: "mq", Group: "sentinel", Logger: zerolog.Nop()})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open through the sentinel: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the sentinel is starting
	}
	defer st.Close()
	if _, err := st.Acquire(ctx, "n", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, []store.Record{enq("queue://s", 1), enq("queue://s", 2)}); err != nil {
		t.Fatal(err)
	}
	if got := recovered(t, st); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("recovered %v", got)
	}
}

// TestCluster runs the store on a three-node Redis Cluster, as
// store.redis.addrs with several addresses does: the group's hash tag keeps
// every key and script on one node.
func TestCluster(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed")
	}
	var addrs []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	for _, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--appendonly", "yes", "--save", "")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		s := &server{t: t, addr: a}
		deadline := time.Now().Add(10 * time.Second)
		for !s.ping() {
			if time.Now().After(deadline) {
				t.Fatal("cluster node does not answer")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	create := append([]string{"--cluster", "create"}, addrs...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	var st *Store
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err = Open(ctx, Options{Addrs: addrs, Group: "cl", Logger: zerolog.Nop()})
		if err == nil {
			if _, err = st.Acquire(ctx, "n", time.Second); err == nil {
				err = st.Append(ctx, []store.Record{enq("queue://c", 1), enq("queue://c", 2)})
			}
			if err == nil {
				break
			}
			st.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("store on the cluster: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the cluster settles its slots
	}
	defer st.Close()
	if err := st.Append(ctx, []store.Record{{Op: store.OpAck, Queue: "queue://c", ID: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := recovered(t, st); fmt.Sprint(got) != "[2]" {
		t.Fatalf("recovered %v, want [2]", got)
	}
}
