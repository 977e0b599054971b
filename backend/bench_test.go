package backend

import (
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
