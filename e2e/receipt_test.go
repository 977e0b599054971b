package e2e

import (
	"testing"
)

// TestReceiptsOnEveryFrame: every client frame that takes a receipt
// header gets its RECEIPT (STOMP 1.2 "RECEIPT"), in each version:
// SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK (1.1+), BEGIN, COMMIT, ABORT
// and DISCONNECT, after which the connection is closed.
func TestReceiptsOnEveryFrame(t *testing.T) {
	for _, v := range []string{"1.0", "1.1", "1.2"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t)
			qn := uniq("rcpt")
			q := "/queue/" + qn
			c := dialRaw(t, b.addr)
			c.connect(v)
			withReceipt := func(id string, kv ...string) []string { return append(kv, "receipt", id) }

			// A receipt id with octets that need escaping in 1.1/1.2.
			subReceipt := "sub:1"
			if v == "1.0" {
				subReceipt = "sub-1"
			}
			c.send("SUBSCRIBE", "", withReceipt(subReceipt, "destination", q, "id", "s", "ack", "client-individual")...)
			c.expectReceipt(subReceipt)

			c.send("SEND", "m1", withReceipt("send-1", "destination", q)...)
			m := c.expectReceiptAnd("send-1", 1)[0]
			c.send("ACK", "", withReceipt("ack-1", ackHeaders(v, m)...)...)
			c.expectReceipt("ack-1")
			b.waitDepth(t, qn, 0, 0)

			if v != "1.0" {
				c.send("SEND", "m2", withReceipt("send-2", "destination", q, "persistent", "true")...)
				m = c.expectReceiptAnd("send-2", 1)[0]
				c.send("NACK", "", withReceipt("nack-1", ackHeaders(v, m)...)...)
				c.expectReceipt("nack-1")
				b.waitDepth(t, "ActiveMQ.DLQ", 1, 0)
			}

			c.send("BEGIN", "", withReceipt("begin-1", "transaction", "t1")...)
			c.expectReceipt("begin-1")
			c.send("SEND", "in tx", "destination", q, "transaction", "t1")
			c.send("COMMIT", "", withReceipt("commit-1", "transaction", "t1")...)
			msgs := c.expectReceiptAnd("commit-1", 1)
			if string(msgs[0].Body) != "in tx" {
				t.Errorf("committed message body %q", msgs[0].Body)
			}
			c.send("BEGIN", "", withReceipt("begin-2", "transaction", "t2")...)
			c.expectReceipt("begin-2")
			c.send("ACK", "", append(ackHeaders(v, msgs[0]), "transaction", "t2")...)
			c.send("ABORT", "", withReceipt("abort-1", "transaction", "t2")...)
			c.untilReceipt("abort-1", func(f *rawFrame) bool { return f.Command == "MESSAGE" }) // mqgate redelivers at ABORT

			c.send("UNSUBSCRIBE", "", withReceipt("unsub-1", "id", "s")...)
			c.untilReceipt("unsub-1", func(f *rawFrame) bool { return f.Command == "MESSAGE" })
			// Unsubscribing released the unacked message to the queue.
			b.waitDepth(t, qn, 1, 0)

			c.send("DISCONNECT", "", "receipt", "bye:1")
			c.expectReceipt("bye:1")
			c.expectClosed()
		})
	}
}

// ackHeaders returns the ACK/NACK headers naming message m in version v:
// the ack header in 1.2, subscription and message-id before.
func ackHeaders(v string, m *rawFrame) []string {
	if v == "1.2" {
		return []string{"id", m.Value("ack")}
	}
	return []string{"subscription", m.Value("subscription"), "message-id", m.Value("message-id")}
}

// TestReceiptOrder: receipts come back in the order of the frames.
func TestReceiptOrder(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect("1.2")
	q := "/queue/" + uniq("order")
	var batch string
	for i := range 100 {
		batch += encodeFrame("1.2", "SEND", "x", "destination", q, "receipt", "r"+itoa(i))
	}
	c.mustWrite(batch)
	for i := range 100 {
		c.expectReceipt("r" + itoa(i))
	}
}
