package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// fullMessage has every section.
func fullMessage() *Message {
	return &Message{
		Header:              &Header{Durable: true, Priority: 9, TTL: 60000, FirstAcquirer: true, DeliveryCount: 2},
		DeliveryAnnotations: Map{{Symbol("x-opt-da"), "d"}},
		MessageAnnotations: Map{
			{Symbol("x-opt-jms-msg-type"), int8(5)},
			{Symbol("x-opt-jms-dest"), int8(0)},
			{uint64(42), true},
		},
		Properties: &Properties{
			MessageID:          UUID{1, 2, 3},
			UserID:             []byte("guest"),
			To:                 "queue://orders",
			Subject:            "subject",
			ReplyTo:            "temp-queue://reply",
			CorrelationID:      uint64(77),
			ContentType:        "text/plain",
			ContentEncoding:    "gzip",
			AbsoluteExpiryTime: 1700000060000,
			CreationTime:       1700000000000,
			GroupID:            "g",
			GroupSequence:      ptr(uint32(0)),
			ReplyToGroupID:     "rg",
		},
		ApplicationProperties: Map{
			{"color", "red"},
			{"count", int32(3)},
			{"price", float64(9.99)},
			{"flag", false},
			{"nothing", nil},
		},
		Data:   [][]byte{[]byte("part one"), {}, bytes.Repeat([]byte{1}, 300)},
		Footer: Map{{Symbol("x-opt-sig"), []byte{0xde, 0xad}}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	bodies := map[string]func(*Message){
		"data":       func(m *Message) {},
		"sequence":   func(m *Message) { m.Data = nil; m.Sequence = [][]any{{"a", int64(1)}, {}} },
		"value":      func(m *Message) { m.Data = nil; m.Value = Map{{"k", []any{uint32(1)}}}; m.HasValue = true },
		"value null": func(m *Message) { m.Data = nil; m.HasValue = true },
		"no body":    func(m *Message) { m.Data = nil },
		"only data":  func(m *Message) { *m = Message{Data: [][]byte{[]byte("x")}} },
		"empty sections": func(m *Message) {
			*m = Message{Header: &Header{Priority: 4}, Properties: &Properties{}, ApplicationProperties: Map{}}
		},
		"message ids": func(m *Message) {
			m.Properties.MessageID = "ID:abc"
			m.Properties.CorrelationID = []byte{9}
		},
	}
	for name, mutate := range bodies {
		t.Run(name, func(t *testing.T) {
			m := fullMessage()
			mutate(m)
			b, err := MarshalMessage(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
			b2, err := got.Marshal(nil)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encode differs: %v", err)
			}
			spans, err := ScanSections(b)
			if err != nil {
				t.Fatal(err)
			}
			end := 0
			for _, s := range spans {
				if s.Start != end {
					t.Fatalf("span %+v does not follow %d", s, end)
				}
				end = s.End
			}
			if end != len(b) {
				t.Fatalf("spans end at %d of %d", end, len(b))
			}
		})
	}
}

// TestMessageQpidJMSText decodes a JMS TextMessage as Qpid JMS encodes it:
// header, message-annotations with the JMS type, properties, amqp-value.
func TestMessageQpidJMSText(t *testing.T) {
	raw := h("" +
		"00 53 70 c0 02 01 41" + // header: durable
		"00 53 72 c1 17 02 a3 12 78 2d 6f 70 74 2d 6a 6d 73 2d 6d 73 67 2d 74 79 70 65 51 05" + // x-opt-jms-msg-type: byte 5
		"00 53 73 c0 18 0a a1 04 49 44 3a 31 40 40 40 40 40 40 40 40 83 00 00 01 8b cf e5 68 00" + // message-id, creation-time
		"00 53 77 a1 05 68 65 6c 6c 6f") // amqp-value "hello"
	m, err := UnmarshalMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.MessageAnnotations.Get(Symbol("x-opt-jms-msg-type")); !ok || v != int8(5) {
		t.Fatalf("annotations %+v", m.MessageAnnotations)
	}
	if m.Properties.MessageID != "ID:1" || m.Properties.CreationTime != 1700000000000 {
		t.Fatalf("properties %+v", m.Properties)
	}
	if !m.HasValue || m.Value != "hello" || !m.Header.Durable || m.Header.Priority != 4 {
		t.Fatalf("message %+v", m)
	}
	spans, err := ScanSections(raw)
	if err != nil || len(spans) != 4 || spans[2].Descriptor != DescProperties || spans[3].End != len(raw) {
		t.Fatalf("spans %+v %v", spans, err)
	}
}

func TestMessageMarshalErrors(t *testing.T) {
	for name, m := range map[string]*Message{
		"data and value":     {Data: [][]byte{{1}}, Value: "x"},
		"data and sequence":  {Data: [][]byte{{1}}, Sequence: [][]any{{}}},
		"null value and seq": {HasValue: true, Sequence: [][]any{{}}},
		"bad property":       {ApplicationProperties: Map{{"k", struct{}{}}}},
		"bad value":          {Value: 1},
		"bad footer":         {Footer: Map{{1, 1}}},
	} {
		b, err := MarshalMessage([]byte{7}, m)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if !bytes.Equal(b, []byte{7}) {
			t.Errorf("%s: buffer changed to % x", name, b)
		}
	}
}

func TestMessageSectionOrderLenient(t *testing.T) {
	// Properties (message-id "") before header: accepted, re-encoded in
	// spec order.
	raw := h("00 53 73 c0 03 01 a1 00 00 53 70 45 00 53 75 a0 00")
	m, err := UnmarshalMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header == nil || m.Properties == nil || len(m.Data) != 1 {
		t.Fatalf("%+v", m)
	}
	b, _ := m.Marshal(nil)
	if want := h("00 53 70 45 00 53 73 c0 03 01 a1 00 00 53 75 a0 00"); !bytes.Equal(b, want) {
		t.Fatalf("re-encode % x", b)
	}
	// An empty payload is a message with no sections.
	if m, err := UnmarshalMessage(nil); err != nil || !reflect.DeepEqual(m, &Message{}) {
		t.Fatalf("empty: %+v %v", m, err)
	}
	// A null annotations section reads as absent.
	if m, err := UnmarshalMessage(h("00 53 72 40")); err != nil || m.MessageAnnotations != nil {
		t.Fatalf("null annotations: %+v %v", m, err)
	}
}

func TestDataAliasesInput(t *testing.T) {
	b, _ := MarshalMessage(nil, &Message{Data: [][]byte{[]byte("abc")}})
	m, err := UnmarshalMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Data[0]
	if cap(d) != len(d) {
		t.Fatalf("data capacity %d not clipped to %d", cap(d), len(d))
	}
	b[len(b)-1] = 'X'
	if string(d) != "abX" {
		t.Fatalf("data %q does not alias the input", d)
	}
}
