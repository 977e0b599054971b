package backend

import (
	"strconv"
	"testing"
)

// BenchmarkQueueDrainBacklog: four consumers (credit 1000 each, settling
// in batches of 64) drain a backlog of 20,000 messages, plain or spread
// over 1,000 message groups: the dispatcher skips messages whose group's
// owner has no credit left.
func BenchmarkQueueDrainBacklog(b *testing.B) {
	const backlog = 20000
	for _, grouped := range []bool{false, true} {
		name := "plain"
		if grouped {
			name = "groups1000"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				br := New(Options{MaxRedeliveries: -1})
				for i := range backlog {
					m := &Message{Dest: q("bench"), Priority: 4}
					if grouped {
						m.GroupID = "G" + strconv.Itoa(i%1000)
					}
					if err := br.PublishAsync(m, nil); err != nil {
						b.Fatal(err)
					}
				}
				type cons struct {
					s    *Subscription
					sink *tagSink
				}
				var cs []cons
				for range 4 {
					sink := &tagSink{}
					s, err := br.Subscribe(ctx, SubscribeOptions{Dest: q("bench"), Credit: 1000}, sink)
					if err != nil {
						b.Fatal(err)
					}
					cs = append(cs, cons{s, sink})
				}
				for done := 0; done < backlog; {
					progress := false
					for _, x := range cs {
						if n := min(len(x.sink.tags), 64); n > 0 {
							x.s.SettleAndCredit(x.sink.tags[:n], Accepted, n)
							x.sink.tags = append(x.sink.tags[:0], x.sink.tags[n:]...)
							done += n
							progress = true
						}
					}
					if !progress {
						b.Fatalf("stuck at %d of %d", done, backlog)
					}
				}
				br.Close()
			}
		})
	}
}
