package e2e

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/go-stomp/stomp/v3"
)

// TestAMQPFromSTOMP: messages a STOMP client sends arrive at an AMQP
// receiver with their body and headers mapped: a text body as an
// amqp-value string (a JMS TextMessage), a content-length body as a data
// section (a BytesMessage), STOMP headers as properties, user headers as
// application-properties.
func TestAMQPFromSTOMP(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	name := uniq("amqp.fromstomp")
	sc := b.dial(t)
	expires := time.Now().Add(time.Hour).UnixMilli()
	text := "héllo from STOMP ✓"
	send(t, sc, "/queue/"+name, text, stomp.SendOpt.NoContentLength,
		stomp.SendOpt.Header("persistent", "true"),
		stomp.SendOpt.Header("priority", "7"),
		stomp.SendOpt.Header("expires", strconv.FormatInt(expires, 10)),
		stomp.SendOpt.Header("correlation-id", "corr-1"),
		stomp.SendOpt.Header("type", "order"),
		stomp.SendOpt.Header("reply-to", "/queue/replies"),
		stomp.SendOpt.Header("JMSXGroupID", "g1"),
		stomp.SendOpt.Header("JMSXGroupSeq", "3"),
		stomp.SendOpt.Header("color", "red"),
		stomp.SendOpt.Header("unicode", "wörld"))
	bin := []byte{0, 1, 2, 0xff, 0, 'x'}
	if err := sc.Send("/queue/"+name, "application/octet-stream", bin, stomp.SendOpt.Receipt, stomp.SendOpt.Header("k", "v")); err != nil {
		t.Fatal(err)
	}

	_, s := amqpClient(t, addr, nil)
	r := amqpReceiver(t, s, "queue://"+name, &amqp.ReceiverOptions{Credit: 2})
	m := amqpRecv(t, r)
	if m.Value != text {
		t.Fatalf("text body %T %q, want the amqp-value %q", m.Value, m.Value, text)
	}
	if m.Annotations["x-opt-jms-msg-type"] != int8(5) || m.Annotations["x-opt-jms-dest"] != int8(0) {
		t.Errorf("annotations %v, want x-opt-jms-msg-type 5 (text) and x-opt-jms-dest 0 (queue)", m.Annotations)
	}
	h, p := m.Header, m.Properties
	if h == nil || !h.Durable || h.Priority != 7 || h.TTL <= 0 || h.TTL > time.Hour {
		t.Errorf("header %+v", h)
	}
	if p == nil {
		t.Fatal("no properties")
	}
	str := func(s *string) string {
		if s == nil {
			return "<nil>"
		}
		return *s
	}
	if id, _ := p.MessageID.(string); !strings.HasPrefix(id, "ID:") {
		t.Errorf("message-id %#v, want the broker's ID string", p.MessageID)
	}
	if p.CorrelationID != "corr-1" || str(p.Subject) != "order" || str(p.ReplyTo) != "queue://replies" ||
		str(p.To) != "queue://"+name || str(p.GroupID) != "g1" || p.GroupSequence == nil || *p.GroupSequence != 3 {
		t.Errorf("properties correlation %v subject %s reply-to %s to %s group %s/%v", p.CorrelationID, str(p.Subject),
			str(p.ReplyTo), str(p.To), str(p.GroupID), p.GroupSequence)
	}
	if p.AbsoluteExpiryTime == nil || p.AbsoluteExpiryTime.UnixMilli() != expires {
		t.Errorf("absolute-expiry-time %v, want %d", p.AbsoluteExpiryTime, expires)
	}
	if p.CreationTime == nil || !amqpRecent(*p.CreationTime, time.Minute) {
		t.Errorf("creation-time %v", p.CreationTime)
	}
	if m.ApplicationProperties["color"] != "red" || m.ApplicationProperties["unicode"] != "wörld" {
		t.Errorf("application-properties %v", m.ApplicationProperties)
	}
	amqpAccept(t, r, m)

	m = amqpRecv(t, r)
	if len(m.Data) != 1 || !bytes.Equal(m.Data[0], bin) || m.Value != nil {
		t.Fatalf("binary body: data %q value %v, want one data section %q", m.Data, m.Value, bin)
	}
	if m.Annotations["x-opt-jms-msg-type"] != int8(3) {
		t.Errorf("x-opt-jms-msg-type %v, want 3 (bytes)", m.Annotations["x-opt-jms-msg-type"])
	}
	if str(m.Properties.ContentType) != "application/octet-stream" || m.ApplicationProperties["k"] != "v" {
		t.Errorf("content-type %s properties %v", str(m.Properties.ContentType), m.ApplicationProperties)
	}
	amqpAccept(t, r, m)
	b.waitDepth(t, name, 0, 0)
}

// TestAMQPToSTOMP: messages an AMQP client sends arrive at a STOMP
// subscriber: an amqp-value string as a text body, a data section as a
// content-length body, properties as STOMP headers and
// application-properties as user headers; another body kind arrives as
// its encoded sections, marked, and goes back to AMQP unchanged when the
// STOMP client forwards it.
func TestAMQPToSTOMP(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	name := uniq("amqp.tostomp")
	sc := b.dial(t)
	sub := subscribe(t, sc, "/queue/"+name, stomp.AckClientIndividual)

	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, name, nil)
	gs := uint32(9)
	amqpSend(t, snd, &amqp.Message{
		Header: &amqp.MessageHeader{Durable: true, Priority: 6},
		Properties: &amqp.MessageProperties{
			MessageID: "ID:amqp-1", CorrelationID: "corr-9", Subject: amqpPtr("invoice"),
			ContentType: amqpPtr("text/plain"), ReplyTo: amqpPtr("queue://answers"),
			GroupID: amqpPtr("grp"), GroupSequence: &gs,
		},
		ApplicationProperties: map[string]any{"s": "v", "i": int32(7), "b": true, "f": 1.5, "l": int64(-3)},
		Value:                 "text from AMQP",
	})
	bin := []byte("bytes\x00with nul")
	amqpSend(t, snd, &amqp.Message{Data: [][]byte{bin}, Properties: &amqp.MessageProperties{MessageID: uint64(77)}})
	seq := [][]any{{"a", int64(1), true}}
	amqpSend(t, snd, &amqp.Message{Sequence: seq})

	m := recv(t, sub)
	if string(m.Body) != "text from AMQP" {
		t.Fatalf("text body %q", m.Body)
	}
	if _, ok := m.Header.Contains("content-length"); ok {
		t.Errorf("a text body came with content-length: %s", dumpHeader(m.Header))
	}
	want := map[string]string{
		"message-id": "ID:amqp-1", "correlation-id": "corr-9", "type": "invoice", "content-type": "text/plain",
		"reply-to": "/queue/answers", "persistent": "true", "priority": "6", "JMSXGroupID": "grp", "JMSXGroupSeq": "9",
		"s": "v", "i": "7", "b": "true", "f": "1.5", "l": "-3", "destination": "/queue/" + name,
	}
	for k, v := range want {
		if got, ok := m.Header.Contains(k); !ok || got != v {
			t.Errorf("header %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	ack(t, m)

	m = recv(t, sub)
	if !bytes.Equal(m.Body, bin) {
		t.Fatalf("binary body %q, want %q", m.Body, bin)
	}
	if cl := m.Header.Get("content-length"); cl != strconv.Itoa(len(bin)) {
		t.Errorf("content-length %q", cl)
	}
	if id := m.Header.Get("message-id"); id != "ID:AMQP_ULONG:77" {
		t.Errorf("message-id %q, want ID:AMQP_ULONG:77", id)
	}
	ack(t, m)

	m = recv(t, sub)
	if m.Header.Get("MQGATE_AMQP_BODY") != "sections" || len(m.Body) == 0 {
		t.Fatalf("amqp-sequence body: headers %s body %q", dumpHeader(m.Header), m.Body)
	}
	ack(t, m)
	// The STOMP client forwards it as it got it; an AMQP consumer gets the
	// original sequence back.
	fwd := uniq("amqp.forward")
	if err := sc.Send("/queue/"+fwd, "", m.Body, stomp.SendOpt.Receipt, stomp.SendOpt.Header("MQGATE_AMQP_BODY", "sections")); err != nil {
		t.Fatal(err)
	}
	r := amqpReceiver(t, s, fwd, nil)
	got := amqpRecv(t, r)
	if len(got.Sequence) != 1 || !slices.Equal(got.Sequence[0], seq[0]) {
		t.Fatalf("forwarded sequence %v, want %v", got.Sequence, seq)
	}
	if _, ok := got.ApplicationProperties["MQGATE_AMQP_BODY"]; ok {
		t.Errorf("the body marker leaked into application-properties: %v", got.ApplicationProperties)
	}
	amqpAccept(t, r, got)
}

// TestAMQPSTOMPRequestReply: a STOMP requester with a temporary queue is
// answered by an AMQP responder through reply-to, and the other way round.
func TestAMQPSTOMPRequestReply(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	service := uniq("amqp.svc")
	_, s := amqpClient(t, addr, nil)
	requests := amqpReceiver(t, s, service, &amqp.ReceiverOptions{Credit: 5})
	replier := amqpSender(t, s, "", nil)

	sc := b.dial(t)
	replies := subscribe(t, sc, "/temp-queue/answers", stomp.AckAuto)
	send(t, sc, "/queue/"+service, "question", stomp.SendOpt.Header("reply-to", "/temp-queue/answers"),
		stomp.SendOpt.Header("correlation-id", "q1"))
	m := amqpRecv(t, requests)
	if m.Properties == nil || m.Properties.ReplyTo == nil || !strings.HasPrefix(*m.Properties.ReplyTo, "temp-queue://") {
		t.Fatalf("reply-to %+v", m.Properties)
	}
	amqpSend(t, replier, &amqp.Message{Value: "answer", Properties: &amqp.MessageProperties{
		To: m.Properties.ReplyTo, CorrelationID: m.Properties.CorrelationID}})
	amqpAccept(t, requests, m)
	got := expectBody(t, replies, "answer")
	if got.Header.Get("correlation-id") != "q1" {
		t.Errorf("correlation-id %q", got.Header.Get("correlation-id"))
	}

	// AMQP requester, STOMP responder.
	ssub := subscribe(t, sc, "/queue/"+service+".stomp", stomp.AckAuto)
	dyn := amqpReceiver(t, s, "", &amqp.ReceiverOptions{DynamicAddress: true})
	req := amqpSender(t, s, service+".stomp", nil)
	amqpSend(t, req, &amqp.Message{Value: "to stomp", Properties: &amqp.MessageProperties{ReplyTo: amqpPtr(dyn.Address())}})
	sm := expectBody(t, ssub, "to stomp")
	rt := sm.Header.Get("reply-to")
	if !strings.HasPrefix(rt, "/remote-temp-queue/") {
		t.Fatalf("STOMP reply-to %q", rt)
	}
	send(t, sc, rt, "from stomp") // with content-length: a bytes message
	reply := amqpRecv(t, dyn)
	if len(reply.Data) != 1 || string(reply.Data[0]) != "from stomp" {
		t.Fatalf("reply data %q value %v", reply.Data, reply.Value)
	}
	amqpAccept(t, dyn, reply)
}
