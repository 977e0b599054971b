package e2e

import (
	"testing"

	"github.com/go-stomp/stomp/v3"
)

// TestCompositeSend: SEND to "/queue/a,/topic/b" (an ActiveMQ composite
// destination) delivers a copy to each member.
func TestCompositeSend(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qa, tb := "/queue/"+uniq("compa"), "/topic/"+uniq("compb")
	c := b.dial(t)
	sq := subscribe(t, c, qa, stomp.AckAuto)
	st := subscribe(t, c, tb, stomp.AckAuto)
	send(t, b.dial(t), qa+","+tb, "both")
	expectBody(t, sq, "both")
	expectBody(t, st, "both")
}

// TestWildcardTopicSubscribe: "*" matches one element of a '.'-separated
// topic name, ">" the rest, as in ActiveMQ.
func TestWildcardTopicSubscribe(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	base := uniq("prices")
	c := b.dial(t)
	star := subscribe(t, c, "/topic/"+base+".*", stomp.AckAuto)
	rest := subscribe(t, c, "/topic/"+base+".>", stomp.AckAuto)
	p := b.dial(t)
	send(t, p, "/topic/"+base+".eu.fr", "deep")
	send(t, p, "/topic/"+base+".eu", "eu")
	expectBody(t, rest, "deep")
	expectBody(t, rest, "eu")
	m := expectBody(t, star, "eu") // "deep" has one element too many for "*"
	if got := m.Header.Get("destination"); got != "/topic/"+base+".eu" {
		t.Fatalf("destination %q, want the concrete topic", got)
	}
}

// TestQueueBrowser: SUBSCRIBE with browser:true gets the waiting messages
// and then a MESSAGE with browser:end, and consumes nothing.
func TestQueueBrowser(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	qn := uniq("browse")
	want := publishN(t, b.dial(t), "/queue/"+qn, "b", 3)
	r := dialRaw(t, b.addr)
	r.connect("1.2")
	r.send("SUBSCRIBE", "", "destination", "/queue/"+qn, "id", "br", "browser", "true")
	for i := 0; ; {
		f, beat, err := r.next(waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if beat {
			continue
		}
		if f.Command != "MESSAGE" {
			t.Fatalf("got %s", f)
		}
		if f.Value("browser") == "end" {
			if i != len(want) {
				t.Fatalf("browse ended after %d messages, want %d", i, len(want))
			}
			break
		}
		if i >= len(want) || string(f.Body) != want[i] {
			t.Fatalf("browsed message %d is %q, want %q", i, f.Body, want)
		}
		i++
	}
	b.waitDepth(t, qn, 3, 0)
}
