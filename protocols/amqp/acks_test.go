package amqp

import (
	"testing"

	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// queuedDispositions decodes the frames queued on c.
func queuedDispositions(t *testing.T, c *conn) []*wire.Disposition {
	t.Helper()
	var out []*wire.Disposition
	for b := c.ctl; len(b) > 0; {
		size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		p, err := wire.DecodeFrameBody(wire.Frame{Type: wire.FrameAMQP, Body: b[8:size]})
		if err != nil {
			t.Fatal(err)
		}
		d, ok := p.(*wire.Disposition)
		if !ok {
			t.Fatalf("queued %T, want dispositions only", p)
		}
		out = append(out, d)
		b = b[size:]
	}
	return out
}

// TestAMQPOutcomesShareDispositions: outcomes that arrive before the
// writer drains the queue (a group commit's) go out as one disposition per
// run of consecutive accepted deliveries, in delivery order; an outcome
// out of order waits for the ones before it; a frame queued after an
// outcome does not overtake its disposition.
func TestAMQPOutcomesShareDispositions(t *testing.T) {
	c := &conn{opened: true, peerMaxFrame: 1 << 20}
	s := &session{c: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	var seqs []uint64
	for id := uint32(10); id < 16; id++ {
		seqs = append(seqs, s.acks.push(id))
	}
	s.completeLocked(seqs[1], accepted) // waits for 10
	if len(c.acksDue) != 0 {
		t.Fatal("an outcome behind an unknown one is due")
	}
	for _, i := range []int{0, 2, 3} {
		s.completeLocked(seqs[i], accepted)
	}
	s.completeLocked(seqs[4], &wire.Rejected{Error: wire.Errorf(wire.CondInternalError, "no")})
	s.completeLocked(seqs[5], accepted)
	if len(c.ctl) != 0 {
		t.Fatal("dispositions went out before the queue was drained")
	}
	c.flushAcksLocked()
	ds := queuedDispositions(t, c)
	if len(ds) != 3 || ds[0].First != 10 || ds[0].Last == nil || *ds[0].Last != 13 ||
		ds[1].First != 14 || ds[1].Last != nil || ds[2].First != 15 {
		t.Fatalf("dispositions %+v", ds)
	}
	if _, ok := ds[1].State.(*wire.Rejected); !ok {
		t.Fatalf("second disposition %+v", ds[1])
	}

	// A frame queued after an outcome follows its disposition.
	c.ctl, c.out = nil, nil
	seq := s.acks.push(16)
	s.completeLocked(seq, accepted)
	c.appendPerfLocked(0, &wire.Disposition{Role: wire.RoleSender, First: 99})
	ds = queuedDispositions(t, c)
	if len(ds) != 2 || ds[0].First != 16 || ds[1].First != 99 {
		t.Fatalf("order %+v", ds)
	}
}
