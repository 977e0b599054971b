package e2e

import (
	"sort"
	"strings"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/go-stomp/stomp/v3"
)

// Queue wildcard and composite subscriptions, against the mqgate binary.

// sortedSummary renders frames as "destination:body", sorted.
func sortedSummary(fs []*rawFrame) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Value("destination") + ":" + string(f.Body)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestSemWildcardQueueSubscribe: SUBSCRIBE to /queue/<base>.> receives
// from every matching queue, those that existed and those made later,
// with the concrete queue in destination, competing with the queues'
// other consumers; each ACK settles on the queue the message came from.
func TestSemWildcardQueueSubscribe(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	base := uniq("sem.wild")
	qa, qbc, qnew := "/queue/"+base+".a", "/queue/"+base+".b.c", "/queue/"+base+".new"
	c := b.semRaw(t)
	c.send("SEND", "a1", "destination", qa)
	c.send("SEND", "bc1", "destination", qbc)
	c.send("SEND", "no", "destination", "/queue/"+base) // ">" needs one more element
	c.send("SEND", "no", "destination", "/queue/other."+base)
	got := sendR(c, "SUBSCRIBE", "", "id", "w", "destination", "/queue/"+base+".>", "ack", "client-individual")
	if s := sortedSummary(got); s != qa+":a1 "+qbc+":bc1" {
		t.Fatalf("wildcard got %s from the existing queues", s)
	}
	later := sendR(c, "SEND", "new1", "destination", qnew)
	if s := sortedSummary(later); s != qnew+":new1" {
		t.Fatalf("wildcard got %s from a queue made after it subscribed", s)
	}
	for _, f := range append(got, later...) {
		if f.Value("subscription") != "w" {
			t.Fatalf("message for subscription %q", f.Value("subscription"))
		}
		c.send("ACK", "", "id", f.Value("ack"))
	}
	sendR(c, "SEND", "", "destination", "/queue/"+uniq("sem.barrier"))
	for _, n := range []string{base + ".a", base + ".b.c", base + ".new"} {
		b.waitQueue(t, n, 0, 0)
	}
	b.waitQueue(t, base, 1, 0)

	// It competes with another consumer of one of its queues: each
	// message goes to one of them.
	other := b.semRaw(t)
	sendR(other, "SUBSCRIBE", "", "id", "o", "destination", qa, "ack", "auto")
	var mine []*rawFrame
	for i := range 10 {
		mine = append(mine, sendR(c, "SEND", "x"+itoa(i), "destination", qa)...)
	}
	theirs := expectMessages(other, 10-len(mine))
	if len(mine) == 0 || len(theirs) == 0 {
		t.Fatalf("wildcard got %d and the plain consumer %d of 10: no competition", len(mine), len(theirs))
	}
	seen := map[string]bool{}
	for _, f := range append(mine, theirs...) {
		if seen[string(f.Body)] {
			t.Fatalf("%s delivered twice", f.Body)
		}
		seen[string(f.Body)] = true
	}
}

// TestSemWildcardQueuePrefetchShared: the prefetch of a wildcard
// subscription is one window over all its queues.
func TestSemWildcardQueuePrefetchShared(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	base := uniq("sem.wpf")
	c := b.semRaw(t)
	for _, q := range []string{"a", "b"} {
		c.send("SEND", q+"1", "destination", "/queue/"+base+"."+q)
		c.send("SEND", q+"2", "destination", "/queue/"+base+"."+q)
	}
	got := sendR(c, "SUBSCRIBE", "", "id", "w", "destination", "/queue/"+base+".*", "ack", "client-individual",
		"activemq.prefetchSize", "1")
	seen := map[string]bool{}
	for n := 0; n < 4; n++ {
		if len(got) != 1 {
			t.Fatalf("%d messages outstanding with a prefetch of 1: %s", len(got), msgSummary(got))
		}
		seen[string(got[0].Body)] = true
		got = sendR(c, "ACK", "", "id", got[0].Value("ack"))
	}
	if len(got) != 0 || len(seen) != 4 {
		t.Fatalf("got %v and then %s, want the 4 messages one at a time", seen, msgSummary(got))
	}
}

// TestSemCompositeSubscribe: SUBSCRIBE to "/queue/a,/queue/b,/topic/t"
// is one subscription fed by each member; an ACK or NACK settles on the
// member the message came from.
func TestSemCompositeSubscribe(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	na, nb := uniq("sem.compa"), uniq("sem.compb")
	qa, qb, tt := "/queue/"+na, "/queue/"+nb, "/topic/"+uniq("sem.compt")
	c := b.semRaw(t)
	c.send("SEND", "a1", "destination", qa)
	got := sendR(c, "SUBSCRIBE", "", "id", "s", "destination", qa+","+qb+","+tt, "ack", "client-individual")
	got = append(got, sendR(c, "SEND", "b1", "destination", qb)...)
	got = append(got, sendR(c, "SEND", "t1", "destination", tt)...)
	if s := sortedSummary(got); s != qa+":a1 "+qb+":b1 "+tt+":t1" {
		t.Fatalf("composite got %s", s)
	}
	for _, f := range got {
		if f.Value("subscription") != "s" {
			t.Fatalf("message for subscription %q", f.Value("subscription"))
		}
		if string(f.Body) == "b1" {
			c.send("NACK", "", "id", f.Value("ack"))
		} else {
			c.send("ACK", "", "id", f.Value("ack"))
		}
	}
	sendR(c, "SEND", "", "destination", "/queue/"+uniq("sem.barrier"))
	b.waitQueue(t, na, 0, 0)
	b.waitQueue(t, nb, 0, 0)
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0)
	dead := sendR(c, "SUBSCRIBE", "", "id", "dlq", "destination", "/queue/ActiveMQ.DLQ", "ack", "auto")
	if len(dead) != 1 || string(dead[0].Body) != "b1" || dead[0].Value("original-destination") != qb {
		t.Fatalf("DLQ gave %v, want b1 from %s", dead, qb)
	}
}

// TestSemWildcardQueueGoStomp: a go-stomp client subscribes to a queue
// wildcard and acknowledges as usual.
func TestSemWildcardQueueGoStomp(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	base := uniq("sem.gswild")
	br := &broker{addr: b.stomp}
	c := br.dial(t)
	s := subscribe(t, c, "/queue/"+base+".*", stomp.AckClientIndividual)
	p := br.dial(t)
	send(t, p, "/queue/"+base+".x", "x")
	send(t, p, "/queue/"+base+".y", "y")
	got := map[string]string{}
	for range 2 {
		m := recv(t, s)
		got[string(m.Body)] = m.Header.Get("destination")
		ack(t, m)
	}
	if got["x"] != "/queue/"+base+".x" || got["y"] != "/queue/"+base+".y" {
		t.Fatalf("got %v", got)
	}
	b.waitQueue(t, base+".x", 0, 0)
	b.waitQueue(t, base+".y", 0, 0)
}

// TestSemWildcardQueueAMQP: an AMQP receiver whose source is a queue
// pattern consumes from every matching queue, existing and future; its
// outcomes settle on the right queue.
func TestSemWildcardQueueAMQP(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	base := uniq("sem.amqpwild")
	_, s := amqpClient(t, b.amqp, nil)
	amqpSendText(t, amqpSender(t, s, "queue://"+base+".a", nil), "a1")
	r := amqpReceiver(t, s, "queue://"+base+".>", &amqp.ReceiverOptions{Credit: 10})
	amqpSendText(t, amqpSender(t, s, "queue://"+base+".b", nil), "b1")
	got := map[string]string{}
	for _, m := range amqpRecvN(t, r, 2) {
		to := ""
		if m.Properties != nil && m.Properties.To != nil {
			to = *m.Properties.To
		}
		got[amqpBody(m)] = to
		amqpAccept(t, r, m)
	}
	if got["a1"] != "queue://"+base+".a" || got["b1"] != "queue://"+base+".b" {
		t.Fatalf("got %v", got)
	}
	b.waitQueue(t, base+".a", 0, 0)
	b.waitQueue(t, base+".b", 0, 0)
}

// TestSemCompositeAMQP: an AMQP sender whose target is a composite
// ("queue://a,topic://t") stores a copy in each member before the
// delivery is accepted; a receiver whose source is a composite consumes
// from every member with one credit window, and its outcomes settle on the
// queue each delivery came from. A STOMP subscriber to the topic member
// sees the copy.
func TestSemCompositeAMQP(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	base := uniq("sem.amqpcomp")
	c := b.semRaw(t)
	sendR(c, "SUBSCRIBE", "", "id", "t", "destination", "/topic/"+base+".t", "ack", "auto")

	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, "queue://"+base+".a,queue://"+base+".b,topic://"+base+".t", nil)
	amqpSendText(t, snd, "both")
	if m := c.expect("MESSAGE"); string(m.Body) != "both" {
		t.Fatalf("topic member got %q", m.Body)
	}
	b.waitQueue(t, base+".a", 1, 0)
	b.waitQueue(t, base+".b", 1, 0)

	r := amqpReceiver(t, s, "queue://"+base+".a,queue://"+base+".b", &amqp.ReceiverOptions{Credit: 10})
	got := map[string]int{}
	for _, m := range amqpRecvN(t, r, 2) {
		to := ""
		if m.Properties != nil && m.Properties.To != nil {
			to = *m.Properties.To
		}
		got[amqpBody(m)+"@"+to]++
		amqpAccept(t, r, m)
	}
	if got["both@queue://"+base+".a"] != 1 || got["both@queue://"+base+".b"] != 1 {
		t.Fatalf("composite receiver got %v", got)
	}
	b.waitQueue(t, base+".a", 0, 0)
	b.waitQueue(t, base+".b", 0, 0)

	// A bad member refuses the link, naming it.
	_, err := s.NewSender(amqpCtx(t), "queue://"+base+".a,", nil)
	if err == nil || !strings.Contains(err.Error(), "composite member") {
		t.Fatalf("a composite with an empty member: %v", err)
	}
}
