package amqp

import (
	"testing"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// TestAMQPBrowseQueue: a receiver whose source has distribution-mode copy
// browses the queue: it gets the messages waiting when it attached, as its
// credit allows, in order and without consuming them (its outcomes change
// nothing); a drain once it has seen them all is answered at once with the
// credit spent, which is how a browser learns it is at the end.
func TestAMQPBrowseQueue(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	publishN(t, b, "br", 5)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	a := p.attachReceiver(0, 0, "browser", &wire.Source{Address: "queue://br", DistributionMode: wire.DistCopy}, false)
	if a.Source == nil || a.Source.DistributionMode != wire.DistCopy {
		t.Fatalf("attach reply source %+v", a.Source)
	}
	publishN(t, b, "br", 1) // after the attach: not in the browse

	p.flow(0, 0, 0, 2, false)
	var ids []uint32
	for i := range 2 {
		tr, m := p.recvMessage()
		if len(m.Data) != 1 || m.Data[0][0] != byte('0'+i) || tr.Settled {
			t.Fatalf("browsed message %d: %+v (transfer %+v)", i, m, tr)
		}
		ids = append(ids, *tr.DeliveryID)
	}
	// Accepting a browsed message does not consume it.
	last := ids[1]
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: ids[0], Last: &last, Settled: true, State: &wire.Accepted{}})

	p.flow(0, 0, 2, 10, true)
	for i := 2; i < 5; i++ {
		_, m := p.recvMessage()
		if len(m.Data) != 1 || m.Data[0][0] != byte('0'+i) {
			t.Fatalf("browsed message %d: %+v", i, m)
		}
	}
	fl := expect[*wire.Flow](p)
	if !fl.Drain || fl.DeliveryCount == nil || *fl.DeliveryCount != 12 || fl.LinkCredit == nil || *fl.LinkCredit != 0 {
		t.Fatalf("drain answer %+v", fl)
	}
	// At the end a drain is answered at once.
	p.flow(0, 0, 12, 5, true)
	fl = expect[*wire.Flow](p)
	if !fl.Drain || *fl.DeliveryCount != 17 || *fl.LinkCredit != 0 {
		t.Fatalf("second drain answer %+v", fl)
	}
	if r, i := queueDepth(b, "br"); r != 6 || i != 0 {
		t.Fatalf("after browsing: ready %d inflight %d, want 6 and 0", r, i)
	}
	p.send(0, &wire.Detach{Handle: 0, Closed: true})
	expect[*wire.Detach](p)

	// A consumer still gets every message.
	p.attachReceiver(0, 1, "consumer", &wire.Source{Address: "br"}, true)
	p.flow(0, 1, 0, 10, false)
	for i := range 6 {
		if _, m := p.recvMessage(); m.Data[0][0] != byte('0'+i%5) {
			t.Fatalf("consumed message %d: %+v", i, m)
		}
	}
}

// TestAMQPBrowseSelectorAndSettled: a browser's selector filters the
// snapshot; pre-settled browsing works; a topic source in copy mode is an
// ordinary subscription.
func TestAMQPBrowseSelectorAndSettled(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachSender(0, 0, "snd", "sel")
	for i := range 4 {
		p.transfer(0, 0, uint32(i), true, &wire.Message{ApplicationProperties: wire.Map{{Key: "n", Value: int32(i)}}, Value: "m"})
	}
	p.send(0, &wire.Detach{Handle: 0, Closed: true})
	expect[*wire.Detach](p)
	if r, _ := queueDepth(b, "sel"); r != 4 {
		t.Fatalf("queue depth %d, want 4", r)
	}
	src := &wire.Source{Address: "sel", DistributionMode: wire.DistCopy,
		Filter: wire.Map{{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter("n >= 2")}}}
	p.attachReceiver(0, 1, "browser", src, true)
	p.flow(0, 1, 0, 100, true)
	for i := 2; i < 4; i++ {
		tr, m := p.recvMessage()
		if v, _ := m.ApplicationProperties.Get("n"); v != int32(i) || !tr.Settled {
			t.Fatalf("browsed %v settled %v, want n = %d", v, tr.Settled, i)
		}
	}
	if fl := expect[*wire.Flow](p); !fl.Drain || *fl.DeliveryCount != 100 {
		t.Fatalf("drain answer %+v", fl)
	}
	if r, i := queueDepth(b, "sel"); r != 4 || i != 0 {
		t.Fatalf("after browsing: ready %d inflight %d", r, i)
	}

	a := p.attachReceiver(0, 2, "topic-copy", &wire.Source{Address: "topic://t", DistributionMode: wire.DistCopy}, true)
	if a.Source == nil {
		t.Fatalf("a topic source in copy mode was refused: %+v", a)
	}
}
