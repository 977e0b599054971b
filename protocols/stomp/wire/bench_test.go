package wire

import (
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3/frame"
)

// BenchmarkReadSend reads a SEND with 6 headers and a 1 KiB body, as a
// producer sends it, from an endless stream of them.
func BenchmarkReadSend(b *testing.B) {
	f := frame.New("SEND",
		"destination", "/queue/orders",
		"content-type", "application/json",
		"content-length", "1024",
		"receipt", "r-42",
		"persistent", "true",
		"correlation-id", "c0ffee-4242",
	)
	f.Body = []byte(strings.Repeat("x", 1024))
	data := AppendFrame(nil, f, V12)
	r := NewReader(&loopReader{data: data}, Limits{})
	r.SetVersion(V12)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := r.Read()
		if err != nil || got == nil || len(got.Body) != 1024 {
			b.Fatalf("Read = %v, %v", got, err)
		}
	}
}

// BenchmarkAppendMessage encodes a MESSAGE with the headers a broker adds
// and a 1 KiB body into a reused buffer, as a connection's writer does.
func BenchmarkAppendMessage(b *testing.B) {
	f := frame.New("MESSAGE",
		"subscription", "sub-0",
		"message-id", "ID:mqgate-1-42:1:1:1:42",
		"destination", "/queue/orders",
		"content-type", "application/json",
		"content-length", "1024",
		"persistent", "true",
		"priority", "4",
		"timestamp", "1767225600000",
		"correlation-id", "c0ffee-4242",
	)
	f.Body = []byte(strings.Repeat("x", 1024))
	for _, v := range []Version{V10, V12} {
		b.Run(v.String(), func(b *testing.B) {
			buf := AppendFrame(nil, f, v)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendFrame(buf[:0], f, v)
			}
		})
	}
}
