package backend

import (
	"strconv"
	"testing"
)

// countSink settles every delivery at once, from inside Deliver's caller
// goroutine, by recording tags for the benchmark loop to settle.
type tagSink struct{ tags []uint64 }

func (s *tagSink) Deliver(d Delivery) { s.tags = append(s.tags, d.Tag) }

// BenchmarkQueuePublishSettle measures the core's per-message cost: publish
// a 1 KiB non-persistent message to a queue with one consumer, settle it,
// return its credit.
func BenchmarkQueuePublishSettle(b *testing.B) {
	br := New(Options{MaxRedeliveries: -1})
	defer br.Close()
	sink := &tagSink{}
	s, err := br.Subscribe(ctx, SubscribeOptions{Dest: q("bench"), Credit: 1000}, sink)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		if err := br.PublishAsync(&Message{Dest: q("bench"), Body: body}, nil); err != nil {
			b.Fatal(err)
		}
		if len(sink.tags) >= 100 {
			s.SettleMany(sink.tags, Accepted)
			s.AddCredit(len(sink.tags))
			sink.tags = sink.tags[:0]
		}
	}
}

// BenchmarkTopicFanOut4 measures publishing to a topic with 4 auto-ack
// subscribers.
func BenchmarkTopicFanOut4(b *testing.B) {
	br := New(Options{MaxRedeliveries: -1})
	defer br.Close()
	var subs []*Subscription
	var sinks []*tagSink
	for range 4 {
		sink := &tagSink{}
		s, err := br.Subscribe(ctx, SubscribeOptions{Dest: tp("bench"), Credit: 1000, AutoAck: true}, sink)
		if err != nil {
			b.Fatal(err)
		}
		subs, sinks = append(subs, s), append(sinks, sink)
	}
	body := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if err := br.PublishAsync(&Message{Dest: tp("bench"), Body: body}, nil); err != nil {
			b.Fatal(err)
		}
		for i, sink := range sinks {
			if len(sink.tags) >= 100 {
				subs[i].AddCredit(len(sink.tags))
				sink.tags = sink.tags[:0]
			}
		}
	}
}

// BenchmarkQueueDispatch compares, in one run, a plain queue with one that
// spreads 1,000 active message groups and one whose consumer has a
// selector (issue: groups and selectors must cost little). Two consumers
// take turns; each message is settled and its credit returned.
func BenchmarkQueueDispatch(b *testing.B) {
	groups := make([]string, 1000)
	for i := range groups {
		groups[i] = "G" + strconv.Itoa(i)
	}
	cases := []struct {
		name     string
		selector string
		group    bool
	}{
		{"plain", "", false},
		{"groups1000", "", true},
		{"selector", "region IN ('eu','us') AND JMSPriority >= 4", false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			br := New(Options{MaxRedeliveries: -1})
			defer br.Close()
			type cons struct {
				s    *Subscription
				sink *tagSink
			}
			var cs []cons
			for range 2 {
				sink := &tagSink{}
				s, err := br.Subscribe(ctx, SubscribeOptions{Dest: q("bench"), Credit: 1000, Selector: c.selector}, sink)
				if err != nil {
					b.Fatal(err)
				}
				cs = append(cs, cons{s, sink})
			}
			body := make([]byte, 1024)
			props := []Prop{{"region", "eu"}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m := &Message{Dest: q("bench"), Body: body, Priority: 4, Props: props}
				if c.group {
					m.GroupID = groups[i%len(groups)]
				}
				i++
				if err := br.PublishAsync(m, nil); err != nil {
					b.Fatal(err)
				}
				for _, x := range cs {
					if len(x.sink.tags) >= 64 {
						x.s.SettleAndCredit(x.sink.tags, Accepted, len(x.sink.tags))
						x.sink.tags = x.sink.tags[:0]
					}
				}
			}
		})
	}
}
