package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/mqgate/mqgate/cluster/failover"
	"github.com/mqgate/mqgate/protocols/stomp"
)

func TestFairShare(t *testing.T) {
	for _, tc := range []struct{ clients, brokers, want int }{
		{0, 2, 0}, {1, 2, 1}, {4, 2, 2}, {5, 2, 3}, {9, 3, 6}, {10, 3, 7}, {8, 1, 0}, {8, 0, 0},
	} {
		if got := fairShare(tc.clients, tc.brokers); got != tc.want {
			t.Errorf("fairShare(%d, %d) = %d, want %d", tc.clients, tc.brokers, got, tc.want)
		}
	}
}

// TestRebalancerDue: nothing is due while discovery has just started; a
// peer's round does each scheme once, as its URI becomes known; a new
// round starts only rebalanceQuiet after the last.
func TestRebalancerDue(t *testing.T) {
	var r rebalancer
	t0 := time.Now()
	if got := r.due("amqp://b:5672", t0, []string{"amqp"}); got != nil {
		t.Fatalf("due before discovery started = %v", got)
	}
	r.started(t0)
	if got := r.due("amqp://b:5672", t0.Add(time.Second), []string{"amqp"}); got != nil {
		t.Fatalf("due right after start = %v", got)
	}
	t1 := t0.Add(rebalanceQuiet)
	for _, step := range []struct {
		at    time.Time
		peer  string
		known []string
		want  []string
	}{
		{t1, "amqp://b:5672", []string{"amqp"}, []string{"amqp"}},
		{t1.Add(time.Second), "amqp://b:5672", []string{"stomp", "amqp"}, []string{"stomp"}},
		{t1.Add(2 * time.Second), "amqp://b:5672", []string{"stomp", "amqp"}, nil},
		{t1.Add(2 * time.Second), "amqp://c:5672", []string{"amqp"}, []string{"amqp"}},
		{t1.Add(rebalanceQuiet), "amqp://b:5672", []string{"stomp", "amqp"}, []string{"stomp", "amqp"}},
	} {
		if got := r.due(step.peer, step.at, step.known); !slices.Equal(got, step.want) {
			t.Errorf("due(%s, +%v, %v) = %v, want %v", step.peer, step.at.Sub(t0), step.known, got, step.want)
		}
	}
}

// TestRedirectHeaderMatchesClient: the broker's STOMP redirect header is
// the one the failover client follows.
func TestRedirectHeaderMatchesClient(t *testing.T) {
	if stomp.HeaderRedirect != failover.HeaderRedirect {
		t.Fatalf("stomp.HeaderRedirect %q, failover.HeaderRedirect %q", stomp.HeaderRedirect, failover.HeaderRedirect)
	}
}
