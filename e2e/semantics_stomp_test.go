package e2e

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"
)

// Queue semantics over STOMP, against the mqgate binary. Most tests use
// one raw connection for consumers and producer alike: the broker writes
// the deliveries a frame causes before that frame's RECEIPT, so "nothing
// else arrived" is exact, not a wait.

// TestSemStompExclusiveTakeover: while an exclusive consumer is attached,
// neither a plain consumer nor another exclusive consumer of the same
// priority gets anything; one of higher priority takes over new messages.
func TestSemStompExclusiveTakeover(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "/queue/" + uniq("sem.excl")
	c := b.semRaw(t)
	c.send("SUBSCRIBE", "", "id", "plain", "destination", q, "ack", "client-individual")
	c.send("SUBSCRIBE", "", "id", "ex1", "destination", q, "ack", "client-individual", "activemq.exclusive", "true")
	sendR(c, "SUBSCRIBE", "", "id", "ex2", "destination", q, "ack", "client-individual", "activemq.exclusive", "true")
	c.send("SEND", "m0", "destination", q)
	c.send("SEND", "m1", "destination", q)
	if got := msgSummary(sendR(c, "SEND", "m2", "destination", q)); got != "ex1:m0 ex1:m1 ex1:m2" {
		t.Fatalf("with an exclusive consumer attached: %s, want all three to ex1", got)
	}
	if got := sendR(c, "SUBSCRIBE", "", "id", "ex3", "destination", q, "ack", "client-individual",
		"activemq.exclusive", "true", "activemq.priority", "5"); len(got) != 0 {
		t.Fatalf("a takeover moved in-flight messages: %s", msgSummary(got))
	}
	c.send("SEND", "m3", "destination", q)
	if got := msgSummary(sendR(c, "SEND", "m4", "destination", q)); got != "ex3:m3 ex3:m4" {
		t.Fatalf("after a priority 5 exclusive consumer arrived: %s, want both to ex3", got)
	}
}

// TestSemStompExclusiveHandover: when the exclusive owner disconnects,
// its unacknowledged messages go first, in order and flagged, to the
// remaining exclusive consumer of highest priority; then down the
// priorities; then to the plain consumers.
func TestSemStompExclusiveHandover(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.handover")
	q := "/queue/" + name
	owner := b.semRaw(t)
	sendR(owner, "SUBSCRIBE", "", "id", "own", "destination", q, "ack", "client-individual",
		"activemq.exclusive", "true", "activemq.priority", "9")
	c := b.semRaw(t)
	c.send("SUBSCRIBE", "", "id", "lo", "destination", q, "ack", "client-individual", "activemq.exclusive", "true", "activemq.priority", "3")
	c.send("SUBSCRIBE", "", "id", "plain", "destination", q, "ack", "client-individual", "activemq.priority", "100")
	sendR(c, "SUBSCRIBE", "", "id", "mid", "destination", q, "ack", "client-individual", "activemq.exclusive", "true", "activemq.priority", "5")
	for i := range 4 {
		c.send("SEND", "m"+itoa(i), "destination", q)
	}
	if got := sendR(c, "SEND", "m4", "destination", q); len(got) != 0 {
		t.Fatalf("consumers waiting behind the exclusive owner got %s", msgSummary(got))
	}
	ms := expectMessages(owner, 5)
	if got := msgSummary(ms); got != "own:m0 own:m1 own:m2 own:m3 own:m4" {
		t.Fatalf("owner got %s", got)
	}
	owner.send("ACK", "", "id", ms[0].Value("ack"))
	sendR(owner, "ACK", "", "id", ms[1].Value("ack"))
	owner.send("DISCONNECT", "", "receipt", "bye")
	owner.expectReceipt("bye") // the broker released the owner's messages before this
	handed := sendR(c, "SEND", "m5", "destination", q)
	if got := msgSummary(handed); got != "mid:m2 mid:m3 mid:m4 mid:m5" {
		t.Fatalf("after the owner left: %s, want m2-m4 again then m5, to the priority 5 exclusive consumer", got)
	}
	for i, f := range handed {
		redelivered := f.Value("redelivered") == "true"
		if redelivered != (i < 3) {
			t.Fatalf("%s redelivered=%v", f.Body, redelivered)
		}
		if i < 3 && f.Value("JMSXDeliveryCount") != "2" {
			t.Fatalf("%s JMSXDeliveryCount %q, want 2", f.Body, f.Value("JMSXDeliveryCount"))
		}
	}
	next := sendR(c, "UNSUBSCRIBE", "", "id", "mid")
	if got := msgSummary(next); got != "lo:m2 lo:m3 lo:m4 lo:m5" {
		t.Fatalf("after the priority 5 one left: %s, want everything to the priority 3 exclusive consumer", got)
	}
	for i, want := range []string{"3", "3", "3", "2"} {
		if got := next[i].Value("JMSXDeliveryCount"); got != want || next[i].Value("redelivered") != "true" {
			t.Fatalf("%s JMSXDeliveryCount %q redelivered %q, want %s and true", next[i].Body, got, next[i].Value("redelivered"), want)
		}
	}
	last := sendR(c, "UNSUBSCRIBE", "", "id", "lo")
	if got := msgSummary(last); got != "plain:m2 plain:m3 plain:m4 plain:m5" {
		t.Fatalf("with no exclusive consumer left: %s, want everything to the plain consumer", got)
	}
	for _, f := range last {
		c.send("ACK", "", "id", f.Value("ack"))
	}
	sendR(c, "SEND", "", "destination", "/queue/"+uniq("sem.barrier"))
	b.waitQueue(t, name, 0, 0)
}

// groupOf checks that every message of each group went to one
// subscription, in order, and that JMSXGroupFirstForConsumer marks
// exactly the first of each; it returns the subscription of each group.
func groupOf(t *testing.T, fs []*rawFrame) map[string]string {
	t.Helper()
	owner := map[string]string{}
	last := map[string]int{}
	for _, f := range fs {
		g := f.Value("JMSXGroupID")
		gname, seq, _ := strings.Cut(string(f.Body), "-")
		if g == "" || g != gname {
			t.Fatalf("message %q has JMSXGroupID %q", f.Body, g)
		}
		n, _ := strconv.Atoi(seq)
		sub := f.Value("subscription")
		o, seen := owner[g]
		switch {
		case seen && o != sub:
			t.Fatalf("group %s went to %s and %s: %s", g, o, sub, msgSummary(fs))
		case seen && n <= last[g]:
			t.Fatalf("group %s: %d after %d", g, n, last[g])
		}
		if first := f.Value("JMSXGroupFirstForConsumer") == "true"; first == seen {
			t.Fatalf("message %s JMSXGroupFirstForConsumer=%v, want it on the first of its group only", f.Body, first)
		}
		owner[g], last[g] = sub, n
	}
	return owner
}

// TestSemStompMessageGroups: each group sticks to one consumer, in order,
// the groups spread over the consumers, and when a consumer leaves its
// groups move with their unacknowledged messages first, the new owner's
// first message of each marked JMSXGroupFirstForConsumer.
func TestSemStompMessageGroups(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "/queue/" + uniq("sem.groups")
	c := b.semRaw(t)
	c.send("SUBSCRIBE", "", "id", "s1", "destination", q, "ack", "client-individual")
	sendR(c, "SUBSCRIBE", "", "id", "s2", "destination", q, "ack", "client-individual")
	var fs []*rawFrame
	for i := range 5 {
		for g := range 4 {
			body := fmt.Sprintf("G%d-%d", g, i)
			if i == 4 && g == 3 {
				fs = sendR(c, "SEND", body, "destination", q, "JMSXGroupID", fmt.Sprint("G", g))
			} else {
				c.send("SEND", body, "destination", q, "JMSXGroupID", fmt.Sprint("G", g))
			}
		}
	}
	if len(fs) != 20 {
		t.Fatalf("got %d messages, want 20: %s", len(fs), msgSummary(fs))
	}
	owner := groupOf(t, fs)
	perSub := map[string]int{}
	for _, s := range owner {
		perSub[s]++
	}
	if perSub["s1"] != 2 || perSub["s2"] != 2 {
		t.Fatalf("groups per consumer %v, want 2 each", perSub)
	}
	// s1 leaves with nothing acknowledged: its groups go to s2, their
	// messages again in order, flagged, the first of each marked.
	moved := sendR(c, "UNSUBSCRIBE", "", "id", "s1")
	if len(moved) != 10 {
		t.Fatalf("after s1 left, s2 got %d messages, want s1's 10", len(moved))
	}
	for _, f := range moved {
		if f.Value("subscription") != "s2" || f.Value("redelivered") != "true" || owner[f.Value("JMSXGroupID")] != "s1" {
			t.Fatalf("after s1 left: %s", f)
		}
	}
	groupOf(t, moved)
	var g string
	for k, s := range owner {
		if s == "s1" {
			g = k
		}
	}
	if got := sendR(c, "SEND", g+"-5", "destination", q, "JMSXGroupID", g); len(got) != 1 || got[0].Value("subscription") != "s2" ||
		got[0].Value("JMSXGroupFirstForConsumer") == "true" {
		t.Fatalf("a later message of moved group %s: %s", g, msgSummary(got))
	}
}

// groupLedger checks grouped messages consumed under churn: for each
// group, the messages acknowledged across all consumers must be exactly
// 0, 1, 2, ... in order (no loss, no reordering, no duplicate).
type groupLedger struct {
	mu    sync.Mutex
	next  map[string]int
	ids   map[string]bool
	count int
	total int
	bad   []string
	done  chan struct{}
	// left counts consumers that left after their share, redelivered the
	// redeliveries taken: the churn the test made.
	left, redelivered int
}

func newGroupLedger(total int) *groupLedger {
	return &groupLedger{next: map[string]int{}, ids: map[string]bool{}, total: total, done: make(chan struct{})}
}

// take records that a consumer got message id, number seq of group g, and
// is about to acknowledge it; false if that breaks the group's order.
func (l *groupLedger) take(g string, seq int, id string, redelivered bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if redelivered {
		l.redelivered++
	}
	if seq != l.next[g] || l.ids[id] {
		l.bad = append(l.bad, fmt.Sprintf("group %s: got %d (id %s, seen %v), want %d", g, seq, id, l.ids[id], l.next[g]))
		return false
	}
	l.next[g]++
	l.ids[id] = true
	if l.count++; l.count == l.total {
		close(l.done)
	}
	return true
}

func (l *groupLedger) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d of %d acknowledged in order (%d consumers left, %d redeliveries); problems: %v",
		l.count, l.total, l.left, l.redelivered, l.bad)
}

// leave records that a consumer left after its share.
func (l *groupLedger) leave() {
	l.mu.Lock()
	l.left++
	l.mu.Unlock()
}

// churn runs consumers, n at a time, each consuming 20 to 80 messages and
// leaving with what it prefetched unacknowledged, until every message is
// taken; consume runs one consumer for life messages.
func (l *groupLedger) churn(n int, consume func(life int) error) (wait func() []error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for !l.failed() {
				select {
				case <-l.done:
					return
				default:
				}
				if err := consume(20 + rng.IntN(61)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	return func() []error {
		wg.Wait()
		return errs
	}
}

// check fails t unless every group was taken whole, and the churn made
// consumers leave at least minLeft times.
func (l *groupLedger) check(t *testing.T, groups, per, minLeft int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for g := range groups {
		if n := l.next[fmt.Sprint("G", g)]; n != per {
			t.Errorf("group G%d: %d acknowledged, want %d", g, n, per)
		}
	}
	if l.left < minLeft {
		t.Errorf("only %d consumers left during the test, want at least %d", l.left, minLeft)
	}
	t.Logf("%d consumers left, %d redeliveries", l.left, l.redelivered)
}

func (l *groupLedger) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bad) > 0
}

// wait waits until every message was taken or a problem was seen.
func (l *groupLedger) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() bool {
		select {
		case <-l.done:
			return true
		default:
			return l.failed()
		}
	}, l.report)
	if l.failed() {
		t.Fatal(l.report())
	}
}

// churnStomp consumes from dest for life messages (or until the ledger is
// done), acknowledging each, then disconnects with what it has prefetched
// unacknowledged.
func churnStomp(br *broker, dest string, life int, l *groupLedger) error {
	c, err := br.tryDial()
	if err != nil {
		return err
	}
	defer c.Disconnect() // after the ACKs sent: the broker handles them first
	s, err := c.Subscribe(dest, stomp.AckClientIndividual, prefetch(10))
	if err != nil {
		return err
	}
	for n := 0; n < life; n++ {
		select {
		case m, ok := <-s.C:
			if !ok {
				return fmt.Errorf("subscription closed")
			}
			if m.Err != nil {
				return m.Err
			}
			seq, _ := strconv.Atoi(string(m.Body))
			if !l.take(m.Header.Get("JMSXGroupID"), seq, m.Header.Get("message-id"), m.Header.Get("redelivered") == "true") {
				return nil
			}
			if err := c.Ack(m); err != nil {
				return err
			}
		case <-l.done:
			return nil
		}
	}
	l.leave()
	return nil
}

// TestSemStompGroupOrderUnderChurn: a few thousand grouped messages flow
// while consumers join and leave, each with prefetched messages
// unacknowledged; every group is still consumed in order, every message
// once.
func TestSemStompGroupOrderUnderChurn(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.churn")
	q := "/queue/" + name
	const groups, per = 30, 100
	l := newGroupLedger(groups * per)
	br := &broker{addr: b.stomp}
	wait := l.churn(3, func(life int) error { return churnStomp(br, q, life, l) })
	p := br.dial(t)
	for i := range per {
		for g := range groups {
			opts := []func(*frame.Frame) error{stomp.SendOpt.Header("JMSXGroupID", fmt.Sprint("G", g))}
			if g == groups-1 {
				opts = append(opts, stomp.SendOpt.Receipt) // pace the producer
			}
			if err := p.Send(q, "text/plain", []byte(itoa(i)), opts...); err != nil {
				t.Fatalf("SEND: %v", err)
			}
		}
	}
	l.wait(t, 120*time.Second)
	for _, err := range wait() {
		t.Error(err)
	}
	// Each consumer leaves after at most 80 messages.
	l.check(t, groups, per, groups*per/80-3)
	b.waitQueue(t, name, 0, 0)
}

// TestSemStompSelectors: a consumer with a selector takes only matching
// messages (STOMP header strings compared as numbers where the selector
// says so); the others stay for other consumers; a bad selector is an
// ERROR frame naming the problem and its position.
func TestSemStompSelectors(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "/queue/" + uniq("sem.sel")
	c := b.semRaw(t)
	sendR(c, "SUBSCRIBE", "", "id", "red", "destination", q, "ack", "client-individual",
		"selector", "color = 'red' AND price > 10 AND JMSPriority >= 4")
	c.send("SEND", "red5", "destination", q, "color", "red", "price", "5")
	c.send("SEND", "red15", "destination", q, "color", "red", "price", "15")
	c.send("SEND", "blue20", "destination", q, "color", "blue", "price", "20")
	c.send("SEND", "red30low", "destination", q, "color", "red", "price", "30", "priority", "1")
	if got := msgSummary(sendR(c, "SEND", "red12", "destination", q, "color", "red", "price", "12")); got != "red:red15 red:red12" {
		t.Fatalf("selector consumer got %s, want red15 and red12", got)
	}
	if got := msgSummary(sendR(c, "SUBSCRIBE", "", "id", "all", "destination", q, "ack", "auto")); got != "all:red5 all:blue20 all:red30low" {
		t.Fatalf("a consumer without a selector got %s, want the three the selector skipped", got)
	}

	bad := b.semRaw(t)
	bad.send("SUBSCRIBE", "", "id", "x", "destination", q, "selector", "color = 'red' AND AND x", "receipt", "r")
	f := bad.expectError()
	if m := f.Value("message"); !strings.Contains(m, "invalid selector") || !strings.Contains(m, "position 19") {
		t.Fatalf("ERROR message %q, want it to say invalid selector and position 19", m)
	}
	bad.expectClosed()
}

// TestSemStompNackToDLQ: NACK is a poison ack: the message goes to
// ActiveMQ.DLQ with its headers, original-destination, originalMessageId
// and dlqDeliveryFailureCause.
func TestSemStompNackToDLQ(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.nack")
	q := "/queue/" + name
	c := b.semRaw(t)
	c.send("SEND", "poison", "destination", q, "k", "v", "persistent", "true")
	ms := sendR(c, "SUBSCRIBE", "", "id", "s", "destination", q, "ack", "client-individual")
	if len(ms) != 1 {
		t.Fatalf("got %s", msgSummary(ms))
	}
	if got := sendR(c, "NACK", "", "id", ms[0].Value("ack")); len(got) != 0 {
		t.Fatalf("a NACKed message came back: %s", msgSummary(got))
	}
	b.waitQueue(t, name, 0, 0)
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0)
	dead := sendR(c, "SUBSCRIBE", "", "id", "dlq", "destination", "/queue/ActiveMQ.DLQ", "ack", "auto")
	if len(dead) != 1 {
		t.Fatalf("DLQ gave %s", msgSummary(dead))
	}
	d := dead[0]
	for k, want := range map[string]string{
		"original-destination": q, "originalMessageId": ms[0].Value("message-id"), "k": "v", "persistent": "true",
	} {
		if got := d.Value(k); got != want {
			t.Errorf("dead letter %s: %q, want %q", k, got, want)
		}
	}
	if cause := d.Value("dlqDeliveryFailureCause"); !strings.Contains(cause, "poison") {
		t.Errorf("dlqDeliveryFailureCause %q", cause)
	}
	if string(d.Body) != "poison" {
		t.Errorf("dead letter body %q", d.Body)
	}
}

// TestSemStompRequeueCountsToDLQ: NACK with requeue:true redelivers with
// redelivered:true and a rising JMSXDeliveryCount until
// broker.max_redeliveries is passed, then dead-letters;
// activemq.maximumRedeliveries on the SUBSCRIBE overrides the broker's
// limit either way.
func TestSemStompRequeueCountsToDLQ(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t, "--broker-max-redeliveries", "2")
	name := uniq("sem.requeue")
	q := "/queue/" + name
	c := b.semRaw(t)
	c.send("SEND", "x", "destination", q)
	ms := sendR(c, "SUBSCRIBE", "", "id", "s", "destination", q, "ack", "client-individual")
	if len(ms) != 1 || ms[0].Value("redelivered") != "" {
		t.Fatalf("first delivery %s", ms)
	}
	m := ms[0]
	for _, want := range []string{"2", "3"} {
		again := sendR(c, "NACK", "", "id", m.Value("ack"), "requeue", "true")
		if len(again) != 1 || again[0].Value("redelivered") != "true" || again[0].Value("JMSXDeliveryCount") != want {
			t.Fatalf("after NACK requeue: %v, want one redelivery with JMSXDeliveryCount %s", again, want)
		}
		m = again[0]
	}
	if got := sendR(c, "NACK", "", "id", m.Value("ack"), "requeue", "true"); len(got) != 0 {
		t.Fatalf("a third failure with max_redeliveries 2 was redelivered: %s", got)
	}
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0)
	dead := sendR(c, "SUBSCRIBE", "", "id", "dlq", "destination", "/queue/ActiveMQ.DLQ", "ack", "auto")
	if len(dead) != 1 || !strings.Contains(dead[0].Value("dlqDeliveryFailureCause"), "3 times") {
		t.Fatalf("DLQ gave %v", dead)
	}
	sendR(c, "UNSUBSCRIBE", "", "id", "dlq")

	// activemq.maximumRedeliveries:0 dead-letters the first failure;
	// :5 redelivers past the broker's 2.
	zero, five := "/queue/"+uniq("sem.max0"), "/queue/"+uniq("sem.max5")
	c.send("SEND", "z", "destination", zero)
	c.send("SEND", "f", "destination", five)
	mz := sendR(c, "SUBSCRIBE", "", "id", "z", "destination", zero, "ack", "client-individual", "activemq.maximumRedeliveries", "0")
	if got := sendR(c, "NACK", "", "id", mz[0].Value("ack"), "requeue", "true"); len(got) != 0 {
		t.Fatalf("with activemq.maximumRedeliveries:0 the failure came back: %v", got)
	}
	mf := sendR(c, "SUBSCRIBE", "", "id", "f", "destination", five, "ack", "client-individual", "activemq.maximumRedeliveries", "5")
	for _, want := range []string{"2", "3", "4"} {
		mf = sendR(c, "NACK", "", "id", mf[0].Value("ack"), "requeue", "true")
		if len(mf) != 1 || mf[0].Value("JMSXDeliveryCount") != want {
			t.Fatalf("with activemq.maximumRedeliveries:5: %v, want JMSXDeliveryCount %s", mf, want)
		}
	}
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0) // z
}

// TestSemStompExpiryToDLQ: an expired persistent message is never
// delivered and goes to the DLQ (cause expired, originalExpiration); an
// expired non-persistent one is dropped.
func TestSemStompExpiryToDLQ(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.expiry")
	q := "/queue/" + name
	c := b.semRaw(t)
	exp := past()
	c.send("SEND", "old", "destination", q, "persistent", "true", "expires", exp)
	c.send("SEND", "old-np", "destination", q, "expires", exp)
	c.send("SEND", "fresh", "destination", q, "persistent", "true")
	if got := msgSummary(sendR(c, "SUBSCRIBE", "", "id", "s", "destination", q, "ack", "auto")); got != "s:fresh" {
		t.Fatalf("consumer got %s, want only the unexpired message", got)
	}
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0)
	dead := sendR(c, "SUBSCRIBE", "", "id", "dlq", "destination", "/queue/ActiveMQ.DLQ", "ack", "auto")
	if len(dead) != 1 || string(dead[0].Body) != "old" {
		t.Fatalf("DLQ gave %s, want old only", msgSummary(dead))
	}
	d := dead[0]
	if d.Value("dlqDeliveryFailureCause") != "expired" || d.Value("originalExpiration") != exp ||
		d.Value("original-destination") != q || d.Value("expires") != "0" {
		t.Fatalf("dead letter headers: %s", d)
	}
	b.waitQueue(t, name, 0, 0)
}

// TestSemStompPriorityOrder: waiting messages go out by priority, first
// in first out within one.
func TestSemStompPriorityOrder(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "/queue/" + uniq("sem.prio")
	c := b.semRaw(t)
	for i, p := range []int{1, 9, 4, 9, 0, 4} {
		c.send("SEND", "m"+itoa(i), "destination", q, "priority", itoa(p))
	}
	if got := msgSummary(sendR(c, "SUBSCRIBE", "", "id", "s", "destination", q, "ack", "auto")); got != "s:m1 s:m3 s:m2 s:m5 s:m0 s:m4" {
		t.Fatalf("order %s, want m1 m3 (9) m2 m5 (4) m0 (1) m4 (0)", got)
	}
}
