package e2e

import (
	"testing"

	"github.com/go-stomp/stomp/v3"
)

// TestDisconnectReceiptAfterCleanup: once a client has the RECEIPT of its
// DISCONNECT, the broker has let go of the session: its client-id may be
// used again at once and its durable subscription is inactive (ActiveMQ
// answers DISCONNECT only after removing the connection).
func TestDisconnectReceiptAfterCleanup(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	id := uniq("reuse")
	topic := "/topic/" + uniq("reuse")
	for i := range 200 {
		c, err := b.tryDial(clientID(id))
		if err != nil {
			failBug(t, "round %d: CONNECT with the client-id of a connection whose DISCONNECT was just receipted is refused (%v): the RECEIPT for DISCONNECT is queued before the connection's cleanup releases the client-id and subscriptions", i, err)
		}
		if _, err := c.Subscribe(topic, stomp.AckClientIndividual, durableName("d")); err != nil {
			t.Fatal(err)
		}
		if err := c.Disconnect(); err != nil {
			failBug(t, "round %d: durable SUBSCRIBE right after reconnecting failed (%v): the previous connection's subscription was still active after the RECEIPT of its DISCONNECT", i, err)
		}
	}
}
