package disk

import (
	"bytes"
	"testing"

	"github.com/mqgate/mqgate/backend/store"
)

func TestFrameRoundTrip(t *testing.T) {
	recs := []store.Record{
		{Op: store.OpQueueCreate, Queue: "queue://a", Data: []byte("def")},
		{Op: store.OpEnqueue, Queue: "queue://a", ID: 1 << 60, Data: bytes.Repeat([]byte{7}, 300)},
		{Op: store.OpDelivered, Queue: "queue://a", ID: 1 << 60, Count: 1<<32 - 1},
		{Op: store.OpAck, Queue: "", ID: 0},
		{Op: store.OpQueueDelete, Queue: "queue://a"},
	}
	frame, err := appendBatchFrame([]byte("prefix"), recs)
	if err != nil {
		t.Fatal(err)
	}
	frame = frame[len("prefix"):]
	if crc := frameCRC(frame[:frameHeaderSize], frame[frameHeaderSize:]); crc != leU32(frame[4:8]) {
		t.Fatalf("crc %08x, header says %08x", crc, leU32(frame[4:8]))
	}
	got, err := decodeFrame(frame[8], frame[frameHeaderSize:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	for i, r := range got {
		w := recs[i]
		if r.op != w.Op || string(r.queue) != w.Queue || r.id != w.ID || r.count != w.Count || !bytes.Equal(r.data, w.Data) {
			t.Fatalf("record %d: got %+v, want %+v", i, r, w)
		}
	}
	carry := appendCarryFrame(nil, []carried{{rec: recs[0], pos: 12345}, {rec: recs[3], pos: 1 << 40}})
	got, err = decodeFrame(carry[8], carry[frameHeaderSize:], got)
	if err != nil || len(got) != 2 || got[0].pos != 12345 || got[1].pos != 1<<40 {
		t.Fatalf("carry frame: %+v, %v", got, err)
	}
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// FuzzDecodeFrame: any payload either decodes to records whose fields lie
// inside it, or fails; never panics or allocates past its size.
func FuzzDecodeFrame(f *testing.F) {
	frame, _ := appendBatchFrame(nil, []store.Record{
		{Op: store.OpEnqueue, Queue: "queue://a", ID: 9, Data: []byte("hello")},
		{Op: store.OpAck, Queue: "queue://a", ID: 9},
	})
	f.Add(frameBatch, frame[frameHeaderSize:])
	carry := appendCarryFrame(nil, []carried{{rec: store.Record{Op: store.OpQueueCreate, Queue: "q", Data: []byte("d")}, pos: 99}})
	f.Add(frameCarry, carry[frameHeaderSize:])
	f.Add(byte(3), []byte{})
	f.Add(frameBatch, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		recs, err := decodeFrame(typ, payload, nil)
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r.queue) > len(payload) || len(r.data) > len(payload) || r.off >= len(payload) {
				t.Fatalf("record outside its payload: %+v", r)
			}
		}
		// What decodes re-encodes to the same bytes (batch frames).
		if typ == frameBatch {
			in := make([]store.Record, len(recs))
			for i, r := range recs {
				in[i] = store.Record{Op: r.op, Queue: string(r.queue), ID: r.id, Count: r.count, Data: r.data}
			}
			again, err := appendBatchFrame(nil, in)
			if err != nil {
				t.Fatalf("re-encoding: %v", err)
			}
			if !bytes.Equal(again[frameHeaderSize:], payload) {
				// Varints have redundant encodings; the decoded records
				// must still match.
				back, err := decodeFrame(frameBatch, again[frameHeaderSize:], nil)
				if err != nil || len(back) != len(recs) {
					t.Fatalf("re-encoded frame does not decode: %v", err)
				}
			}
		}
	})
}
