package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
)

// amqpBrowseRest issues credit to a browser (manual credit), waits for the
// first message, drains and returns the amqp-value strings of everything
// that arrived before the drain's answer, leaving them unsettled (a
// browser's outcomes change nothing). It waits for a message first because
// go-amqp sends a drain with link-credit 0, folding credit issued just
// before into it: the credit must reach the broker on its own flow.
func amqpBrowseRest(t *testing.T, r *amqp.Receiver, credit uint32) []string {
	t.Helper()
	if err := r.IssueCredit(credit); err != nil {
		t.Fatalf("IssueCredit: %v", err)
	}
	got := []string{amqpRecv(t, r).Value.(string)}
	if err := r.DrainCredit(amqpCtx(t), nil); err != nil {
		t.Fatalf("DrainCredit: %v", err)
	}
	for m := r.Prefetched(); m != nil; m = r.Prefetched() {
		s, _ := m.Value.(string)
		got = append(got, s)
	}
	return got
}

// TestAMQPBrowseQueue: a receiver whose source has distribution-mode copy
// (how Qpid JMS's QueueBrowser attaches) reads the messages waiting in a
// queue, in order and as its credit allows, without consuming them; once
// it has seen them all, a drain is answered at once with nothing, which
// ends the browse. Messages published after the browser attached are not
// part of it. A consumer then gets every message.
func TestAMQPBrowseQueue(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("amqp.browse")
	_, s := amqpClient(t, addr, nil)
	snd := amqpSender(t, s, q, nil)
	amqpSendText(t, snd, "m0", "m1", "m2", "m3", "m4")
	b.waitDepth(t, q, 5, 0)

	copyMode := &amqp.ReceiverOptions{Credit: -1, SourceDistributionMode: amqp.SourceDistributionModeCopy}
	br := amqpReceiver(t, s, "queue://"+q, copyMode)
	amqpSendText(t, snd, "late") // after the browser attached

	if err := br.IssueCredit(2); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		m := amqpRecv(t, br)
		got = append(got, m.Value.(string))
		amqpAccept(t, br, m) // changes nothing for a browser
	}
	got = append(got, amqpBrowseRest(t, br, 10)...)
	if want := []string{"m0", "m1", "m2", "m3", "m4"}; !slices.Equal(got, want) {
		t.Fatalf("browsed %q, want %q", got, want)
	}
	amqpExpectNone(t, br) // at the end, a drain is answered at once
	b.waitDepth(t, q, 6, 0)
	if err := br.Close(amqpCtx(t)); err != nil {
		t.Fatalf("closing the browser: %v", err)
	}

	// A second browse sees the message that arrived meanwhile.
	br2 := amqpReceiver(t, s, q, copyMode)
	if got := amqpBrowseRest(t, br2, 100); !slices.Equal(got, []string{"m0", "m1", "m2", "m3", "m4", "late"}) {
		t.Fatalf("second browse %q", got)
	}
	b.waitDepth(t, q, 6, 0)

	r := amqpReceiver(t, s, q, &amqp.ReceiverOptions{Credit: 10})
	if got := amqpRecvText(t, r, 6); !slices.Equal(got, []string{"m0", "m1", "m2", "m3", "m4", "late"}) {
		t.Fatalf("consumed %q", got)
	}
	b.waitDepth(t, q, 0, 0)
}

// TestAMQPBrowseEmptyAndSelector: browsing an empty queue ends at the
// first drain; a browser's selector filters what it sees.
func TestAMQPBrowseEmptyAndSelector(t *testing.T) {
	t.Parallel()
	b, addr := amqpStartBroker(t)
	_, s := amqpClient(t, addr, nil)
	empty := amqpReceiver(t, s, uniq("amqp.browse.empty"), &amqp.ReceiverOptions{Credit: -1, SourceDistributionMode: amqp.SourceDistributionModeCopy})
	amqpExpectNone(t, empty)

	q := uniq("amqp.browse.sel")
	snd := amqpSender(t, s, q, nil)
	for _, c := range []string{"red", "blue", "red"} {
		amqpSend(t, snd, &amqp.Message{Value: c, ApplicationProperties: map[string]any{"color": c}})
	}
	br := amqpReceiver(t, s, q, &amqp.ReceiverOptions{
		Credit:                 -1,
		SourceDistributionMode: amqp.SourceDistributionModeCopy,
		Filters:                []amqp.LinkFilter{amqp.NewSelectorFilter("color = 'red'")},
	})
	if got := amqpBrowseRest(t, br, 10); !slices.Equal(got, []string{"red", "red"}) {
		t.Fatalf("browsed %q, want two reds", got)
	}
	b.waitDepth(t, q, 3, 0)
}

// amqpProtonBrowse is a Qpid Proton client that browses a queue with the
// Copy() link option (what Qpid JMS's QueueBrowser sends), taking 2
// messages, then draining for the rest, then draining again at the end.
const amqpProtonBrowse = `
import json, sys, traceback
from proton import Terminus
from proton.reactor import Copy
from proton.utils import BlockingConnection

TIMEOUT = 10.0

def drained(conn, rcv, credit):
    rcv.link.drain(credit)
    # The drain has ended when the broker's flow spent the credit and
    # every delivery before it reached the fetcher.
    conn.wait(lambda: not rcv.link.draining() and rcv.link.queued == 0, timeout=TIMEOUT,
              msg="waiting for the drain to end")
    out = []
    while rcv.fetcher.has_message:
        out.append(rcv.fetcher.pop().body)
    return out

try:
    conn = BlockingConnection(sys.argv[1], timeout=TIMEOUT, allowed_mechs="ANONYMOUS")
    rcv = conn.create_receiver("queue://" + sys.argv[2], credit=2, options=Copy())
    first = [rcv.receive(timeout=TIMEOUT).body for _ in range(2)]
    rest = drained(conn, rcv, 10)
    end = drained(conn, rcv, 10)
    mode = {Terminus.DIST_MODE_COPY: "copy", Terminus.DIST_MODE_MOVE: "move"}.get(
        rcv.link.remote_source.distribution_mode, "unspecified")
    conn.close()
    print(json.dumps({"ok": True, "first": first, "rest": rest, "end": end, "mode": mode}))
except Exception as e:
    print(json.dumps({"ok": False, "error": repr(e), "trace": traceback.format_exc()}))
`

// TestAMQPProtonBrowse: Qpid Proton browses with the Copy() option: the
// queue's messages arrive, a drain at the end returns nothing, and the
// queue keeps them.
func TestAMQPProtonBrowse(t *testing.T) {
	amqpNeedProton(t)
	t.Parallel()
	b, addr := amqpStartBroker(t)
	q := uniq("py.browse")
	_, s := amqpClient(t, addr, nil)
	amqpSendText(t, amqpSender(t, s, q, nil), "p0", "p1", "p2", "p3")
	b.waitDepth(t, q, 4, 0)

	script := filepath.Join(t.TempDir(), "browse.py")
	if err := os.WriteFile(script, []byte(amqpProtonBrowse), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, script, addr, q)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res struct {
		OK               bool
		Error, Trace     string
		First, Rest, End []string
		Mode             string
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || !res.OK {
		t.Fatalf("proton browse: %v %s %s (run: %v)\nstdout: %s\nstderr: %s", err, res.Error, res.Trace, runErr, stdout.String(), stderr.String())
	}
	if !slices.Equal(res.First, []string{"p0", "p1"}) || !slices.Equal(res.Rest, []string{"p2", "p3"}) || len(res.End) != 0 {
		t.Fatalf("browsed first %q, rest %q, end %q", res.First, res.Rest, res.End)
	}
	if res.Mode != "copy" {
		t.Errorf("the broker's source distribution mode %q, want copy", res.Mode)
	}
	b.waitDepth(t, q, 4, 0)
}
