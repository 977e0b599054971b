package wire

import (
	"bytes"
	"testing"
)

// benchMessage is a typical broker message: durable header, message id and
// address, two application properties, a 1 KiB data body.
func benchMessage() *Message {
	return &Message{
		Header:                &Header{Durable: true, Priority: 4},
		Properties:            &Properties{MessageID: "ID:mqgate-1:1:1:1", To: "queue://orders", CreationTime: 1700000000000},
		ApplicationProperties: Map{{"color", "red"}, {"count", int32(3)}},
		Data:                  [][]byte{bytes.Repeat([]byte{'x'}, 1024)},
	}
}

func benchTransfer(payload []byte) *Transfer {
	id, format := uint32(12345), uint32(0)
	return &Transfer{
		Handle:        1,
		DeliveryID:    &id,
		DeliveryTag:   []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39},
		MessageFormat: &format,
		Payload:       payload,
	}
}

// BenchmarkTransferEncode encodes a 1 KiB data message and the transfer
// frame carrying it into reused buffers, as a connection writer does.
func BenchmarkTransferEncode(b *testing.B) {
	m := benchMessage()
	t := benchTransfer(nil)
	var payload, frame []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if payload, err = m.Marshal(payload[:0]); err != nil {
			b.Fatal(err)
		}
		t.Payload = payload
		if frame, err = AppendPerformative(frame[:0], 3, t); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(frame)))
}

func benchFrame(b *testing.B) Frame {
	payload, err := benchMessage().Marshal(nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := AppendPerformative(nil, 3, benchTransfer(payload))
	if err != nil {
		b.Fatal(err)
	}
	f, err := NewFrameReader(bytes.NewReader(raw), 65536).ReadFrame()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkTransferDecode decodes a transfer frame's performative and its
// 1 KiB message with the allocating API.
func BenchmarkTransferDecode(b *testing.B) {
	f := benchFrame(b)
	b.SetBytes(int64(len(f.Body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := DecodeFrameBody(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := UnmarshalMessage(p.(*Transfer).Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransferDecodeReuse decodes the same into a reused Transfer and
// Message, as a session's reader can.
func BenchmarkTransferDecodeReuse(b *testing.B) {
	f := benchFrame(b)
	var t Transfer
	var m Message
	b.SetBytes(int64(len(f.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if code, err := PeekDescriptor(f.Body); err != nil || code != DescTransfer {
			b.Fatal(code, err)
		}
		if err := t.Unmarshal(f.Body); err != nil {
			b.Fatal(err)
		}
		if err := m.Unmarshal(t.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameReader reads transfer frames from a stream.
func BenchmarkFrameReader(b *testing.B) {
	f := benchFrame(b)
	one := AppendFrame(nil, f.Type, f.Channel, f.Body)
	stream := bytes.Repeat(one, 1000)
	r := bytes.NewReader(stream)
	fr := NewFrameReader(r, 65536)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.ReadFrame(); err != nil {
			r.Reset(stream)
			if _, err := fr.ReadFrame(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
