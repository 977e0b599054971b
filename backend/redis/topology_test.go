package redis

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/redis/redistest"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// TestSentinel opens the store through a redis-sentinel monitoring the
// server (Options.Addrs + MasterName, as store.redis.addrs and
// master_name do), holds the lease, appends and recovers.
func TestSentinel(t *testing.T) {
	if !redistest.Installed(true) {
		t.Skip("redis-sentinel is not installed: apt-get install redis-sentinel (scripts/test does it)")
	}
	srv := redistest.Start(t, redistest.Options{})
	sen := redistest.StartSentinel(t, "mq", srv)
	s, err := Open(ctx, Options{Addrs: []string{sen.Addr}, MasterName: sen.MasterName, Group: "sentinel", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := acquire(t, s, "n", time.Second)
	var m storetest.Model
	mustAppend(t, s, &m, store.Record{Op: store.OpQueueCreate, Queue: "queue://s", Data: []byte("d")},
		enq("queue://s", 1, "one"), enq("queue://s", 2, "two"))
	mustAppend(t, s, &m, store.Record{Op: store.OpDelivered, Queue: "queue://s", ID: 2, Count: 1}, ack("queue://s", 1))
	check(t, s, &m)
	// The data is on the master Sentinel names.
	if n := srv.Client(t).HLen(ctx, s.prefix+"m:queue://s").Val(); n != 1 {
		t.Fatalf("master holds %d messages", n)
	}
	if isClosed(l.Lost()) {
		t.Fatal("lease lost")
	}
}

// TestCluster runs a group on a three-master Redis Cluster (Options.Addrs
// with several nodes): every key of the group is in one slot, so the
// scripts and recovery's pipelines work, for two stores of the group, and
// the lease fences one when the other takes over.
func TestCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	s, err := Open(ctx, Options{Addrs: addrs, Group: "cluster", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := Open(ctx, Options{Addrs: addrs, Group: "cluster", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l := acquire(t, s, "a", time.Second)
	var m storetest.Model
	mustAppend(t, s, &m, store.Record{Op: store.OpQueueCreate, Queue: "queue://c", Data: []byte("d")})
	for id := uint64(1); id <= 2500; id += 50 {
		var recs []store.Record
		for k := id; k < id+50; k++ {
			recs = append(recs, enq(fmt.Sprint("queue://c", k%3), k, fmt.Sprint("m", k)))
			if k%5 == 0 {
				recs = append(recs, ack(fmt.Sprint("queue://c", (k-1)%3), k-1))
			}
		}
		mustAppend(t, s, &m, recs...)
	}
	mustAppend(t, s, &m, store.Record{Op: store.OpQueueDelete, Queue: "queue://c1"})
	check(t, s, &m)
	check(t, other, &m)
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lo := acquire(t, other, "b", time.Second)
	if lo.Token() != l.Token()+1 {
		t.Fatalf("token %d after %d", lo.Token(), l.Token())
	}
	if err := s.Append(ctx, []store.Record{enq("queue://c0", 9999, "fenced")}); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Append after Release = %v, want ErrFenced", err)
	}
	mustAppend(t, other, &m, ack("queue://c0", 3))
	check(t, other, &m)
}
