package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/backend/memory"
	"github.com/mqgate/mqgate/protocols/amqp"
)

// The tests run brokers in-process: a broker core on a memory store, the
// AMQP front-end on a loopback port, and a Network bridging to peers.

const waitFor = 10 * time.Second

type node struct {
	t    *testing.T
	id   string
	b    *backend.Broker
	srv  *amqp.Server
	uri  string
	nw   atomic.Pointer[Network]
	opts Options
}

// startNode starts a broker named id with a network configured by opts
// (NodeID, fast reconnects and advertisements filled in).
func startNode(t *testing.T, id string, opts Options) *node {
	t.Helper()
	n := &node{t: t, id: id}
	n.b = backend.New(backend.Options{
		NodeID: id,
		Store:  memory.New(memory.Options{}),
		OnDemand: func(d backend.Destination, c int) {
			if nw := n.nw.Load(); nw != nil {
				nw.OnDemand(d, c)
			}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.uri = "amqp://" + ln.Addr().String()
	n.srv = amqp.NewServer(n.b, amqp.Options{Logger: zerolog.Nop()})
	go func() { _ = n.srv.Serve(ln) }()
	opts.NodeID = id
	if opts.TTL == 0 {
		opts.TTL = 1
	}
	opts.ReconnectDelay = 20 * time.Millisecond
	opts.MaxReconnectDelay = 200 * time.Millisecond
	if opts.AdvertiseInterval == 0 {
		opts.AdvertiseInterval = 200 * time.Millisecond
	}
	if testing.Verbose() {
		opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).With().Str("node", id).Logger()
	}
	n.opts = opts
	n.nw.Store(New(n.b, opts))
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	if nw := n.nw.Swap(nil); nw != nil {
		nw.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_ = n.srv.Close(ctx)
	n.b.Close()
}

// link starts bridges from n to each of peers.
func (n *node) link(peers ...*node) {
	for _, p := range peers {
		n.nw.Load().AddPeer(p.uri)
	}
}

// forwarding reports whether n's bridge to peer forwards dest.
func (n *node) forwarding(peer *node, dest backend.Destination) bool {
	for _, st := range n.nw.Load().Status() {
		if addr, _, _ := strings.Cut(st.Peer, "?"); addr != peer.uri {
			continue
		}
		for _, d := range st.Forwarding {
			if d == dest.String() {
				return true
			}
		}
	}
	return false
}

// consumer is a local consumer that accepts what it receives and counts
// it by message id.
type consumer struct {
	mu   sync.Mutex
	got  map[string]int
	seq  []string
	sub  *backend.Subscription
	errs []string
}

func (c *consumer) Deliver(d backend.Delivery) {
	c.mu.Lock()
	c.got[d.Msg.ID]++
	c.seq = append(c.seq, string(d.Msg.Body))
	c.mu.Unlock()
	go func() { _ = d.Sub.SettleAndCredit([]uint64{d.Tag}, backend.Accepted, 1) }()
}

func (c *consumer) count() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.got {
		distinct++
		total += k
	}
	return
}

func (n *node) consume(dest backend.Destination) *consumer {
	n.t.Helper()
	c := &consumer{got: map[string]int{}}
	s, err := n.b.Subscribe(context.Background(), backend.SubscribeOptions{Dest: dest, Credit: 100}, c)
	if err != nil {
		n.t.Fatal(err)
	}
	c.sub = s
	n.t.Cleanup(s.Close)
	return c
}

func (n *node) publish(dest backend.Destination, body string, persistent bool) {
	n.t.Helper()
	if err := n.b.Publish(context.Background(), &backend.Message{Dest: dest, Body: []byte(body), Persistent: persistent}); err != nil {
		n.t.Fatal(err)
	}
}

func eventually(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitFor, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func queue(name string) backend.Destination {
	return backend.Destination{Kind: backend.Queue, Name: name}
}
func topic(name string) backend.Destination {
	return backend.Destination{Kind: backend.Topic, Name: name}
}

func TestQueueForwardsToThePeerWithConsumers(t *testing.T) {
	a := startNode(t, "a", Options{DecreasePriority: true})
	b := startNode(t, "b", Options{DecreasePriority: true})
	a.link(b)
	b.link(a)
	q := queue("orders")
	c := b.consume(q)
	eventually(t, func() bool { return a.forwarding(b, q) }, func() string { return "a does not forward orders to b" })
	const n = 200
	for i := range n {
		a.publish(q, strconv.Itoa(i), true)
	}
	eventually(t, func() bool { d, _ := c.count(); return d == n }, func() string {
		d, tot := c.count()
		return fmt.Sprintf("b's consumer got %d distinct (%d in all) of %d", d, tot, n)
	})
	if _, tot := c.count(); tot != n {
		t.Fatalf("%d deliveries for %d messages", tot, n)
	}
	c.mu.Lock()
	for i, body := range c.seq {
		if body != strconv.Itoa(i) {
			t.Fatalf("delivery %d is %q: order broken", i, body)
		}
	}
	c.mu.Unlock()
	eventually(t, func() bool { r, i := a.b.QueueDepth(q); return r == 0 && i == 0 }, func() string {
		r, i := a.b.QueueDepth(q)
		return fmt.Sprintf("a still holds %d ready, %d in flight", r, i)
	})
}

func TestLocalConsumersPreferred(t *testing.T) {
	a := startNode(t, "a", Options{DecreasePriority: true})
	b := startNode(t, "b", Options{DecreasePriority: true})
	a.link(b)
	q := queue("work")
	b.consume(q)
	eventually(t, func() bool { return a.forwarding(b, q) }, func() string { return "no bridge subscription" })
	local := a.consume(q)
	for i := range 50 {
		a.publish(q, strconv.Itoa(i), false)
	}
	eventually(t, func() bool { d, _ := local.count(); return d == 50 }, func() string {
		d, _ := local.count()
		return fmt.Sprintf("the local consumer got %d of 50", d)
	})
}

func TestTopicConduitExactlyOnce(t *testing.T) {
	nodes := []*node{startNode(t, "a", Options{}), startNode(t, "b", Options{}), startNode(t, "c", Options{})}
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				x.link(y)
			}
		}
	}
	tp := topic("prices")
	var subs []*consumer
	for _, x := range nodes {
		subs = append(subs, x.consume(tp), x.consume(tp)) // two subscribers each: one conduit per peer
	}
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				eventually(t, func() bool { return x.forwarding(y, tp) }, func() string { return x.id + " does not forward to " + y.id })
			}
		}
	}
	for i, x := range nodes {
		for j := range 20 {
			x.publish(tp, fmt.Sprintf("%d-%d", i, j), false)
		}
	}
	for k, s := range subs {
		eventually(t, func() bool { d, _ := s.count(); return d == 60 }, func() string {
			d, tot := s.count()
			return fmt.Sprintf("subscriber %d got %d distinct (%d in all) of 60", k, d, tot)
		})
	}
	// A barrier: one more message per node, then no subscriber may hold
	// more than one copy of anything.
	for _, x := range nodes {
		x.publish(tp, "last-"+x.id, false)
	}
	for k, s := range subs {
		eventually(t, func() bool { d, _ := s.count(); return d == 63 }, func() string { return fmt.Sprint("subscriber ", k, " missed the barrier") })
		if d, tot := s.count(); tot != d {
			t.Fatalf("subscriber %d got %d deliveries of %d messages", k, tot, d)
		}
	}
}

// proxy is a TCP proxy a test can cut (every connection closed, new ones
// refused) and heal.
type proxy struct {
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func (p *proxy) dial(ctx context.Context, _ string) (net.Conn, error) {
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		return nil, fmt.Errorf("proxy: cut")
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	p.mu.Lock()
	p.conns = append(p.conns, up, b)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, b); up.Close() }()
	go func() { _, _ = io.Copy(b, up); b.Close() }()
	return a, nil
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestBridgeCutAndHealedLosesNothing(t *testing.T) {
	b := startNode(t, "b", Options{})
	px := &proxy{target: b.uri[len("amqp://"):]}
	a := startNode(t, "a", Options{Dial: px.dial})
	a.link(b)
	q := queue("cut")
	c := b.consume(q)
	eventually(t, func() bool { return a.forwarding(b, q) }, func() string { return "no bridge subscription" })
	const n = 600
	for i := range n {
		a.publish(q, strconv.Itoa(i), true)
		if i == n/3 {
			px.setCut(true)
		}
		if i == 2*n/3 {
			px.setCut(false)
		}
	}
	eventually(t, func() bool { d, _ := c.count(); return d == n }, func() string {
		d, tot := c.count()
		ar, ai := a.b.QueueDepth(q)
		br, bi := b.b.QueueDepth(q)
		return fmt.Sprintf("b's consumer got %d distinct (%d in all) of %d; a holds %d+%d, b %d+%d, b dropped %d duplicates; a: %+v",
			d, tot, n, ar, ai, br, bi, b.b.DuplicatesDropped(), a.nw.Load().Status())
	})
	eventually(t, func() bool { r, i := a.b.QueueDepth(q); return r == 0 && i == 0 }, func() string { return "a still holds messages" })
	if d, tot := c.count(); tot != d {
		t.Fatalf("%d deliveries of %d messages: duplicates", tot, d)
	}
}

// TestForwardKeepsTheMessage: what a consumer on the peer receives is the
// message published here, field by field, with this broker on its path.
func TestForwardKeepsTheMessage(t *testing.T) {
	a := startNode(t, "a", Options{})
	b := startNode(t, "b", Options{})
	a.link(b)
	q := queue("fidelity")
	got := make(chan *backend.Message, 2)
	s, err := b.b.Subscribe(context.Background(), backend.SubscribeOptions{Dest: q, Credit: 10, AutoAck: true},
		sinkFunc(func(d backend.Delivery) { got <- d.Msg }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventually(t, func() bool { return a.forwarding(b, q) }, func() string { return "no bridge subscription" })
	exp := time.Now().Add(time.Hour).UnixMilli()
	sent := []*backend.Message{
		{ID: "ID:custom-1", Dest: q, CorrelationID: "corr", ReplyTo: topic("replies"), Type: "t", ContentType: "application/json",
			GroupID: "g", GroupSeq: 3, Expiration: exp, Priority: 7, Persistent: true, Text: true, Body: []byte("héllo"),
			Props: []backend.Prop{{Name: "s", Value: "v"}, {Name: "b", Value: true}, {Name: "i", Value: int64(-3)},
				{Name: "f", Value: 1.5}, {Name: "by", Value: []byte{0, 1}}, {Name: "i32", Value: int32(9)}}},
		{Dest: q, Body: []byte{0, 0x53, 0x77, 0xa1, 1, 'x'}, Props: []backend.Prop{{Name: "MQGATE_AMQP_BODY", Value: "sections"}}},
	}
	for _, m := range sent {
		want := *m
		if err := a.b.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		var r *backend.Message
		select {
		case r = <-got:
		case <-time.After(waitFor):
			t.Fatal("nothing forwarded")
		}
		want.ID, want.Timestamp, want.Seq = m.ID, m.Timestamp, r.Seq
		want.BrokerPath = []string{"a"}
		want.ProducerID = r.ProducerID
		// Properties keep their names, values and types, not their order
		// (go-amqp sends application-properties from a Go map).
		byName := func(a, b backend.Prop) int { return strings.Compare(a.Name, b.Name) }
		gotMsg := *r
		gotMsg.Props = slices.Clone(r.Props)
		want.Props = slices.Clone(want.Props)
		slices.SortFunc(gotMsg.Props, byName)
		slices.SortFunc(want.Props, byName)
		if !reflect.DeepEqual(gotMsg, want) {
			t.Errorf("forwarded\n%+v\nwant\n%+v", *r, want)
		}
	}
}

type sinkFunc func(backend.Delivery)

func (f sinkFunc) Deliver(d backend.Delivery) { f(d) }

// TestReplayFollowsMovedConsumers: messages forwarded to B for a consumer
// that leaves before taking them go back to A, where a consumer came,
// after the replay delay; without replay they stay on B.
func TestReplayFollowsMovedConsumers(t *testing.T) {
	for _, replay := range []bool{true, false} {
		t.Run(fmt.Sprint("replay=", replay), func(t *testing.T) {
			opts := Options{DecreasePriority: true, Replay: replay, ReplayDelay: 200 * time.Millisecond}
			a := startNode(t, "a", opts)
			b := startNode(t, "b", opts)
			a.link(b)
			b.link(a)
			q := queue("moving")
			idle, err := b.b.Subscribe(context.Background(), backend.SubscribeOptions{Dest: q}, sinkFunc(func(backend.Delivery) {}))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { return a.forwarding(b, q) }, func() string { return "a does not forward to b" })
			const n = 50
			for i := range n {
				a.publish(q, strconv.Itoa(i), true)
			}
			eventually(t, func() bool { r, _ := b.b.QueueDepth(q); return r == n }, func() string {
				r, _ := b.b.QueueDepth(q)
				return fmt.Sprintf("b holds %d of %d", r, n)
			})
			idle.Close() // the consumer moves to a
			c := a.consume(q)
			if !replay {
				eventually(t, func() bool { return b.forwarding(a, q) }, func() string { return "b does not forward to a" })
				a.publish(q, "barrier", true)
				eventually(t, func() bool { d, _ := c.count(); return d == 1 }, func() string { return "the barrier did not arrive" })
				if r, _ := b.b.QueueDepth(q); r != n {
					t.Fatalf("without replay b holds %d, want %d", r, n)
				}
				// b reports them stranded.
				eventually(t, func() bool {
					st := b.nw.Load().Stranded()
					return len(st) == 1 && st[0].Destination == q.String() && st[0].Messages == n && st[0].OldestAgeSeconds > 0
				}, func() string { return fmt.Sprintf("stranded %+v", b.nw.Load().Stranded()) })
				return
			}
			eventually(t, func() bool { d, _ := c.count(); return d == n }, func() string {
				d, _ := c.count()
				r, _ := b.b.QueueDepth(q)
				return fmt.Sprintf("a's consumer got %d of %d; b holds %d", d, n, r)
			})
			if d, tot := c.count(); tot != d {
				t.Fatalf("%d deliveries of %d messages", tot, d)
			}
		})
	}
}
