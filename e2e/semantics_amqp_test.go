package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
)

// Queue semantics over AMQP 1.0 (go-amqp), against the mqgate binary.
//
// go-amqp sends a receiver's flow from its own goroutine, so a test cannot
// know when the broker has the credit it issued; and a drain requested
// before that flow went out drops the credit (go-amqp v1.7.0's creditor
// sends the drain with none). So the tests check deliveries positively
// (the message that must come, in the order it must come; each message
// goes to one consumer), and drain only a receiver that is primed: one
// that received a message since its last IssueCredit, which proves its
// credit reached the broker. A receiver is primed by a probe message that
// only its selector takes (amqpPrimed).

// amqpDrained drains r and returns every message it holds: those the
// broker sent before answering the drain. r must use manual credit and be
// primed (see above), or the answer proves nothing.
func amqpDrained(t testing.TB, r *amqp.Receiver) []*amqp.Message {
	t.Helper()
	if err := r.DrainCredit(amqpCtx(t), nil); err != nil {
		t.Fatalf("DrainCredit: %v", err)
	}
	var out []*amqp.Message
	for m := r.Prefetched(); m != nil; m = r.Prefetched() {
		out = append(out, m)
	}
	return out
}

// amqpPrimed attaches a receiver with manual credit on source whose
// selector also takes the probe messages addressed to id, issues credit,
// sends such a probe with snd and receives (and accepts) it: the broker
// then holds the receiver's credit (less the probe).
func amqpPrimed(t testing.TB, s *amqp.Session, snd *amqp.Sender, source, id string, credit uint32, props map[string]any) *amqp.Receiver {
	t.Helper()
	r := amqpManual(t, s, source, credit, props, amqp.NewSelectorFilter("mqgateProbe IS NULL OR mqgateProbe = '"+id+"'"))
	amqpSend(t, snd, &amqp.Message{Value: "probe " + id, ApplicationProperties: map[string]any{"mqgateProbe": id}})
	if m := amqpRecv(t, r); amqpBody(m) != "probe "+id {
		t.Fatalf("priming %s: got %q", id, amqpBody(m))
	} else {
		amqpAccept(t, r, m)
	}
	return r
}

// amqpRecvN receives n messages from r.
func amqpRecvN(t testing.TB, r *amqp.Receiver, n int) []*amqp.Message {
	t.Helper()
	out := make([]*amqp.Message, 0, n)
	for range n {
		out = append(out, amqpRecv(t, r))
	}
	return out
}

// amqpBody returns m's amqp-value string.
func amqpBody(m *amqp.Message) string {
	s, _ := m.Value.(string)
	return s
}

// amqpBodies renders messages' bodies for comparisons.
func amqpBodies(ms []*amqp.Message) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = amqpBody(m)
	}
	return strings.Join(parts, " ")
}

// amqpCount returns m's header delivery-count.
func amqpCount(m *amqp.Message) uint32 {
	if m.Header == nil {
		return 0
	}
	return m.Header.DeliveryCount
}

// amqpManual attaches a receiver with manual credit, issues credit, and
// sets the link properties props (exclusive, priority) if not nil.
func amqpManual(t testing.TB, s *amqp.Session, source string, credit uint32, props map[string]any, filters ...amqp.LinkFilter) *amqp.Receiver {
	t.Helper()
	r := amqpReceiver(t, s, source, &amqp.ReceiverOptions{Credit: -1, Properties: props, Filters: filters})
	if credit > 0 {
		if err := r.IssueCredit(credit); err != nil {
			t.Fatalf("IssueCredit: %v", err)
		}
	}
	return r
}

// TestSemAMQPExclusiveTakeoverAndHandover: the link properties exclusive
// and priority: an exclusive receiver owns the queue; one of higher
// priority takes over new messages; when an owner detaches, its
// unsettled messages go, counted, to the remaining exclusive receiver of
// highest priority, and to plain receivers once none is left.
func TestSemAMQPExclusiveTakeoverAndHandover(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.amqp.excl")
	q := "queue://" + name
	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, q, nil)
	plain := amqpPrimed(t, s, snd, q, "plain", 10, map[string]any{"priority": int32(100)})
	lo := amqpManual(t, s, q, 10, map[string]any{"exclusive": true, "priority": int32(1)})
	amqpSendText(t, snd, "a", "b")
	// The plain receiver has credit and a higher priority, yet both go to
	// the exclusive one.
	ma, mb := amqpRecv(t, lo), amqpRecv(t, lo)
	if amqpBody(ma) != "a" || amqpBody(mb) != "b" {
		t.Fatalf("exclusive receiver got %q %q", amqpBody(ma), amqpBody(mb))
	}
	if got := amqpBodies(amqpDrained(t, plain)); got != "" {
		t.Fatalf("a plain receiver got %q while an exclusive one is attached", got)
	}
	amqpAccept(t, lo, ma) // b stays unsettled with lo

	hi := amqpManual(t, s, q, 10, map[string]any{"exclusive": true, "priority": int32(5)})
	amqpSendText(t, snd, "c")
	if m := amqpRecv(t, hi); amqpBody(m) != "c" { // lo had credit too
		t.Fatalf("the priority 5 exclusive receiver got %q", amqpBody(m))
	}
	if got := amqpBodies(amqpDrained(t, lo)); got != "" { // lo is primed by a and b
		t.Fatalf("the priority 1 exclusive receiver got %q after a takeover", got)
	}
	mid := amqpManual(t, s, q, 10, map[string]any{"exclusive": true, "priority": int32(3)})
	if err := hi.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	m := amqpRecv(t, mid)
	if amqpBody(m) != "c" || amqpCount(m) != 1 {
		t.Fatalf("after the owner detached, priority 3 got %q delivery-count %d, want c and 1", amqpBody(m), amqpCount(m))
	}
	if err := mid.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := lo.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	if m := amqpRecv(t, lo); amqpBody(m) != "c" || amqpCount(m) != 2 {
		t.Fatalf("then priority 1 got %q delivery-count %d, want c and 2", amqpBody(m), amqpCount(m))
	}
	if err := lo.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := plain.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	got := []*amqp.Message{amqpRecv(t, plain), amqpRecv(t, plain)}
	if amqpBodies(got) != "b c" || amqpCount(got[0]) != 1 || amqpCount(got[1]) != 3 {
		t.Fatalf("with no exclusive receiver left, plain got %q counts %d %d, want b (1) then c (3)",
			amqpBodies(got), amqpCount(got[0]), amqpCount(got[1]))
	}
	for _, m := range got {
		amqpAccept(t, plain, m)
	}
	b.waitQueue(t, name, 0, 0)
}

// amqpGroupsOf checks that each group's messages are in order and that
// the application-property JMSXGroupFirstForConsumer marks exactly the
// first of each group in ms; it returns the groups seen.
func amqpGroupsOf(t *testing.T, ms []*amqp.Message) map[string]bool {
	t.Helper()
	last := map[string]int{}
	for _, m := range ms {
		if m.Properties == nil || m.Properties.GroupID == nil {
			t.Fatalf("message %q has no group-id", amqpBody(m))
		}
		g := *m.Properties.GroupID
		gname, seq, _ := strings.Cut(amqpBody(m), "-")
		n, _ := strconv.Atoi(seq)
		l, seen := last[g]
		if gname != g || seen && n <= l {
			t.Fatalf("group %s: %q after %d", g, amqpBody(m), l)
		}
		if first := m.ApplicationProperties["JMSXGroupFirstForConsumer"] == true; first == seen {
			t.Fatalf("message %q JMSXGroupFirstForConsumer=%v, want it on the first of its group only", amqpBody(m), first)
		}
		last[g] = n
	}
	out := map[string]bool{}
	for g := range last {
		out[g] = true
	}
	return out
}

// TestSemAMQPMessageGroups: the properties group-id: each group sticks to
// one receiver, in order, groups spread over receivers, and a detached
// receiver's groups move with their unsettled messages first.
func TestSemAMQPMessageGroups(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.amqp.groups")
	q := "queue://" + name
	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, q, nil)
	r1 := amqpPrimed(t, s, snd, q, "r1", 100, nil)
	r2 := amqpPrimed(t, s, snd, q, "r2", 100, nil)
	for i := range 5 {
		for g := range 4 {
			amqpSend(t, snd, &amqp.Message{Value: fmt.Sprintf("G%d-%d", g, i),
				Properties: &amqp.MessageProperties{GroupID: amqpPtr(fmt.Sprint("G", g))}})
		}
	}
	got1, got2 := amqpDrained(t, r1), amqpDrained(t, r2)
	g1, g2 := amqpGroupsOf(t, got1), amqpGroupsOf(t, got2)
	if len(got1) != 10 || len(got2) != 10 || len(g1) != 2 || len(g2) != 2 {
		t.Fatalf("receiver 1 got %q, receiver 2 %q: want two whole groups each", amqpBodies(got1), amqpBodies(got2))
	}
	for g := range g1 {
		if g2[g] {
			t.Fatalf("group %s went to both receivers", g)
		}
	}
	for _, m := range got2 {
		amqpAccept(t, r2, m)
	}
	// r1 detaches with its 10 messages unsettled: r2 gets them, each
	// group in order, the first of each marked for its new consumer.
	if err := r1.Close(amqpCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := r2.IssueCredit(100); err != nil {
		t.Fatal(err)
	}
	moved := amqpRecvN(t, r2, 10)
	if gm := amqpGroupsOf(t, moved); fmt.Sprint(gm) != fmt.Sprint(g1) {
		t.Fatalf("moved groups %v, want receiver 1's %v", gm, g1)
	}
	for _, m := range moved {
		if amqpCount(m) != 1 {
			t.Fatalf("moved %q has delivery-count %d, want 1", amqpBody(m), amqpCount(m))
		}
		amqpAccept(t, r2, m)
	}
	b.waitQueue(t, name, 0, 0)
}

// churnAMQP attaches a receiver on s, takes life messages (or until the
// ledger is done), accepting each, then detaches with what it has
// prefetched unsettled.
func churnAMQP(s *amqp.Session, source string, life int, l *groupLedger) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	r, err := s.NewReceiver(ctx, source, &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		return ignoreDone(l, err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), waitTimeout)
		defer ccancel()
		_ = r.Close(cctx)
	}()
	for n := 0; n < life; n++ {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			return ignoreDone(l, err)
		}
		seq, _ := strconv.Atoi(amqpBody(m))
		g := ""
		if m.Properties != nil && m.Properties.GroupID != nil {
			g = *m.Properties.GroupID
		}
		id := fmt.Sprint(m.Properties.MessageID)
		if !l.take(g, seq, id, amqpCount(m) > 0) {
			return nil
		}
		// Not ctx: taking the last message completes the ledger, which
		// cancels ctx, and that message must still be accepted.
		actx, acancel := context.WithTimeout(context.Background(), waitTimeout)
		err = r.AcceptMessage(actx, m)
		acancel()
		if err != nil {
			return err
		}
	}
	l.leave()
	return nil
}

// ignoreDone returns err unless the ledger is complete (the context was
// cancelled for that).
func ignoreDone(l *groupLedger, err error) error {
	select {
	case <-l.done:
		return nil
	default:
		return err
	}
}

// TestSemAMQPGroupOrderUnderChurn: grouped messages flow while receivers
// attach and detach with prefetched messages unsettled; every group is
// consumed in order, every message once.
func TestSemAMQPGroupOrderUnderChurn(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.amqp.churn")
	q := "queue://" + name
	const groups, per = 20, 100
	l := newGroupLedger(groups * per)
	conn := amqpDial(t, b.amqp, nil)
	wait := l.churn(3, func(life int) error {
		s, err := conn.NewSession(context.Background(), nil)
		if err != nil {
			return err
		}
		defer s.Close(context.Background())
		return churnAMQP(s, q, life, l)
	})
	_, ps := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, ps, q, nil)
	for i := range per {
		for g := range groups {
			amqpSend(t, snd, &amqp.Message{Value: itoa(i), Properties: &amqp.MessageProperties{GroupID: amqpPtr(fmt.Sprint("G", g))}})
		}
	}
	l.wait(t, 120*time.Second)
	for _, err := range wait() {
		t.Error(err)
	}
	l.check(t, groups, per, groups*per/80-3)
	b.waitQueue(t, name, 0, 0)
}

// TestSemAMQPSelectorFilter: the apache.org:selector-filter:string filter
// (Qpid JMS's selector) takes only matching messages, which the others
// leave for other receivers; a bad selector refuses the attach with
// amqp:invalid-field.
func TestSemAMQPSelectorFilter(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "queue://" + uniq("sem.amqp.sel")
	_, s := amqpClient(t, b.amqp, nil)
	red := amqpManual(t, s, q, 10, nil, amqp.NewSelectorFilter("color = 'red' AND price > 10"))
	snd := amqpSender(t, s, q, nil)
	for _, m := range []struct {
		body, color string
		price       int64
	}{{"red5", "red", 5}, {"red15", "red", 15}, {"blue20", "blue", 20}, {"red12", "red", 12}} {
		amqpSend(t, snd, &amqp.Message{Value: m.body, ApplicationProperties: map[string]any{"color": m.color, "price": m.price}})
	}
	// In order: without the filter, red5 would come first.
	if got := amqpBodies(amqpRecvN(t, red, 2)); got != "red15 red12" {
		t.Fatalf("the selector receiver got %q, want red15 red12", got)
	}
	all := amqpManual(t, s, q, 10, nil)
	if got := amqpBodies(amqpRecvN(t, all, 2)); got != "red5 blue20" {
		t.Fatalf("a receiver without a selector got %q, want what the selector skipped", got)
	}
	_, err := s.NewReceiver(amqpCtx(t), q, &amqp.ReceiverOptions{Filters: []amqp.LinkFilter{amqp.NewSelectorFilter("color = 'red' AND AND x")}})
	if err == nil {
		t.Fatal("a bad selector was accepted")
	}
	if c := amqpCondition(err); c != amqp.ErrCondInvalidField {
		t.Fatalf("bad selector: condition %q (%v), want amqp:invalid-field", c, err)
	}
	if !strings.Contains(err.Error(), "position") {
		t.Errorf("bad selector error %q does not say where", err)
	}
}

// TestSemAMQPOutcomesAndDLQ: rejected goes to the DLQ with the
// application-properties originalDestination, originalMessageId and
// dlqDeliveryFailureCause; released comes back uncounted however often;
// modified delivery-failed comes back counted, and past
// broker.max_redeliveries goes to the DLQ.
func TestSemAMQPOutcomesAndDLQ(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t, "--broker-max-redeliveries", "1")
	name := uniq("sem.amqp.dlq")
	q := "queue://" + name
	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, q, nil)
	for _, body := range []string{"rej", "rel", "mod"} {
		amqpSend(t, snd, &amqp.Message{Value: body, ApplicationProperties: map[string]any{"k": "v"},
			Properties: &amqp.MessageProperties{MessageID: "ID:" + body}})
	}
	r := amqpManual(t, s, q, 3, nil)
	byBody := map[string]*amqp.Message{}
	for range 3 {
		m := amqpRecv(t, r)
		byBody[amqpBody(m)] = m
	}
	if err := r.RejectMessage(amqpCtx(t), byBody["rej"], &amqp.Error{Condition: "app:bad", Description: "poison"}); err != nil {
		t.Fatal(err)
	}
	rel := byBody["rel"]
	for range 3 { // more than max_redeliveries: a release is not a failure
		if err := r.ReleaseMessage(amqpCtx(t), rel); err != nil {
			t.Fatal(err)
		}
		if err := r.IssueCredit(1); err != nil {
			t.Fatal(err)
		}
		rel = amqpRecv(t, r)
		if amqpBody(rel) != "rel" || amqpCount(rel) != 0 {
			t.Fatalf("after a release got %q delivery-count %d, want rel and 0", amqpBody(rel), amqpCount(rel))
		}
	}
	amqpAccept(t, r, rel)
	if err := r.ModifyMessage(amqpCtx(t), byBody["mod"], &amqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	mod := amqpRecv(t, r)
	if amqpBody(mod) != "mod" || amqpCount(mod) != 1 {
		t.Fatalf("after modified delivery-failed got %q delivery-count %d, want mod and 1", amqpBody(mod), amqpCount(mod))
	}
	if err := r.ModifyMessage(amqpCtx(t), mod, &amqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	// Dead-lettered, not requeued: the queue is empty.
	b.waitQueue(t, name, 0, 0)
	b.waitQueue(t, "ActiveMQ.DLQ", 2, 0)
	dlq := amqpManual(t, s, "queue://ActiveMQ.DLQ", 2, nil)
	dead := map[string]*amqp.Message{}
	for _, m := range amqpRecvN(t, dlq, 2) {
		dead[amqpBody(m)] = m
		amqpAccept(t, dlq, m)
	}
	for body, cause := range map[string]string{"rej": "rejected", "mod": "2 times"} {
		m := dead[body]
		if m == nil {
			t.Fatalf("%s is not in the DLQ (%v)", body, dead)
		}
		p := m.ApplicationProperties
		if p["originalDestination"] != q || p["originalMessageId"] != "ID:"+body || p["k"] != "v" {
			t.Errorf("dead %s application-properties %v", body, p)
		}
		if c, _ := p["dlqDeliveryFailureCause"].(string); !strings.Contains(c, cause) {
			t.Errorf("dead %s dlqDeliveryFailureCause %q, want it to mention %q", body, c, cause)
		}
	}
}

// TestSemAMQPExpiryToDLQ: a durable message whose absolute-expiry-time
// has passed is not delivered and goes to the DLQ; a non-durable one is
// dropped.
func TestSemAMQPExpiryToDLQ(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	name := uniq("sem.amqp.expiry")
	q := "queue://" + name
	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, q, nil)
	expired := time.Now().Add(-time.Minute)
	amqpSend(t, snd, &amqp.Message{Value: "old", Header: &amqp.MessageHeader{Durable: true},
		Properties: &amqp.MessageProperties{AbsoluteExpiryTime: &expired}})
	amqpSend(t, snd, &amqp.Message{Value: "old-nd", Properties: &amqp.MessageProperties{AbsoluteExpiryTime: &expired}})
	amqpSend(t, snd, &amqp.Message{Value: "fresh", Header: &amqp.MessageHeader{Durable: true}})
	r := amqpManual(t, s, q, 10, nil)
	// First in first out: without expiry, old would come first.
	got := amqpRecv(t, r)
	if amqpBody(got) != "fresh" {
		t.Fatalf("receiver got %q first, want the unexpired message", amqpBody(got))
	}
	amqpAccept(t, r, got)
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0) // old only: old-nd was dropped
	dlq := amqpManual(t, s, "queue://ActiveMQ.DLQ", 10, nil)
	dead := amqpRecvN(t, dlq, 1)
	if amqpBodies(dead) != "old" {
		t.Fatalf("DLQ holds %q, want old", amqpBodies(dead))
	}
	p := dead[0].ApplicationProperties
	if p["dlqDeliveryFailureCause"] != "expired" || p["originalDestination"] != q ||
		p["originalExpiration"] != strconv.FormatInt(expired.UnixMilli(), 10) {
		t.Fatalf("dead letter application-properties %v", p)
	}
	if dead[0].Properties != nil && dead[0].Properties.AbsoluteExpiryTime != nil {
		t.Fatalf("the dead letter expires at %v; it should not expire", dead[0].Properties.AbsoluteExpiryTime)
	}
	amqpAccept(t, dlq, dead[0])
	b.waitQueue(t, name, 0, 0)
}

// TestSemAMQPPriorityOrder: the header priority orders waiting messages,
// first in first out within one priority.
func TestSemAMQPPriorityOrder(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t)
	q := "queue://" + uniq("sem.amqp.prio")
	_, s := amqpClient(t, b.amqp, nil)
	snd := amqpSender(t, s, q, nil)
	for i, p := range []uint8{1, 9, 4, 9, 0, 4} {
		amqpSend(t, snd, &amqp.Message{Value: "m" + itoa(i), Header: &amqp.MessageHeader{Priority: p}})
	}
	r := amqpManual(t, s, q, 10, nil)
	if got := amqpBodies(amqpRecvN(t, r, 6)); got != "m1 m3 m2 m5 m0 m4" {
		t.Fatalf("order %q, want m1 m3 (9) m2 m5 (4) m0 (1) m4 (0)", got)
	}
}
