package e2e

import (
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3"

	"github.com/mqgate/mqgate/backend"
)

// TestTempQueueRequestReply: a requester names /temp-queue/r as reply-to;
// the responder sees /remote-temp-queue/...; its reply arrives at the
// requester's /temp-queue/r; once the requester is gone, sending there is
// an ERROR (all checked against ActiveMQ 5.17.2, which answers with
// DestinationDoesNotExistException).
func TestTempQueueRequestReply(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	service := "/queue/" + uniq("svc")

	responder := b.dial(t)
	requests := subscribe(t, responder, service, stomp.AckAuto)

	requester := b.dial(t)
	replies := subscribe(t, requester, "/temp-queue/r", stomp.AckAuto)
	send(t, requester, service, "ping", stomp.SendOpt.Header("reply-to", "/temp-queue/r"),
		stomp.SendOpt.Header("correlation-id", "c-1"))

	req := expectBody(t, requests, "ping")
	replyTo := req.Header.Get("reply-to")
	if !strings.HasPrefix(replyTo, "/remote-temp-queue/") {
		t.Fatalf("responder sees reply-to %q, want /remote-temp-queue/...", replyTo)
	}
	send(t, responder, replyTo, "pong", stomp.SendOpt.Header("correlation-id", req.Header.Get("correlation-id")))

	rep := expectBody(t, replies, "pong")
	if got := rep.Header.Get("destination"); got != "/temp-queue/r" {
		t.Errorf("reply destination %q, want /temp-queue/r", got)
	}
	if got := rep.Header.Get("correlation-id"); got != "c-1" {
		t.Errorf("reply correlation-id %q, want c-1", got)
	}

	// Another connection cannot consume the requester's temp queue.
	thief := dialRaw(t, b.addr)
	thief.connect("1.2")
	thief.send("SUBSCRIBE", "", "destination", replyTo, "id", "x")
	thief.expectError()
	thief.expectClosed()

	// The temp queue goes with its connection's cleanup.
	temp := backend.Destination{Kind: backend.TempQueue, Name: strings.TrimPrefix(replyTo, "/remote-temp-queue/")}
	exists := func() bool {
		for _, s := range b.gw.Broker().Stats() {
			if s.Name == temp.String() {
				return true
			}
		}
		return false
	}
	if !exists() {
		t.Fatalf("%s is not among the broker's queues while its owner is connected", temp)
	}
	if err := requester.Disconnect(); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitTimeout, func() bool { return !exists() })
	err := responder.Send(replyTo, "", []byte("too late"), stomp.SendOpt.Receipt)
	if err == nil {
		t.Fatalf("SEND to %s after its owner disconnected got a RECEIPT, want an ERROR", replyTo)
	}
	t.Logf("SEND to a deleted temp queue: %v", err)
}

// TestTempQueuesArePerConnection: two connections using the same
// /temp-queue/ name get two different queues.
func TestTempQueuesArePerConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	a, c := b.dial(t), b.dial(t)
	sa := subscribe(t, a, "/temp-queue/same", stomp.AckAuto)
	sc := subscribe(t, c, "/temp-queue/same", stomp.AckAuto)
	send(t, a, "/temp-queue/same", "to a")
	send(t, c, "/temp-queue/same", "to c")
	expectBody(t, sa, "to a")
	expectBody(t, sc, "to c")
}

// TestTempTopic: /temp-topic/ works like a topic owned by its connection,
// and a remote-temp-topic reply-to reaches it.
func TestTempTopic(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	owner := b.dial(t)
	events := subscribe(t, owner, "/temp-topic/ev", stomp.AckAuto)
	svc := "/queue/" + uniq("svc")
	worker := b.dial(t)
	jobs := subscribe(t, worker, svc, stomp.AckAuto)
	send(t, owner, svc, "job", stomp.SendOpt.Header("reply-to", "/temp-topic/ev"))
	job := expectBody(t, jobs, "job")
	rt := job.Header.Get("reply-to")
	if !strings.HasPrefix(rt, "/remote-temp-topic/") {
		t.Fatalf("reply-to %q, want /remote-temp-topic/...", rt)
	}
	send(t, worker, rt, "event")
	ev := expectBody(t, events, "event")
	if got := ev.Header.Get("destination"); got != "/temp-topic/ev" {
		t.Errorf("destination %q, want /temp-topic/ev", got)
	}
}
