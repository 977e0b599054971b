package network

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/backend"
)

// duplexPair starts b, passive (no peers of its own), and a with a duplex
// bridge to b (duplex=true on the peer URI), and waits for the bridge.
func duplexPair(t *testing.T, aOpts Options) (a, b *node) {
	t.Helper()
	b = startNode(t, "b", Options{Passive: true})
	a = startNode(t, "a", aOpts)
	a.nw.Load().AddPeer(b.uri + "?duplex=true")
	eventually(t, func() bool {
		st := a.nw.Load().Status()
		return len(st) == 1 && st[0].Up && st[0].Duplex
	}, func() string { return fmt.Sprintf("no duplex bridge: %+v", a.nw.Load().Status()) })
	return a, b
}

// pulling reports whether a's duplex bridge pulls dest.
func (n *node) pulling(dest backend.Destination) bool {
	for _, st := range n.nw.Load().Status() {
		if slices.Contains(st.Pulling, dest.String()) {
			return true
		}
	}
	return false
}

// TestDuplexBothDirections: over a's one connection to b, queue messages
// go a → b for b's consumers and b → a for a's, persistent ones removed
// from their first broker only once stored on the other.
func TestDuplexBothDirections(t *testing.T) {
	a, b := duplexPair(t, Options{})
	toA, toB := queue("to.a"), queue("to.b")
	ca := a.consume(toA)
	cb := b.consume(toB)
	eventually(t, func() bool { return a.pulling(toA) && a.forwarding(b, toB) }, func() string {
		return fmt.Sprintf("bridge not ready: %+v", a.nw.Load().Status())
	})
	// b learned a's demand through the pull: it advertises it.
	if got := b.b.PeerDemand(); !reflect.DeepEqual(got, []backend.PeerDemand{{Dest: toA, Peer: "a", Hops: 1}}) {
		t.Fatalf("b's peer demand = %+v", got)
	}
	const n = 200
	for i := range n {
		b.publish(toA, "b"+strconv.Itoa(i), i%2 == 0)
		a.publish(toB, "a"+strconv.Itoa(i), i%2 == 0)
	}
	eventually(t, func() bool { d, _ := ca.count(); return d == n }, func() string { d, _ := ca.count(); return fmt.Sprintf("a got %d of %d", d, n) })
	eventually(t, func() bool { d, _ := cb.count(); return d == n }, func() string { d, _ := cb.count(); return fmt.Sprintf("b got %d of %d", d, n) })
	eventually(t, func() bool {
		r1, i1 := b.b.QueueDepth(toA)
		r2, i2 := a.b.QueueDepth(toB)
		return r1+i1+r2+i2 == 0
	}, func() string { return "messages left on their first broker" })
	for _, c := range []*consumer{ca, cb} {
		if d, tot := c.count(); d != tot {
			t.Fatalf("%d deliveries of %d messages", tot, d)
		}
	}
	if st := a.nw.Load().Status()[0]; st.Pulled != n || st.Forwarded != n {
		t.Fatalf("status %+v, want %d pulled and forwarded", st, n)
	}
	// Demand gone: the pull is detached and b forgets it.
	ca.sub.Close()
	eventually(t, func() bool { return !a.pulling(toA) && len(b.b.PeerDemand()) == 0 }, func() string {
		return fmt.Sprintf("pull still there: %+v, %+v", a.nw.Load().Status(), b.b.PeerDemand())
	})
}

// TestDuplexTopicExactlyOnce: a topic with subscribers on both brokers
// gets each message once on each, whichever broker it was published on:
// a pulled message never goes back, a pushed one is never pulled back.
func TestDuplexTopicExactlyOnce(t *testing.T) {
	a, b := duplexPair(t, Options{})
	tp := topic("news")
	sa, sb := a.consume(tp), b.consume(tp)
	eventually(t, func() bool { return a.pulling(tp) && a.forwarding(b, tp) }, func() string {
		return fmt.Sprintf("bridge not ready: %+v", a.nw.Load().Status())
	})
	const n = 100
	for i := range n {
		a.publish(tp, "a"+strconv.Itoa(i), false)
		b.publish(tp, "b"+strconv.Itoa(i), false)
	}
	for name, s := range map[string]*consumer{"a": sa, "b": sb} {
		eventually(t, func() bool { d, _ := s.count(); return d == 2*n }, func() string {
			d, _ := s.count()
			return fmt.Sprintf("%s's subscriber got %d of %d", name, d, 2*n)
		})
	}
	time.Sleep(200 * time.Millisecond) // a loop would show by now
	for name, s := range map[string]*consumer{"a": sa, "b": sb} {
		if d, tot := s.count(); d != 2*n || tot != d {
			t.Fatalf("%s's subscriber: %d deliveries of %d messages, want %d once each", name, tot, d, 2*n)
		}
	}
}

// TestDuplexPathAndFields: a pulled message keeps its id, headers,
// properties and body, with the peer on its broker path; a message whose
// path already holds this broker is not pulled.
func TestDuplexPathAndFields(t *testing.T) {
	a, b := duplexPair(t, Options{})
	q := queue("fields")
	got := make(chan backend.Delivery, 4)
	s, err := a.b.Subscribe(context.Background(), backend.SubscribeOptions{Dest: q, Credit: 10}, sinkFunc(func(d backend.Delivery) {
		got <- d
		go func() { _ = d.Sub.Settle(d.Tag, backend.Accepted) }()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eventually(t, func() bool { return a.pulling(q) }, func() string { return "no pull" })
	loop := &backend.Message{Dest: q, Body: []byte("loop"), BrokerPath: []string{"a"}}
	if err := b.b.Publish(context.Background(), loop); err != nil {
		t.Fatal(err)
	}
	m := &backend.Message{
		Dest: q, Body: []byte("hello"), Text: true, Persistent: true, Priority: 7, Type: "t", ContentType: "text/plain",
		CorrelationID: "corr", ReplyTo: queue("replies"), GroupID: "g", GroupSeq: 3, Timestamp: 1700000000123,
		Expiration: time.Now().Add(time.Hour).UnixMilli(),
		Props:      []backend.Prop{{Name: "n", Value: int64(42)}, {Name: "s", Value: "x"}, {Name: "z", Value: true}},
	}
	if err := b.b.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var d backend.Delivery
	select {
	case d = <-got:
	case <-time.After(waitFor):
		t.Fatal("nothing pulled")
	}
	r := d.Msg
	if string(r.Body) != "hello" || !r.Text || !r.Persistent || r.Priority != 7 || r.Type != "t" || r.ContentType != "text/plain" ||
		r.CorrelationID != "corr" || r.ReplyTo != queue("replies") || r.GroupID != "g" || r.Timestamp != m.Timestamp ||
		r.Expiration != m.Expiration || r.ID != m.ID || r.Dest != q {
		t.Fatalf("pulled %+v\nfrom %+v", r, m)
	}
	if !reflect.DeepEqual(r.BrokerPath, []string{"b"}) {
		t.Fatalf("broker path %v", r.BrokerPath)
	}
	if !reflect.DeepEqual(r.Props, m.Props) {
		t.Fatalf("props %v, want %v", r.Props, m.Props)
	}
	select {
	case d := <-got:
		t.Fatalf("pulled %q, whose path holds a", d.Msg.Body)
	case <-time.After(300 * time.Millisecond):
	}
	if ready, _ := b.b.QueueDepth(q); ready != 1 {
		t.Fatalf("b holds %d messages, want the looping one", ready)
	}
}

// TestDuplexThirdBroker: c, bridged with b both ways, reaches a's
// consumers through b, which learned a's demand from a's pull (network
// TTL 2).
func TestDuplexThirdBroker(t *testing.T) {
	b := startNode(t, "b", Options{TTL: 2})
	c := startNode(t, "c", Options{TTL: 2})
	b.link(c)
	c.link(b)
	a := startNode(t, "a", Options{TTL: 2})
	a.nw.Load().AddPeer(b.uri + "?duplex=true")
	q := queue("far")
	ca := a.consume(q)
	eventually(t, func() bool { return c.forwarding(b, q) }, func() string {
		return fmt.Sprintf("c does not forward to b: %+v; b: %+v", c.nw.Load().Status(), b.b.PeerDemand())
	})
	const n = 50
	for i := range n {
		c.publish(q, strconv.Itoa(i), true)
	}
	eventually(t, func() bool { d, _ := ca.count(); return d == n }, func() string {
		d, _ := ca.count()
		return fmt.Sprintf("a got %d of %d", d, n)
	})
	for _, nd := range []*node{b, c} {
		eventually(t, func() bool { r, i := nd.b.QueueDepth(q); return r+i == 0 }, func() string {
			r, i := nd.b.QueueDepth(q)
			return fmt.Sprintf("%s holds %d+%d", nd.id, r, i)
		})
	}
	if d, tot := ca.count(); tot != d {
		t.Fatalf("%d deliveries of %d messages", tot, d)
	}
}

// TestDuplexCutLosesNothing: persistent messages pulled while the one
// connection is cut and healed all arrive, once each.
func TestDuplexCutLosesNothing(t *testing.T) {
	b := startNode(t, "b", Options{Passive: true})
	px := &proxy{target: b.uri[len("amqp://"):]}
	a := startNode(t, "a", Options{Dial: px.dial, Duplex: true})
	a.link(b)
	q := queue("cut.pull")
	c := a.consume(q)
	eventually(t, func() bool { return a.pulling(q) }, func() string { return "no pull" })
	const n = 600
	for i := range n {
		b.publish(q, strconv.Itoa(i), true)
		if i == n/3 {
			px.setCut(true)
		}
		if i == 2*n/3 {
			px.setCut(false)
		}
	}
	eventually(t, func() bool { d, _ := c.count(); return d == n }, func() string {
		d, tot := c.count()
		br, bi := b.b.QueueDepth(q)
		return fmt.Sprintf("a's consumer got %d distinct (%d in all) of %d; b holds %d+%d; a dropped %d duplicates; %+v",
			d, tot, n, br, bi, a.b.DuplicatesDropped(), a.nw.Load().Status())
	})
	eventually(t, func() bool { r, i := b.b.QueueDepth(q); return r == 0 && i == 0 }, func() string { return "b still holds messages" })
	if d, tot := c.count(); tot != d {
		t.Fatalf("%d deliveries of %d messages: duplicates", tot, d)
	}
}

// TestPeerOptions: a peer URI's query overrides duplex, included and
// excluded for its bridge only; bad options are refused.
func TestPeerOptions(t *testing.T) {
	o := &Options{Duplex: true}
	global := parsePatterns([]string{"queue://g.>"})
	pc, err := parsePeer("amqp://h:5672?duplex=false&included=queue://orders.>&included=topic://prices", o, global, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pc.addr != "h:5672" || pc.host != "h" || pc.duplex {
		t.Fatalf("%+v", pc)
	}
	for d, want := range map[backend.Destination]bool{
		queue("orders.eu"): true, topic("prices"): true, queue("g.x"): false, topic("orders.eu"): false,
	} {
		if pc.forwards(d) != want {
			t.Errorf("forwards(%s) = %v", d, !want)
		}
	}
	pc, err = parsePeer("amqp://h:5672", o, global, nil)
	if err != nil || !pc.duplex || !pc.forwards(queue("g.x")) || pc.forwards(queue("orders")) {
		t.Fatalf("defaults: %+v, %v", pc, err)
	}
	pc, err = parsePeer("amqp://h:5672?included=&excluded=queue://secret", o, global, nil)
	if err != nil || !pc.forwards(queue("orders")) || pc.forwards(queue("secret")) {
		t.Fatalf("empty included: %+v, %v", pc, err)
	}
	for _, bad := range []string{"amqp://h", "amqp://h:5672?duplex=maybe", "amqp://h:5672?ttl=2", "amqp://h:5672?included=queue://"} {
		if _, err := parsePeer(bad, o, nil, nil); err == nil {
			t.Errorf("parsePeer(%q) accepted", bad)
		}
	}
}

// TestPerBridgeIncluded: with two peers, each bridge forwards what its
// own included allows.
func TestPerBridgeIncluded(t *testing.T) {
	b := startNode(t, "b", Options{})
	c := startNode(t, "c", Options{})
	a := startNode(t, "a", Options{Included: []string{"queue://x.>"}})
	a.nw.Load().AddPeer(b.uri + "?included=queue://orders.>")
	a.nw.Load().AddPeer(c.uri)
	for _, nd := range []*node{b, c} {
		nd.consume(queue("orders.1"))
		nd.consume(queue("x.1"))
	}
	eventually(t, func() bool { return a.forwarding(b, queue("orders.1")) && a.forwarding(c, queue("x.1")) }, func() string {
		return fmt.Sprintf("%+v", a.nw.Load().Status())
	})
	time.Sleep(300 * time.Millisecond) // several advertisements
	if a.forwarding(b, queue("x.1")) || a.forwarding(c, queue("orders.1")) {
		t.Fatalf("a bridge forwards past its patterns: %+v", a.nw.Load().Status())
	}
}

// TestFromAMQPKeptSections: a body of several sections comes back as
// the kept sections with MQGATE_AMQP_BODY, and delivery-only properties
// are dropped.
func TestFromAMQPKeptSections(t *testing.T) {
	to := "queue://q"
	am := &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: uint64(7), To: &to},
		ApplicationProperties: map[string]any{propFirstForGroup: true, "k": "v"},
		Data:                  [][]byte{[]byte("a"), []byte("b")},
		Annotations:           amqp.Annotations{annBrokerPath: []string{"c"}},
	}
	m, err := fromAMQP(am, backend.Destination{}, "b")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := (&amqp.Message{Data: am.Data}).MarshalBinary()
	if m.ID != "ID:AMQP_ULONG:7" || string(m.Body) != string(want) || !reflect.DeepEqual(m.BrokerPath, []string{"c", "b"}) ||
		!reflect.DeepEqual(m.Props, []backend.Prop{{Name: "k", Value: "v"}, {Name: bodyProp, Value: bodyPropValue}}) {
		t.Fatalf("%+v", m)
	}
	if _, err := fromAMQP(&amqp.Message{}, backend.Destination{Kind: backend.TempQueue, Name: "t"}, "b"); err == nil {
		t.Fatal("a temporary destination was taken")
	}
}
