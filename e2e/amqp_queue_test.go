package e2e

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/go-amqp"

	"github.com/mqgate/mqgate/config"
)

// TestAMQPQueueSendReceive: messages sent unsettled to a queue are
// accepted by the broker, received in order and gone once accepted; every
// address form names the same queue.
func TestAMQPQueueSendReceive(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	_, s := amqpClient(t, addr, nil)
	q := uniq("amqp.q")
	for _, target := range []string{q, "queue://" + q, "/queue/" + q} {
		snd := amqpSender(t, s, target, nil)
		amqpSendText(t, snd, target+" 1", target+" 2")
	}
	b.waitDepth(t, q, 6, 0)
	r := amqpReceiver(t, s, "queue://"+q, &amqp.ReceiverOptions{Credit: 10})
	got := amqpRecvText(t, r, 6)
	want := []string{q + " 1", q + " 2", "queue://" + q + " 1", "queue://" + q + " 2", "/queue/" + q + " 1", "/queue/" + q + " 2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	b.waitDepth(t, q, 0, 0)
}

// TestAMQPCompetingReceivers: two receivers of one queue share its
// messages, each message going to exactly one.
func TestAMQPCompetingReceivers(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.compete")
	_, s1 := amqpClient(t, addr, nil)
	_, s2 := amqpClient(t, addr, nil)
	r1 := amqpReceiver(t, s1, q, &amqp.ReceiverOptions{Credit: 5})
	r2 := amqpReceiver(t, s2, q, &amqp.ReceiverOptions{Credit: 5})
	_, sp := amqpClient(t, addr, nil)
	snd := amqpSender(t, sp, q, nil)
	const n = 40
	for i := range n {
		amqpSendText(t, snd, fmt.Sprintf("m%02d", i))
	}
	var got []string
	counts := [2]int{}
	for len(got) < n {
		for i, r := range []*amqp.Receiver{r1, r2} {
			if m := r.Prefetched(); m != nil {
				got = append(got, m.Value.(string))
				amqpAccept(t, r, m)
				counts[i]++
			}
		}
		if len(got) < n {
			waitTick()
		}
	}
	sort.Strings(got)
	for i, s := range got {
		if s != fmt.Sprintf("m%02d", i) {
			t.Fatalf("messages %q: duplicate or missing", got)
		}
	}
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("one receiver got everything: %v", counts)
	}
	b.waitDepth(t, q, 0, 0)
}

// TestAMQPSettlementOutcomes: rejected goes to the DLQ with the cause;
// released comes back not counted as a failure; modified with
// delivery-failed comes back with the delivery-count raised; modified
// without it is released.
func TestAMQPSettlementOutcomes(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.outcome")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, nil)
	amqpSendText(t, snd, "reject", "release", "fail", "modify")
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 4})
	for range 4 {
		m := amqpRecv(t, r)
		var err error
		switch m.Value {
		case "reject":
			err = r.RejectMessage(amqpCtx(t), m, &amqp.Error{Condition: "app:bad", Description: "poison"})
		case "release":
			err = r.ReleaseMessage(amqpCtx(t), m)
		case "fail":
			err = r.ModifyMessage(amqpCtx(t), m, &amqp.ModifyMessageOptions{DeliveryFailed: true})
		case "modify":
			err = r.ModifyMessage(amqpCtx(t), m, &amqp.ModifyMessageOptions{UndeliverableHere: true})
		}
		if err != nil {
			t.Fatalf("settling %v: %v", m.Value, err)
		}
	}
	counts := map[string]uint32{}
	for range 3 {
		m := amqpRecv(t, r)
		if m.Header == nil {
			t.Fatalf("redelivered %v has no header", m.Value)
		}
		counts[m.Value.(string)] = m.Header.DeliveryCount
		amqpAccept(t, r, m)
	}
	if want := map[string]uint32{"release": 0, "fail": 1, "modify": 0}; !mapsEqual(counts, want) {
		t.Fatalf("redeliveries with delivery-counts %v, want %v", counts, want)
	}
	dlq := amqpReceiver(t, s, "ActiveMQ.DLQ", nil)
	var dead *amqp.Message
	for dead == nil {
		m := amqpRecv(t, dlq)
		amqpAccept(t, dlq, m)
		if m.ApplicationProperties["originalDestination"] == "queue://"+q {
			dead = m
		}
	}
	if dead.Value != "reject" {
		t.Fatalf("dead letter %v, want reject", dead.Value)
	}
	if cause, _ := dead.ApplicationProperties["dlqDeliveryFailureCause"].(string); !strings.Contains(cause, "poison") && !strings.Contains(cause, "rejected") {
		t.Errorf("dlqDeliveryFailureCause %q", cause)
	}
	b.waitDepth(t, q, 0, 0)
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAMQPPresettled: a pre-settled sender's messages arrive; a receiver
// asking for settled deliveries gets them settled and the queue forgets
// them at once.
func TestAMQPPresettled(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.presettled")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, &amqp.SenderOptions{SettlementMode: amqpPtr(amqp.SenderSettleModeSettled)})
	for i := range 5 {
		amqpSend(t, snd, &amqp.Message{Value: fmt.Sprint(i)})
	}
	b.waitDepth(t, q, 5, 0)
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 10, RequestedSenderSettleMode: amqpPtr(amqp.SenderSettleModeSettled)})
	for i := range 5 {
		m := amqpRecv(t, r)
		if m.Value != fmt.Sprint(i) {
			t.Fatalf("message %d: %v", i, m.Value)
		}
	}
	b.waitDepth(t, q, 0, 0)
}

// TestAMQPLargeMessages: several-MiB messages go through in many frames
// both ways, bodies intact, as data and as amqp-value.
func TestAMQPLargeMessages(t *testing.T) {
	t.Parallel()
	_, addr := amqpStartBroker(t)
	q := uniq("amqp.large")
	_, s := amqpClient(t, addr, &amqp.ConnOptions{MaxFrameSize: 16 << 10})
	snd := amqpSender(t, s, q, nil)
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	text := strings.Repeat("grand message ", 300_000) // 4.2 MB
	amqpSend(t, snd, &amqp.Message{Data: [][]byte{big}})
	amqpSend(t, snd, &amqp.Message{Value: text})
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 2})
	m := amqpRecv(t, r)
	if len(m.Data) != 1 || !bytes.Equal(m.Data[0], big) {
		t.Fatalf("binary body of %d bytes came back different", len(big))
	}
	amqpAccept(t, r, m)
	m = amqpRecv(t, r)
	if m.Value != text {
		t.Fatalf("text body came back different (%T)", m.Value)
	}
	amqpAccept(t, r, m)
}

// TestAMQPAnonymousRelay: a sender with no target address sends each
// message to its to address, kind from the prefix or x-opt-jms-dest.
func TestAMQPAnonymousRelay(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.relay")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, "", nil)
	amqpSend(t, snd, &amqp.Message{Value: "a", Properties: &amqp.MessageProperties{To: amqpPtr("queue://" + q)}})
	amqpSend(t, snd, &amqp.Message{Value: "b", Properties: &amqp.MessageProperties{To: amqpPtr(q)}})
	b.waitDepth(t, q, 2, 0)
	err := snd.Send(amqpCtx(t), &amqp.Message{Value: "nowhere"}, nil)
	if c := amqpCondition(err); c != amqp.ErrCondNotFound {
		t.Fatalf("a message with no to: %v (condition %q), want rejected with amqp:not-found", err, c)
	}
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 2})
	if got := amqpRecvText(t, r, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %q", got)
	}
}

// TestAMQPSelector: a JMS selector filter on the source delivers only the
// matching messages; others stay for other consumers.
func TestAMQPSelector(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.selector")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, nil)
	for i, color := range []string{"red", "blue", "red", "green"} {
		amqpSend(t, snd, &amqp.Message{Value: fmt.Sprint(i), ApplicationProperties: map[string]any{"color": color, "n": int64(i)}})
	}
	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 10, Filters: []amqp.LinkFilter{amqp.NewSelectorFilter("color = 'red' AND n >= 0")}})
	if got := amqpRecvText(t, r, 2); !slices.Equal(got, []string{"0", "2"}) {
		t.Fatalf("selected %q, want 0 and 2", got)
	}
	b.waitDepth(t, q, 2, 0)
	_, err := s.NewReceiver(amqpCtx(t), q, &amqp.ReceiverOptions{Filters: []amqp.LinkFilter{amqp.NewSelectorFilter("color = ")}})
	if c := amqpCondition(err); c != amqp.ErrCondInvalidField {
		t.Fatalf("bad selector: %v (condition %q), want amqp:invalid-field", err, c)
	}
}

// TestAMQPPersistentSurvivesRestart: a durable message accepted by the
// broker is on disk: a new gateway on the same data directory delivers it.
func TestAMQPPersistentSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	useDisk := func(c *config.Config) {
		c.Store.Type = config.StoreDisk
		c.Node.DataDir = dir
	}
	q := uniq("amqp.persist")
	b1, addr := amqpStartBroker(t, useDisk)
	c1, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, nil)
	amqpSend(t, snd, &amqp.Message{Header: &amqp.MessageHeader{Durable: true}, Value: "kept"})
	amqpSend(t, snd, &amqp.Message{Value: "lost"})
	_ = c1.Close()
	b1.close(t)
	b2, addr2 := amqpStartBroker(t, useDisk)
	_, s2 := amqpClient(t, addr2, nil)
	b2.waitDepth(t, q, 1, 0)
	r := amqpReceiver(t, s2, q, nil)
	m := amqpRecv(t, r)
	if m.Value != "kept" || m.Header == nil || !m.Header.Durable {
		t.Fatalf("recovered %v header %+v", m.Value, m.Header)
	}
	amqpAccept(t, r, m)
}

// TestAMQPPropertyTypesKept: application-properties keep their AMQP types
// from producer to consumer (an int stays an int, as Qpid JMS's
// getIntProperty needs), also across a restart of a disk-backed broker.
func TestAMQPPropertyTypesKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	props := map[string]any{"i8": int8(-8), "i16": int16(300), "i32": int32(70000), "i64": int64(1) << 40,
		"u8": uint8(200), "u32": uint32(4000000000), "f32": float32(1.5), "f64": 2.25, "s": "x", "b": true}
	start := func() (*proc, string) {
		p := startMQGate(t, nil, "serve", "--stomp-listen", "", "--admin-listen", "", "--amqp-listen", "127.0.0.1:0",
			"--log-format", "json", "--store-type", "disk", "--node-data-dir", dir)
		return p, p.logField("AMQP 1.0 listening", "addr")
	}
	p, addr := start()
	_, s := amqpClient(t, addr, nil)
	amqpSend(t, amqpSender(t, s, "queue://types", nil), &amqp.Message{
		Header: &amqp.MessageHeader{Durable: true}, ApplicationProperties: props, Data: [][]byte{[]byte("t")}})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(waitTimeout)
	_, addr = start()
	_, s = amqpClient(t, addr, nil)
	m := amqpRecv(t, amqpReceiver(t, s, "queue://types", nil))
	for k, want := range props {
		if got := m.ApplicationProperties[k]; got != want {
			t.Errorf("property %s = %#v (%T), want %#v (%T)", k, got, got, want, want)
		}
	}
}
