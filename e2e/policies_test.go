package e2e

import (
	"strings"
	"testing"
)

// TestPoliciesFromConfig: broker.policies given on the command line (as a
// user would put them in the file) reach the broker core: the matching
// queues get their own redelivery limit and dead-letter queue, a topic
// pattern's prioritized_messages:false keeps FIFO order, and queues no
// entry matches keep the broker-wide settings.
func TestPoliciesFromConfig(t *testing.T) {
	t.Parallel()
	b := startSemBroker(t, "--broker-max-redeliveries", "0", "--broker-policies",
		`[{destination: "/queue/pol.orders.>", max_redeliveries: 2, dlq: DLQ.pol.orders},
		  {destination: "queue://pol.fifo", prioritized_messages: false}]`)
	c := b.semRaw(t)

	// Matching: redelivered twice, then to DLQ.pol.orders.
	orders := "/queue/" + uniq("pol.orders.eu")
	c.send("SEND", "o", "destination", orders)
	ms := sendR(c, "SUBSCRIBE", "", "id", "o", "destination", orders, "ack", "client-individual")
	if len(ms) != 1 {
		t.Fatalf("first delivery %s", msgSummary(ms))
	}
	for _, want := range []string{"2", "3"} {
		ms = sendR(c, "NACK", "", "id", ms[0].Value("ack"), "requeue", "true")
		if len(ms) != 1 || ms[0].Value("JMSXDeliveryCount") != want {
			t.Fatalf("after NACK requeue: %s, want a redelivery with JMSXDeliveryCount %s (policy max_redeliveries 2)", msgSummary(ms), want)
		}
	}
	if got := sendR(c, "NACK", "", "id", ms[0].Value("ack"), "requeue", "true"); len(got) != 0 {
		t.Fatalf("a third failure came back: %s", msgSummary(got))
	}
	b.waitQueue(t, "DLQ.pol.orders", 1, 0)
	dead := sendR(c, "SUBSCRIBE", "", "id", "dlq", "destination", "/queue/DLQ.pol.orders", "ack", "auto")
	if len(dead) != 1 || string(dead[0].Body) != "o" || !strings.Contains(dead[0].Value("original-destination"), "pol.orders.eu") {
		t.Fatalf("DLQ.pol.orders gave %s", msgSummary(dead))
	}

	// Not matching: the broker-wide limit 0 dead-letters the first
	// failure to ActiveMQ.DLQ.
	other := "/queue/" + uniq("pol.other")
	c.send("SEND", "x", "destination", other)
	mx := sendR(c, "SUBSCRIBE", "", "id", "x", "destination", other, "ack", "client-individual")
	if got := sendR(c, "NACK", "", "id", mx[0].Value("ack"), "requeue", "true"); len(got) != 0 {
		t.Fatalf("outside the policy a failure came back: %s", msgSummary(got))
	}
	b.waitQueue(t, "ActiveMQ.DLQ", 1, 0)

	// prioritized_messages:false: FIFO whatever the priority; a queue
	// without the entry orders by priority.
	for _, tc := range []struct {
		name string
		want string
	}{{"pol.fifo", "low high"}, {uniq("pol.prio"), "high low"}} {
		q := "/queue/" + tc.name
		c.send("SEND", "low", "destination", q, "priority", "1")
		sendR(c, "SEND", "high", "destination", q, "priority", "9")
		got := sendR(c, "SUBSCRIBE", "", "id", tc.name, "destination", q, "ack", "auto")
		for len(got) < 2 {
			more := expectMessages(c, 2-len(got))
			got = append(got, more...)
		}
		var order []string
		for _, m := range got {
			if m.Command == "MESSAGE" {
				order = append(order, string(m.Body))
			}
		}
		if strings.Join(order, " ") != tc.want {
			t.Errorf("%s: order %v, want %s", tc.name, order, tc.want)
		}
	}
}
