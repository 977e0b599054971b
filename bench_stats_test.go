package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistIndexRoundTrip(t *testing.T) {
	// Every value maps to a bucket whose midpoint is within 0.4% of it, and
	// indexes grow with values.
	prev := -1
	check := func(v int64) {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("histIndex(%d) = %d < previous %d", v, i, prev)
		}
		prev = i
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		mid := histValue(i)
		if v < histExact {
			if mid != v {
				t.Fatalf("histValue(histIndex(%d)) = %d, want exact", v, mid)
			}
			return
		}
		if rel := math.Abs(float64(mid-v)) / float64(v); rel > 0.004 {
			t.Fatalf("histValue(histIndex(%d)) = %d: %.4f relative error", v, mid, rel)
		}
	}
	for v := int64(0); v < 100000; v++ {
		check(v)
	}
	for v := int64(100000); v < math.MaxInt64/2 && v > 0; v = v*11/10 + 1 {
		check(v)
	}
	check(math.MaxInt64)
}

// exactQuantile is the reference: the ceil(q*n)-th smallest sample.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestLatencyHistQuantiles(t *testing.T) {
	var h latencyHist
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram must report 0")
	}
	// 1..1000 µs: p50 = 500 µs, p90 = 900 µs, p99 = 990 µs.
	for i := int64(1); i <= 1000; i++ {
		h.record(i * 1000)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.9, 900 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}, {0, time.Microsecond}} {
		got := h.quantile(tc.q)
		if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > 0.004 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.max != 1_000_000 || h.min != 1000 || h.n != 1000 {
		t.Errorf("min %d max %d n %d", h.min, h.max, h.n)
	}
	if m := h.mean(); m != 500500*time.Nanosecond {
		t.Errorf("mean = %v", m)
	}

	// Random heavy-tailed samples against exact quantiles.
	r := rand.New(rand.NewPCG(1, 2))
	var h2 latencyHist
	samples := make([]int64, 50000)
	for i := range samples {
		samples[i] = int64(r.ExpFloat64() * 2e6)
		h2.record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := exactQuantile(samples, q)
		got := int64(h2.quantile(q))
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.005 {
			t.Errorf("quantile(%v) = %d, exact %d (%.4f)", q, got, want, rel)
		}
	}
	// A single sample is every quantile, exactly (clamped to min/max).
	var h3 latencyHist
	h3.record(123456789)
	if h3.quantile(0.5) != 123456789 || h3.quantile(0.99) != 123456789 {
		t.Errorf("single sample: p50 %v p99 %v", h3.quantile(0.5), h3.quantile(0.99))
	}
	// Negative samples count as zero.
	var h4 latencyHist
	h4.record(-5)
	if h4.min != 0 || h4.quantile(0.5) != 0 {
		t.Errorf("negative sample: min %d", h4.min)
	}
}

func TestLatencyHistMerge(t *testing.T) {
	var a, b, all latencyHist
	for i := int64(1); i <= 500; i++ {
		a.record(i * 1000)
		all.record(i * 1000)
	}
	for i := int64(501); i <= 1000; i++ {
		b.record(i * 1000)
		all.record(i * 1000)
	}
	var m latencyHist
	m.merge(&a)
	m.merge(&latencyHist{}) // empty: no effect
	m.merge(&b)
	if m != all {
		t.Fatalf("merge differs: n %d/%d min %d/%d max %d/%d", m.n, all.n, m.min, all.min, m.max, all.max)
	}
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, v := range []int64{0, 1, 63, 64, 1000, 100000} {
		if s.add(v) {
			t.Fatalf("add(%d) reported a duplicate", v)
		}
	}
	if !s.add(64) || !s.add(100000) {
		t.Fatal("re-adding must report a duplicate")
	}
	if s.count != 6 {
		t.Fatalf("count = %d", s.count)
	}
	if !s.has(63) || s.has(62) || s.has(-1) || s.has(1<<40) {
		t.Fatal("has is wrong")
	}
	if got := s.countBelow(64); got != 3 {
		t.Fatalf("countBelow(64) = %d", got)
	}
	if got := s.countBelow(65); got != 4 {
		t.Fatalf("countBelow(65) = %d", got)
	}
	if got := s.countBelow(1 << 30); got != 6 {
		t.Fatalf("countBelow(big) = %d", got)
	}
	var o seqSet
	o.add(1)
	o.add(2)
	o.add(200000)
	if ov := s.union(&o); ov != 1 {
		t.Fatalf("overlap = %d", ov)
	}
	if s.count != 8 || !s.has(200000) || !s.has(2) {
		t.Fatalf("after union: count %d", s.count)
	}
}

// tallyOf builds a consumer tally from (producer, seq) deliveries.
func tallyOf(producers int, deliveries ...[2]int64) *consumerTally {
	t := newConsumerTally(producers, 0)
	now := time.Unix(0, 5000)
	for _, d := range deliveries {
		t.record(int(d[0]), d[1], 1000, now)
	}
	return t
}

func seqs(p int64, from, to int64) [][2]int64 {
	var out [][2]int64
	for s := from; s < to; s++ {
		out = append(out, [2]int64{p, s})
	}
	return out
}

func TestCheckDeliveriesQueue(t *testing.T) {
	// Two producers sent 10 each; two consumers shared them exactly.
	c1 := tallyOf(2, append(seqs(0, 0, 5), seqs(1, 0, 10)...)...)
	c2 := tallyOf(2, seqs(0, 5, 10)...)
	got := checkDeliveries([]int64{10, 10}, []*consumerTally{c1, c2}, false)
	if got != (deliveryCheck{Expected: 20, Delivered: 20}) {
		t.Fatalf("clean queue: %+v", got)
	}

	// Producer 0's seq 3 lost; seq 7 delivered to both consumers; seq 8
	// twice to c2; a message from nowhere (seq 50) and a foreign one.
	c1 = tallyOf(2, append(append(seqs(0, 0, 3), seqs(0, 4, 8)...), seqs(1, 0, 10)...)...)
	c2 = tallyOf(2, append(seqs(0, 7, 10), [2]int64{0, 8}, [2]int64{0, 50}, [2]int64{-1, 0})...)
	got = checkDeliveries([]int64{10, 10}, []*consumerTally{c1, c2}, false)
	want := deliveryCheck{Expected: 20, Delivered: 17 + 3 + 1 + 1, Lost: 1, Duplicates: 2, Unexpected: 2, OutOfOrder: 1}
	if got != want {
		t.Fatalf("faulty queue:\n got %+v\nwant %+v", got, want)
	}
	if c2.outOfOrder != 1 { // 8 after 9
		t.Fatalf("outOfOrder = %d", c2.outOfOrder)
	}
}

func TestCheckDeliveriesTopic(t *testing.T) {
	// Every subscriber must see every message.
	c1 := tallyOf(1, seqs(0, 0, 10)...)
	c2 := tallyOf(1, seqs(0, 0, 10)...)
	got := checkDeliveries([]int64{10}, []*consumerTally{c1, c2}, true)
	if got != (deliveryCheck{Expected: 20, Delivered: 20}) {
		t.Fatalf("clean topic: %+v", got)
	}
	// c2 misses 4..5 and sees 9 twice: sharing like a queue is a loss here.
	c2 = tallyOf(1, append(append(seqs(0, 0, 4), seqs(0, 6, 10)...), [2]int64{0, 9})...)
	got = checkDeliveries([]int64{10}, []*consumerTally{c1, c2}, true)
	want := deliveryCheck{Expected: 20, Delivered: 19, Lost: 2, Duplicates: 1}
	if got != want {
		t.Fatalf("faulty topic:\n got %+v\nwant %+v", got, want)
	}
}

func TestConsumerTallyWarmup(t *testing.T) {
	tl := newConsumerTally(1, 1000) // measuring from t=1000ns
	now := time.Unix(0, 3000)
	tl.record(0, 0, 500, now)  // warm-up: checked, not measured
	tl.record(0, 1, 1000, now) // measured, 2 µs
	tl.record(0, 2, 2000, now) // measured, 1 µs
	if tl.measured != 2 || tl.lat.n != 2 || tl.seen[0].count != 3 {
		t.Fatalf("measured %d samples %d seen %d", tl.measured, tl.lat.n, tl.seen[0].count)
	}
	if tl.lat.max != 2000 || tl.lat.min != 1000 {
		t.Fatalf("latency min %d max %d", tl.lat.min, tl.lat.max)
	}
}

func TestSplitQuota(t *testing.T) {
	var sum int64
	for i := 0; i < 3; i++ {
		sum += splitQuota(10, 3, i)
	}
	if sum != 10 || splitQuota(10, 3, 0) != 4 || splitQuota(10, 3, 2) != 3 {
		t.Fatalf("splitQuota: sum %d", sum)
	}
}
