package main

import (
	"math"
	"math/bits"
	"time"
)

// latencyHist is a log-linear histogram of durations in nanoseconds: exact
// below 256 ns, then 128 buckets per power of two (at most 0.4% error from
// the bucket's midpoint). Fixed size (about 60 KiB), no allocation per
// record. Owned by one goroutine; merge copies after that goroutine is done.
type latencyHist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histExact   = 256 // values below this have their own bucket
	histSub     = 128 // buckets per power of two above histExact
	histBuckets = histExact + (64-8)*histSub
)

// histIndex returns the bucket of v (v >= 0).
func histIndex(v int64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 8 // v>>shift is in [128, 256)
	m := int(uint64(v) >> shift)
	return histExact + (shift-1)*histSub + (m - histSub)
}

// histValue returns the midpoint of bucket i.
func histValue(i int) int64 {
	if i < histExact {
		return int64(i)
	}
	i -= histExact
	shift := i/histSub + 1
	m := int64(i%histSub + histSub)
	lo := m << shift
	return lo + (int64(1)<<shift)/2
}

// record adds one sample; negative values (clock steps) count as 0.
func (h *latencyHist) record(d int64) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(d)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// merge adds o's samples to h.
func (h *latencyHist) merge(o *latencyHist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at quantile q in [0, 1] (the smallest recorded
// bucket whose cumulative count reaches ceil(q*n)), clamped to [min, max].
// It returns 0 for an empty histogram.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			v := histValue(i)
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// mean returns the mean sample, 0 when empty.
func (h *latencyHist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// seqSet is a growable bitset of the sequence numbers seen from one producer.
type seqSet struct {
	words []uint64
	count int64 // distinct members
}

// add inserts seq (>= 0) and reports whether it was already present.
func (s *seqSet) add(seq int64) (dup bool) {
	w := int(seq >> 6)
	if w >= len(s.words) {
		n := max(w+1, 2*len(s.words), 16)
		nw := make([]uint64, n)
		copy(nw, s.words)
		s.words = nw
	}
	bit := uint64(1) << (uint(seq) & 63)
	if s.words[w]&bit != 0 {
		return true
	}
	s.words[w] |= bit
	s.count++
	return false
}

// has reports whether seq is present.
func (s *seqSet) has(seq int64) bool {
	w := int(seq >> 6)
	return seq >= 0 && w < len(s.words) && s.words[w]&(uint64(1)<<(uint(seq)&63)) != 0
}

// union adds o's members to s and returns how many were in both.
func (s *seqSet) union(o *seqSet) (overlap int64) {
	if len(o.words) > len(s.words) {
		nw := make([]uint64, len(o.words))
		copy(nw, s.words)
		s.words = nw
	}
	for i, w := range o.words {
		both := s.words[i] & w
		overlap += int64(bits.OnesCount64(both))
		s.words[i] |= w
	}
	s.count += o.count - overlap
	return overlap
}

// countBelow returns how many members are < n.
func (s *seqSet) countBelow(n int64) int64 {
	var c int64
	full := int(n >> 6)
	for i := 0; i < full && i < len(s.words); i++ {
		c += int64(bits.OnesCount64(s.words[i]))
	}
	if rem := uint(n & 63); rem != 0 && full < len(s.words) {
		c += int64(bits.OnesCount64(s.words[full] & (uint64(1)<<rem - 1)))
	}
	return c
}

// consumerTally is what one consumer saw. Owned by that consumer's goroutine
// while it runs; read by the coordinator after it returns.
type consumerTally struct {
	seen       []seqSet // by producer index
	lastSeq    []int64  // by producer index, for ordering; -1 = none yet
	dups       int64    // repeats within this consumer
	outOfOrder int64    // seq lower than the previous one from the same producer
	foreign    int64    // messages without valid bench headers
	measured   int64    // deliveries of messages sent after the warm-up
	lat        latencyHist
	first      time.Time // first delivery
	last       time.Time // last delivery

	measureStart int64 // unix nanos: messages stamped earlier are warm-up
}

func newConsumerTally(producers int, measureStart int64) *consumerTally {
	t := &consumerTally{
		seen:         make([]seqSet, producers),
		lastSeq:      make([]int64, producers),
		measureStart: measureStart,
	}
	for i := range t.lastSeq {
		t.lastSeq[i] = -1
	}
	return t
}

// record accounts one delivery of (producer, seq) stamped ts (unix nanos)
// and received at now. It reports whether this consumer had not seen the
// message before.
func (t *consumerTally) record(producer int, seq, ts int64, now time.Time) (fresh bool) {
	if producer < 0 || producer >= len(t.seen) || seq < 0 {
		t.foreign++
		return false
	}
	if t.first.IsZero() {
		t.first = now
	}
	t.last = now
	dup := t.seen[producer].add(seq)
	if dup {
		t.dups++
	}
	if seq < t.lastSeq[producer] {
		t.outOfOrder++
	}
	t.lastSeq[producer] = seq
	if ts >= t.measureStart {
		t.measured++
		t.lat.record(now.UnixNano() - ts)
	}
	return !dup
}

// deliveryCheck is the loss and duplicate verdict of a run.
type deliveryCheck struct {
	Expected   int64 `json:"expected"`   // deliveries expected
	Delivered  int64 `json:"delivered"`  // deliveries counted (with duplicates)
	Lost       int64 `json:"lost"`       // expected deliveries never seen
	Duplicates int64 `json:"duplicates"` // deliveries beyond the first of a message (per consumer for topics)
	Unexpected int64 `json:"unexpected"` // seqs never sent, or messages without bench headers
	OutOfOrder int64 `json:"out_of_order"`
}

// checkDeliveries compares what the producers sent (sent[p] messages from
// producer p, seqs 0..sent[p]-1) with what the consumers saw. For a queue
// every message must reach exactly one consumer; for a topic every consumer
// must see every message once.
func checkDeliveries(sent []int64, tallies []*consumerTally, topic bool) deliveryCheck {
	var c deliveryCheck
	var total int64
	for _, n := range sent {
		total += n
	}
	for _, t := range tallies {
		c.Duplicates += t.dups
		c.OutOfOrder += t.outOfOrder
		c.Unexpected += t.foreign
		c.Delivered += t.dups
		for p := range t.seen {
			c.Delivered += t.seen[p].count
		}
	}
	if topic {
		c.Expected = total * int64(len(tallies))
		for _, t := range tallies {
			for p, n := range sent {
				got := t.seen[p].countBelow(n)
				c.Lost += n - got
				c.Unexpected += t.seen[p].count - got
			}
		}
		return c
	}
	c.Expected = total
	if len(tallies) == 0 {
		c.Lost = total
		return c
	}
	for p, n := range sent {
		var u seqSet
		for _, t := range tallies {
			c.Duplicates += u.union(&t.seen[p])
		}
		got := u.countBelow(n)
		c.Lost += n - got
		c.Unexpected += u.count - got
	}
	return c
}
