package e2e

import (
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3"
)

// TestHeartbeatServerSends: a client that asks for beats (heart-beat:0,N)
// gets an EOL about every N ms while idle (STOMP 1.2 "Heart-beating").
func TestHeartbeatServerSends(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	const every = 300 * time.Millisecond
	c := dialRaw(t, b.addr)
	c.connect("1.2", "heart-beat", "0,300")
	var beats []time.Time
	for len(beats) < 4 {
		f, beat, err := c.next(waitTimeout)
		if err != nil {
			t.Fatalf("after %d heart-beats: %v", len(beats), err)
		}
		if !beat {
			t.Fatalf("got %s, want heart-beats only", f)
		}
		beats = append(beats, time.Now())
	}
	// Three intervals: no faster than negotiated (with slack for timers),
	// and not absurdly slow either.
	span := beats[3].Sub(beats[0])
	if span < 3*every/2 {
		t.Errorf("3 heart-beat intervals took %v; the negotiated interval is %v", span, every)
	}
	if span > 3*every*4 {
		t.Errorf("3 heart-beat intervals took %v; the negotiated interval is %v", span, every)
	}
}

// TestHeartbeatRaisedToMinimum: a request below stomp.heartbeat_min is
// raised to it; beats never come faster than the minimum.
func TestHeartbeatRaisedToMinimum(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect("1.2", "heart-beat", "0,5")
	start := time.Now()
	for n := 0; n < 5; {
		f, beat, err := c.next(waitTimeout)
		if err != nil {
			t.Fatalf("after %d heart-beats: %v", n, err)
		}
		if !beat {
			t.Fatalf("got %s, want heart-beats only", f)
		}
		n++
	}
	if took := time.Since(start); took < 5*testHeartbeatMin/2 {
		t.Errorf("5 heart-beats in %v: faster than stomp.heartbeat_min %v", took, testHeartbeatMin)
	}
}

// TestHeartbeatSilentClientDisconnected: a client that promised beats
// (heart-beat:200,0) and sends nothing is cut off after the grace period.
func TestHeartbeatSilentClientDisconnected(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	start := time.Now()
	c.connect("1.2", "heart-beat", "200,0")
	c.expectClosed()
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before even one promised interval (200ms)", took)
	}
}

// TestHeartbeatBeatingClientStaysConnected: the same promise kept (an EOL
// every 100 ms) keeps the connection for many intervals.
func TestHeartbeatBeatingClientStaysConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("beats for 1.2 s; skipped with -short")
	}
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.connect("1.2", "heart-beat", "200,0")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 12 { // 1.2 s: six promised intervals, three grace periods
		<-tick.C
		if err := c.write("\n"); err != nil {
			t.Fatalf("heart-beat write: %v (connection closed although the client beats)", err)
		}
	}
	c.send("SEND", "still here", "destination", "/queue/hb", "receipt", "r")
	c.expectReceipt("r")
}

// TestHeartbeatNegotiatedValuesLikeActiveMQ: ActiveMQ 5.17 answers
// CONNECT heart-beat:cx,cy with CONNECTED heart-beat:cy,cx, the values
// actually in force (checked against ActiveMQ 5.17.2: 0,0 -> 0,0;
// 0,1000 -> 1000,0; 1000,0 -> 0,1000; 500,500 -> 500,500). mqgate may
// raise a value to its minimum but must say 0 where no beats flow:
// clients size their timeouts from it (see the go-stomp test below).
func TestHeartbeatNegotiatedValuesLikeActiveMQ(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cases := []struct{ offer, want string }{
		{"0,0", "0,0"},
		{"0,1000", "1000,0"},
		{"1000,0", "0,1000"},
		{"500,500", "500,500"},
		{"50,50", "100,100"}, // raised to stomp.heartbeat_min (100ms)
	}
	var bad []string
	for _, tc := range cases {
		c := dialRaw(t, b.addr)
		f := c.connect("1.2", "heart-beat", tc.offer)
		if got := f.Value("heart-beat"); got != tc.want {
			bad = append(bad, "CONNECT heart-beat:"+tc.offer+" -> CONNECTED heart-beat:"+got+", want "+tc.want)
		}
	}
	if len(bad) > 0 {
		failBug(t, "CONNECTED heart-beat is not the negotiated intervals (it always says min,min): %q", bad)
	}
}

// TestHeartbeatGoStompWithoutBeatsStaysConnected: go-stomp sizes its read
// timeout from CONNECTED's first heart-beat value. A client that asks for
// no heart-beats (HeartBeat(0,0)) must not be dropped while idle, as it
// is not with ActiveMQ (which answers heart-beat:0,0).
func TestHeartbeatGoStompWithoutBeatsStaysConnected(t *testing.T) {
	if testing.Short() {
		t.Skip("idles for 1 s; skipped with -short")
	}
	t.Parallel()
	b := startBroker(t)
	// HeartBeatError shortens go-stomp's slack (5 s by default) to keep
	// the test fast; with the default the same happens after 5.1 s idle
	// (6 s with the default stomp.heartbeat_min of 1 s).
	c := b.dial(t, stomp.ConnOpt.HeartBeat(0, 0), stomp.ConnOpt.HeartBeatError(100*time.Millisecond))
	q := "/queue/" + uniq("idle")
	sub := subscribe(t, c, q, stomp.AckAuto)
	idle := time.NewTimer(time.Second) // the scenario is an idle connection
	<-idle.C
	err := c.Send(q, "", []byte("after idle"), stomp.SendOpt.Receipt)
	if err != nil {
		failBug(t, "go-stomp client with HeartBeat(0,0) is disconnected after %v idle (%v): CONNECTED said heart-beat:%d,%d although no beats were agreed; ActiveMQ says 0,0",
			time.Second, err, testHeartbeatMin.Milliseconds(), testHeartbeatMin.Milliseconds())
	}
	expectBody(t, sub, "after idle")
}
