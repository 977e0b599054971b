package amqp

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// queueDepth returns the ready and in-flight counts of queue name.
func queueDepth(b *backend.Broker, name string) (int, int) {
	return b.QueueDepth(backend.Destination{Kind: backend.Queue, Name: name})
}

// TestAMQPPublishConsumeAccept: an unsettled transfer is accepted once
// published; a receiver with credit gets it with its properties; accepting
// removes it.
func TestAMQPPublishConsumeAccept(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	a, _ := p.attachSender(0, 0, "snd", "orders")
	if a.Target == nil || a.Target.Address != "orders" || a.MaxMessageSize == 0 {
		t.Fatalf("sender attach reply %+v", a)
	}
	gs := uint32(7)
	p.transfer(0, 0, 0, false, &wire.Message{
		Header:                &wire.Header{Durable: true, Priority: 7, TTL: 60000},
		Properties:            &wire.Properties{MessageID: uint64(42), Subject: "kind", ContentType: "text/plain", GroupID: "g", GroupSequence: &gs, CorrelationID: "corr"},
		ApplicationProperties: wire.Map{{Key: "s", Value: "v"}, {Key: "n", Value: int32(5)}, {Key: "f", Value: true}},
		Value:                 "hello",
	})
	d := expect[*wire.Disposition](p)
	if _, ok := d.State.(*wire.Accepted); !ok || !d.Settled || d.Role != wire.RoleReceiver || d.First != 0 {
		t.Fatalf("disposition %+v", d)
	}
	if r, _ := queueDepth(b, "orders"); r != 1 {
		t.Fatalf("queue depth %d, want 1", r)
	}
	ra := p.attachReceiver(0, 1, "rcv", &wire.Source{Address: "queue://orders"}, false)
	if ra.Source == nil || ra.InitialDeliveryCount == nil {
		t.Fatalf("receiver attach reply %+v", ra)
	}
	p.flow(0, 1, 0, 10, false)
	tr, m := p.recvMessage()
	if tr.Settled || tr.DeliveryID == nil || len(tr.DeliveryTag) == 0 {
		t.Fatalf("transfer %+v", tr)
	}
	if m.Value != "hello" || m.Header == nil || !m.Header.Durable || m.Header.Priority != 7 || m.Header.TTL == 0 || m.Header.TTL > 60000 {
		t.Fatalf("message %+v header %+v", m, m.Header)
	}
	pr := m.Properties
	if pr.MessageID != uint64(42) || pr.Subject != "kind" || pr.ContentType != "text/plain" || pr.GroupID != "g" ||
		pr.GroupSequence == nil || *pr.GroupSequence != 7 || pr.CorrelationID != "corr" || pr.To != "queue://orders" {
		t.Fatalf("properties %+v", pr)
	}
	if v, _ := m.ApplicationProperties.Get("n"); v != int32(5) { // sent as an AMQP int, read back as one
		t.Fatalf("application property n = %#v", v)
	}
	if v, _ := m.MessageAnnotations.Get(annMsgType); v != jmsTextMessage {
		t.Fatalf("x-opt-jms-msg-type %#v", v)
	}
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: *tr.DeliveryID, Settled: true, State: &wire.Accepted{}})
	p.send(0, &wire.Detach{Handle: 1, Closed: true})
	expect[*wire.Detach](p)
	if r, i := queueDepth(b, "orders"); r != 0 || i != 0 {
		t.Fatalf("after accept: ready %d inflight %d", r, i)
	}
}

// TestAMQPDrain: a drain on an empty queue advances the delivery-count over
// the credit and answers with credit 0; with messages, they come first.
func TestAMQPDrain(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "dr"}, Body: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachReceiver(0, 0, "r", &wire.Source{Address: "dr"}, true)
	p.flow(0, 0, 0, 5, true)
	_, m := p.recvMessage()
	if len(m.Data) != 1 || string(m.Data[0]) != "1" {
		t.Fatalf("message %+v", m)
	}
	fl := expect[*wire.Flow](p)
	if !fl.Drain || fl.DeliveryCount == nil || *fl.DeliveryCount != 5 || fl.LinkCredit == nil || *fl.LinkCredit != 0 {
		t.Fatalf("drain answer %+v", fl)
	}
}

// TestAMQPLargeMessagesBothWays: a message over the max-frame-size arrives in
// many transfers (more=true) and goes out split to the peer's
// max-frame-size.
func TestAMQPLargeMessagesBothWays(t *testing.T) {
	s, _ := testServer(t, Options{MaxFrameSize: 4096}, nil)
	p := dial(t, s)
	p.open(&wire.Open{ContainerID: "big", MaxFrameSize: 1024, ChannelMax: 1})
	p.begin(0)
	p.attachSender(0, 0, "s", "big")
	body := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	payload, _ := (&wire.Message{Data: [][]byte{body}}).Marshal(nil)
	id, zero := uint32(0), uint32(0)
	for off := 0; off < len(payload); off += 3000 {
		end := min(off+3000, len(payload))
		tr := &wire.Transfer{Handle: 0, More: end < len(payload), Payload: payload[off:end]}
		if off == 0 {
			tr.DeliveryID, tr.DeliveryTag, tr.MessageFormat = &id, []byte{1}, &zero
		}
		p.send(0, tr)
	}
	expect[*wire.Disposition](p)
	p.attachReceiver(0, 1, "r", &wire.Source{Address: "big"}, true)
	p.flow(0, 1, 0, 1, false)
	frames := 0
	var got []byte
	for {
		f, err := p.frame()
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Body)+8 > 1024 {
			t.Fatalf("a %d-byte frame exceeds our max-frame-size 1024", len(f.Body)+8)
		}
		perf, err := wire.DecodeFrameBody(f)
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := perf.(*wire.Transfer)
		if !ok {
			continue
		}
		frames++
		got = append(got, tr.Payload...)
		if !tr.More {
			break
		}
	}
	m, err := wire.UnmarshalMessage(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Data) != 1 || !bytes.Equal(m.Data[0], body) {
		t.Fatalf("body of %d bytes came back different", len(body))
	}
	if frames < len(body)/1024 {
		t.Fatalf("%d frames for %d bytes", frames, len(body))
	}
}

// TestAMQPAbortedTransferDiscarded: an aborted multi-frame delivery is not
// published and the link goes on.
func TestAMQPAbortedTransferDiscarded(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachSender(0, 0, "s", "ab")
	id, zero := uint32(0), uint32(0)
	p.send(0, &wire.Transfer{Handle: 0, DeliveryID: &id, DeliveryTag: []byte{0}, MessageFormat: &zero, More: true, Payload: []byte{0x00, 0x53}})
	p.send(0, &wire.Transfer{Handle: 0, Aborted: true})
	p.transfer(0, 0, 1, false, textMessage("after"))
	d := expect[*wire.Disposition](p)
	if d.First != 1 {
		t.Fatalf("disposition for %d, want 1", d.First)
	}
	if r, _ := queueDepth(b, "ab"); r != 1 {
		t.Fatalf("depth %d, want 1", r)
	}
}

// TestAMQPOutgoingSessionWindow: deliveries wait for the peer's
// incoming-window and continue after its flow.
func TestAMQPOutgoingSessionWindow(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	for i := range 3 {
		if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "win"}, Body: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	p := dial(t, s)
	p.open(nil)
	p.send(0, &wire.Begin{NextOutgoingID: 0, IncomingWindow: 1, OutgoingWindow: 100, HandleMax: 10})
	expect[*wire.Begin](p)
	p.attachReceiver(0, 0, "r", &wire.Source{Address: "win"}, true)
	next, credit, handle, dc := uint32(0), uint32(10), uint32(0), uint32(0)
	p.send(0, &wire.Flow{NextIncomingID: &next, IncomingWindow: 1, NextOutgoingID: 0, OutgoingWindow: 100, Handle: &handle, DeliveryCount: &dc, LinkCredit: &credit})
	_, m := p.recvMessage()
	if string(m.Data[0]) != "a" {
		t.Fatalf("first %q", m.Data[0])
	}
	// Reopen the window by one frame at a time: next-incoming-id is the
	// transfer-id we expect next.
	for i := range 2 {
		next := uint32(i + 1)
		p.send(0, &wire.Flow{NextIncomingID: &next, IncomingWindow: 1, NextOutgoingID: 0, OutgoingWindow: 100})
		_, m := p.recvMessage()
		if want := string(rune('b' + i)); string(m.Data[0]) != want {
			t.Fatalf("got %q, want %q", m.Data[0], want)
		}
	}
}

// TestAMQPDispositionOutcomes: rejected goes to the DLQ, released and modified
// redeliver (modified with delivery-failed counting a failed delivery).
func TestAMQPDispositionOutcomes(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	for _, body := range []string{"rej", "rel", "mod"} {
		if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "out"}, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachReceiver(0, 0, "r", &wire.Source{Address: "out"}, false)
	p.flow(0, 0, 0, 3, false)
	ids := map[string]uint32{}
	for range 3 {
		tr, m := p.recvMessage()
		ids[string(m.Data[0])] = *tr.DeliveryID
	}
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: ids["rej"], Settled: true, State: &wire.Rejected{}})
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: ids["rel"], Settled: true, State: &wire.Released{}})
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: ids["mod"], Settled: true, State: &wire.Modified{DeliveryFailed: true}})
	p.flow(0, 0, 3, 2, false)
	got := map[string]uint32{}
	for range 2 {
		_, m := p.recvMessage()
		got[string(m.Data[0])] = m.Header.DeliveryCount
	}
	if got["rel"] != 0 || got["mod"] != 1 {
		t.Fatalf("redelivered with delivery-counts %v, want rel 0 and mod 1", got)
	}
	if r, _ := queueDepth(b, "ActiveMQ.DLQ"); r != 1 {
		t.Fatalf("DLQ depth %d, want 1", r)
	}
}

// TestAMQPTransactions: declare, a transactional publish and a transactional
// acceptance, discharge: commit applies both, rollback neither; an unknown
// txn-id is rejected with amqp:transaction:unknown-id.
func TestAMQPTransactions(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "txin"}, Body: []byte("in")}); err != nil {
		t.Fatal(err)
	}
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	zero := uint32(0)
	p.send(0, &wire.Attach{Name: "txn", Handle: 0, Role: wire.RoleSender, Source: &wire.Source{},
		Coordinator: &wire.Coordinator{Capabilities: []wire.Symbol{wire.TxnLocal}}, InitialDeliveryCount: &zero})
	if a := expect[*wire.Attach](p); a.Coordinator == nil {
		t.Fatalf("coordinator attach reply %+v", a)
	}
	expect[*wire.Flow](p)
	p.attachSender(0, 1, "s", "txout")
	p.attachReceiver(0, 2, "r", &wire.Source{Address: "txin"}, false)
	p.flow(0, 2, 0, 1, false)
	in, _ := p.recvMessage()

	declare := func(id uint32) []byte {
		p.transfer(0, 0, id, false, &wire.Message{Value: wire.Described{Descriptor: wire.DescDeclare, Value: []any{}}})
		d := expect[*wire.Disposition](p)
		decl, ok := d.State.(*wire.Declared)
		if !ok || d.First != id {
			t.Fatalf("declare answered %+v", d)
		}
		return decl.TxnID
	}
	discharge := func(id uint32, txnID []byte, fail bool) wire.DeliveryState {
		p.transfer(0, 0, id, false, &wire.Message{Value: wire.Described{Descriptor: wire.DescDischarge, Value: []any{txnID, fail}}})
		return expect[*wire.Disposition](p).State
	}
	txPublish := func(id uint32, txnID []byte, body string) {
		payload, _ := textMessage(body).Marshal(nil)
		p.send(0, &wire.Transfer{Handle: 1, DeliveryID: &id, DeliveryTag: []byte{byte(id)}, MessageFormat: &zero,
			State: &wire.TransactionalState{TxnID: txnID}, Payload: payload})
		d := expect[*wire.Disposition](p)
		ts, ok := d.State.(*wire.TransactionalState)
		if !ok || !bytes.Equal(ts.TxnID, txnID) {
			t.Fatalf("transactional publish answered %+v", d)
		}
		if _, ok := ts.Outcome.(*wire.Accepted); !ok {
			t.Fatalf("transactional outcome %+v", ts.Outcome)
		}
	}

	// Rolled back: nothing happens; the settled message comes back.
	tx1 := declare(0)
	txPublish(2, tx1, "rolled back")
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: *in.DeliveryID, Settled: true,
		State: &wire.TransactionalState{TxnID: tx1, Outcome: &wire.Accepted{}}})
	if st := discharge(1, tx1, true); !isAccepted(st) {
		t.Fatalf("rollback answered %+v", st)
	}
	if r, _ := queueDepth(b, "txout"); r != 0 {
		t.Fatalf("txout holds %d after rollback", r)
	}
	p.flow(0, 2, 1, 1, false)
	in, _ = p.recvMessage() // redelivered after the rollback

	// Committed: the publish lands and the acceptance takes effect.
	tx2 := declare(3)
	if bytes.Equal(tx1, tx2) {
		t.Fatal("two transactions with one id")
	}
	txPublish(4, tx2, "committed")
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: *in.DeliveryID, Settled: true,
		State: &wire.TransactionalState{TxnID: tx2, Outcome: &wire.Accepted{}}})
	if st := discharge(5, tx2, false); !isAccepted(st) {
		t.Fatalf("commit answered %+v", st)
	}
	if r, _ := queueDepth(b, "txout"); r != 1 {
		t.Fatalf("txout holds %d after commit, want 1", r)
	}
	if r, i := queueDepth(b, "txin"); r != 0 || i != 0 {
		t.Fatalf("txin ready %d inflight %d after commit", r, i)
	}

	// Unknown: rejected.
	st := discharge(6, binary.BigEndian.AppendUint64(nil, 999), false)
	rej, ok := st.(*wire.Rejected)
	if !ok || rej.Error == nil || rej.Error.Condition != wire.CondTransactionUnknownID {
		t.Fatalf("unknown discharge answered %+v", st)
	}
}

func isAccepted(st wire.DeliveryState) bool {
	_, ok := st.(*wire.Accepted)
	return ok
}

// TestAMQPDynamicSourceAndFilters: a dynamic source gets a temporary queue's
// address, deleted when the link closes; honoured filters are echoed and
// others left out; a bad selector is refused with amqp:invalid-field.
func TestAMQPDynamicSourceAndFilters(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	a := p.attachReceiver(0, 0, "dyn", &wire.Source{Dynamic: true}, false)
	if a.Source == nil || len(a.Source.Address) < len(prefixTempQueue) || a.Source.Address[:len(prefixTempQueue)] != prefixTempQueue {
		t.Fatalf("dynamic source %+v", a.Source)
	}
	filters := wire.Map{
		{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter("color = 'red'")},
		{Key: wire.Symbol("no-local"), Value: wire.NoLocalFilter()},
		{Key: wire.Symbol("other"), Value: wire.Described{Descriptor: wire.Symbol("x:y"), Value: "z"}},
	}
	a = p.attachReceiver(0, 1, "f", &wire.Source{Address: "topic://t", Filter: filters}, false)
	if a.Source == nil || len(a.Source.Filter) != 2 {
		t.Fatalf("filters echoed %+v", a.Source)
	}
	p.send(0, &wire.Attach{Name: "bad", Handle: 2, Role: wire.RoleReceiver, Target: &wire.Target{},
		Source: &wire.Source{Address: "q", Filter: wire.Map{{Key: wire.Symbol("jms-selector"), Value: wire.SelectorFilter("color = ")}}}})
	if a := expect[*wire.Attach](p); a.Source != nil {
		t.Fatalf("bad selector attached: %+v", a)
	}
	d := expect[*wire.Detach](p)
	if d.Error == nil || d.Error.Condition != wire.CondInvalidField {
		t.Fatalf("bad selector detach %+v", d)
	}
}

// TestAMQPSlowConsumer: a receiver that grants much credit and reads nothing
// is cut off once its outbound queue passes the cap, and its unsettled
// deliveries go back to the queue.
func TestAMQPSlowConsumer(t *testing.T) {
	s, b := testServer(t, Options{MaxPendingBytes: 64 << 10}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachReceiver(0, 0, "slow", &wire.Source{Address: "slow"}, false)
	p.flow(0, 0, 0, 10000, false)
	body := bytes.Repeat([]byte("x"), 64<<10)
	const n = 500 // 32 MB: more than socket buffers and 16 times the cap
	for range n {
		if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "slow"}, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	p.expectEOF() // reads everything the server wrote, then the close
	deadline := time.Now().Add(waitTimeout)
	for {
		r, i := queueDepth(b, "slow")
		if r == n && i == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the cut: ready %d inflight %d, want %d and 0", r, i, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publishN puts n messages on queue name.
func publishN(t *testing.T, b *backend.Broker, name string, n int) {
	t.Helper()
	for i := range n {
		if err := b.Publish(context.Background(), &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: name}, Body: []byte{byte('0' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAMQPDeliveryIDsStayContiguous: deliveries dropped because their link
// detached while the session window was closed take no delivery-id:
// the next delivery of the session gets the next number (Proton checks).
func TestAMQPDeliveryIDsStayContiguous(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	publishN(t, b, "qa", 3)
	publishN(t, b, "qb", 1)
	p := dial(t, s)
	p.open(nil)
	p.send(0, &wire.Begin{NextOutgoingID: 0, IncomingWindow: 1, OutgoingWindow: 100, HandleMax: 10})
	expect[*wire.Begin](p)
	p.attachReceiver(0, 0, "a", &wire.Source{Address: "qa"}, false)
	next, three, h0, dc0 := uint32(0), uint32(3), uint32(0), uint32(0)
	p.send(0, &wire.Flow{NextIncomingID: &next, IncomingWindow: 1, NextOutgoingID: 0, OutgoingWindow: 100,
		Handle: &h0, DeliveryCount: &dc0, LinkCredit: &three}) // one transfer frame may go; two deliveries wait
	tr, _ := p.recvMessage()
	if *tr.DeliveryID != 0 {
		t.Fatalf("first delivery-id %d", *tr.DeliveryID)
	}
	p.send(0, &wire.Detach{Handle: 0, Closed: true})
	if d := expect[*wire.Detach](p); !d.Closed {
		t.Fatalf("detach answer %+v", d)
	}
	const got = 1
	p.attachReceiver(0, 1, "b", &wire.Source{Address: "qb"}, false)
	next = got
	credit, handle, dc := uint32(1), uint32(1), uint32(0)
	p.send(0, &wire.Flow{NextIncomingID: &next, IncomingWindow: 10, NextOutgoingID: 0, OutgoingWindow: 100, Handle: &handle, DeliveryCount: &dc, LinkCredit: &credit})
	tr, m := p.recvMessage()
	if tr.Handle != 1 || string(m.Data[0]) != "0" {
		t.Fatalf("got %+v %q", tr, m.Data)
	}
	if *tr.DeliveryID != got {
		t.Fatalf("delivery-id %d after %d deliveries: a gap", *tr.DeliveryID, got)
	}
	if r, i := queueDepth(b, "qa"); r != 3 || i != 0 {
		t.Fatalf("qa ready %d inflight %d after the detach, want every message back", r, i)
	}
}

// TestAMQPReceiverSettlesSecond: with rcv-settle-mode second the client's
// unsettled outcome is applied and answered with a settled disposition.
func TestAMQPReceiverSettlesSecond(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	publishN(t, b, "second", 1)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.send(0, &wire.Attach{Name: "r", Handle: 0, Role: wire.RoleReceiver, RcvSettleMode: wire.RcvSecond,
		Source: &wire.Source{Address: "second"}, Target: &wire.Target{}})
	if a := expect[*wire.Attach](p); a.RcvSettleMode != wire.RcvSecond {
		t.Fatalf("rcv-settle-mode %v", a.RcvSettleMode)
	}
	p.flow(0, 0, 0, 1, false)
	tr, _ := p.recvMessage()
	p.send(0, &wire.Disposition{Role: wire.RoleReceiver, First: *tr.DeliveryID, State: &wire.Accepted{}})
	d := expect[*wire.Disposition](p)
	if !d.Settled || d.Role != wire.RoleSender || d.First != *tr.DeliveryID || !isAccepted(d.State) {
		t.Fatalf("answer %+v", d)
	}
	if r, i := queueDepth(b, "second"); r != 0 || i != 0 {
		t.Fatalf("ready %d inflight %d", r, i)
	}
}

// TestAMQPDynamicTarget: a sender asking for a dynamic target gets a
// temporary queue (as Qpid JMS creates TemporaryQueues) that its
// connection consumes from.
func TestAMQPDynamicTarget(t *testing.T) {
	s, _ := testServer(t, Options{}, nil)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	zero := uint32(0)
	p.send(0, &wire.Attach{Name: "tmp", Handle: 0, Role: wire.RoleSender, Source: &wire.Source{},
		Target: &wire.Target{Dynamic: true, Capabilities: []wire.Symbol{"temporary-queue"}}, InitialDeliveryCount: &zero})
	a := expect[*wire.Attach](p)
	expect[*wire.Flow](p)
	if a.Target == nil || !strings.HasPrefix(a.Target.Address, prefixTempQueue) {
		t.Fatalf("dynamic target %+v", a.Target)
	}
	p.transfer(0, 0, 0, false, textMessage("to myself"))
	expect[*wire.Disposition](p)
	p.attachReceiver(0, 1, "r", &wire.Source{Address: a.Target.Address}, true)
	p.flow(0, 1, 0, 1, false)
	if _, m := p.recvMessage(); m.Value != "to myself" {
		t.Fatalf("got %v", m.Value)
	}
}

// TestAMQPStaleDrain: a drain computed from an old delivery-count does not
// move ours back, and later credit is counted from where we are.
func TestAMQPStaleDrain(t *testing.T) {
	s, b := testServer(t, Options{}, nil)
	publishN(t, b, "stale", 3)
	p := dial(t, s)
	p.open(nil)
	p.begin(0)
	p.attachReceiver(0, 0, "r", &wire.Source{Address: "stale"}, true)
	p.flow(0, 0, 0, 3, false)
	for range 3 {
		p.recvMessage()
	}
	p.flow(0, 0, 0, 1, true) // as if the three were still in flight
	fl := expect[*wire.Flow](p)
	if *fl.DeliveryCount != 3 || *fl.LinkCredit != 0 || !fl.Drain {
		t.Fatalf("drain answer %+v: delivery-count %d credit %d", fl, *fl.DeliveryCount, *fl.LinkCredit)
	}
	publishN(t, b, "stale", 3)
	p.flow(0, 0, 3, 2, false)
	for range 2 {
		p.recvMessage()
	}
	handle, next := uint32(0), uint32(0)
	p.send(0, &wire.Flow{NextIncomingID: &next, IncomingWindow: 10000, OutgoingWindow: 10000, Handle: &handle, Echo: true})
	if perf, _ := p.next(); perf.Descriptor() != wire.DescFlow {
		t.Fatalf("got %T after the credit was used, want the echo's flow", perf)
	}
	if r, _ := queueDepth(b, "stale"); r != 1 {
		t.Fatalf("%d left, want 1", r)
	}
}
