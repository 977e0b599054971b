package amqp

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// TestAMQPIDMapping: AMQP message and correlation IDs map to the broker's
// strings as Qpid JMS maps them to JMSMessageID, and back to the same
// typed value.
func TestAMQPIDMapping(t *testing.T) {
	uuid := wire.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	for _, tc := range []struct {
		v           any
		msgID, corr string
	}{
		{"ID:abc", "ID:abc", "ID:abc"},
		{"abc", "ID:AMQP_NO_PREFIX:abc", "abc"},
		{uint64(42), "ID:AMQP_ULONG:42", "ID:AMQP_ULONG:42"},
		{uuid, "ID:AMQP_UUID:12345678-9abc-def0-0123-456789abcdef", "ID:AMQP_UUID:12345678-9abc-def0-0123-456789abcdef"},
		{[]byte{0x01, 0xab}, "ID:AMQP_BINARY:01AB", "ID:AMQP_BINARY:01AB"},
		{"ID:AMQP_UUID:not-a-uuid", "ID:AMQP_STRING:ID:AMQP_UUID:not-a-uuid", "ID:AMQP_STRING:ID:AMQP_UUID:not-a-uuid"},
		{"AMQP_ULONG:7", "ID:AMQP_NO_PREFIX:AMQP_ULONG:7", "AMQP_ULONG:7"},
		{nil, "", ""},
	} {
		if got := idToString(tc.v, false); got != tc.msgID {
			t.Errorf("message-id %#v: %q, want %q", tc.v, got, tc.msgID)
		}
		if got := idToString(tc.v, true); got != tc.corr {
			t.Errorf("correlation-id %#v: %q, want %q", tc.v, got, tc.corr)
		}
		for _, s := range []string{tc.msgID, tc.corr} {
			if back := idFromString(s); !reflect.DeepEqual(back, tc.v) {
				t.Errorf("%q maps back to %#v, want %#v", s, back, tc.v)
			}
		}
	}
	if v := idFromString("ID:AMQP_ULONG:x"); v != "ID:AMQP_ULONG:x" {
		t.Errorf("a malformed typed id maps to %#v, want the string", v)
	}
}

// TestAMQPParseAddress: prefixes, capabilities and hints.
func TestAMQPParseAddress(t *testing.T) {
	q := func(n string) backend.Destination { return backend.Destination{Kind: backend.Queue, Name: n} }
	tp := func(n string) backend.Destination { return backend.Destination{Kind: backend.Topic, Name: n} }
	for _, tc := range []struct {
		addr string
		caps []wire.Symbol
		want backend.Destination
	}{
		{"orders", nil, q("orders")},
		{"queue://orders", []wire.Symbol{"topic"}, q("orders")},
		{"topic://news", nil, tp("news")},
		{"/queue/a/b", nil, q("a/b")},
		{"/topic/x", nil, tp("x")},
		{"news", []wire.Symbol{"topic"}, tp("news")},
		{"t", []wire.Symbol{"temporary-queue"}, backend.Destination{Kind: backend.TempQueue, Name: "t"}},
		{"temp-topic://ID:x:1", nil, backend.Destination{Kind: backend.TempTopic, Name: "ID:x:1"}},
		{"amqp://host/q", nil, q("amqp://host/q")},
	} {
		got, err := parseAddress(tc.addr, tc.caps)
		if err != nil || got != tc.want {
			t.Errorf("parseAddress(%q, %v) = %v, %v; want %v", tc.addr, tc.caps, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "queue://", "/topic/", "a\x00b"} {
		if d, err := parseAddress(bad, nil); err == nil {
			t.Errorf("parseAddress(%q) = %v, want an error", bad, d)
		}
	}
	if d, _ := parseHinted("x", int(jmsTempTopic)); d.Kind != backend.TempTopic {
		t.Errorf("hinted kind %v", d.Kind)
	}
}

// TestAMQPPropValue: application-property types map to the broker's.
func TestAMQPPropValue(t *testing.T) {
	for _, tc := range []struct {
		in, want any
	}{
		{"s", "s"}, {true, true}, {int8(-1), int8(-1)}, {int16(2), int16(2)}, {int32(3), int32(3)}, {int64(4), int64(4)},
		{uint8(5), uint8(5)}, {uint16(6), uint16(6)}, {uint32(7), uint32(7)}, {uint64(8), uint64(8)},
		{uint64(math.MaxUint64), uint64(math.MaxUint64)}, {float32(1.5), float32(1.5)}, {2.5, 2.5},
		{[]byte{1}, []byte{1}}, {wire.Symbol("sym"), "sym"}, {wire.Char('é'), "é"}, {wire.Timestamp(99), int64(99)},
		{wire.UUID{}, "00000000-0000-0000-0000-000000000000"},
	} {
		got, ok := propValue(tc.in)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("propValue(%#v) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	if _, ok := propValue(nil); ok {
		t.Error("null kept")
	}
}

// roundTrip maps an AMQP message to the broker's and back.
func roundTrip(t *testing.T, in *wire.Message) (*backend.Message, *wire.Message) {
	t.Helper()
	payload, err := in.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{owner: "me"}
	m, werr := c.messageFromAMQP(payload, backend.Destination{Kind: backend.Queue, Name: "q"})
	if werr != nil {
		t.Fatalf("messageFromAMQP: %v", werr)
	}
	out, err := wire.UnmarshalMessage(appendMessage(nil, backend.Delivery{Msg: m, Count: 2}, c))
	if err != nil {
		t.Fatalf("decoding what appendMessage wrote: %v", err)
	}
	return m, out
}

// TestAMQPMessageRoundTrip: every body kind and the mapped fields come back
// out as they went in.
func TestAMQPMessageRoundTrip(t *testing.T) {
	gs := uint32(3)
	in := &wire.Message{
		Header: &wire.Header{Durable: true, Priority: 8, TTL: 5000},
		Properties: &wire.Properties{MessageID: uint64(7), CorrelationID: "c", ReplyTo: "topic://r", Subject: "type",
			ContentType: "application/json", GroupID: "g", GroupSequence: &gs, CreationTime: 1234},
		ApplicationProperties: wire.Map{{Key: "k", Value: "v"}, {Key: "n", Value: int64(-2)}},
		Data:                  [][]byte{[]byte("{}")},
	}
	m, out := roundTrip(t, in)
	if !m.Persistent || m.Priority != 8 || m.Expiration == 0 || m.ReplyTo.Kind != backend.Topic || m.Type != "type" || m.Timestamp != 1234 {
		t.Fatalf("broker message %+v", m)
	}
	if h := out.Header; !h.Durable || h.Priority != 8 || h.TTL == 0 || h.TTL > 5000 || h.DeliveryCount != 2 || h.FirstAcquirer {
		t.Errorf("header %+v", h)
	}
	p := out.Properties
	if p.MessageID != uint64(7) || p.CorrelationID != "c" || p.ReplyTo != "topic://r" || p.Subject != "type" ||
		p.ContentType != "application/json" || p.GroupID != "g" || *p.GroupSequence != 3 || p.CreationTime != 1234 || p.To != "queue://q" {
		t.Errorf("properties %+v", p)
	}
	if p.AbsoluteExpiryTime == 0 || time.UnixMilli(int64(p.AbsoluteExpiryTime)).Before(time.Now()) {
		t.Errorf("absolute-expiry-time %v", p.AbsoluteExpiryTime)
	}
	if v, _ := out.ApplicationProperties.Get("n"); v != int64(-2) {
		t.Errorf("application-properties %v", out.ApplicationProperties)
	}
	if len(out.Data) != 1 || string(out.Data[0]) != "{}" {
		t.Errorf("data %q", out.Data)
	}

	for _, body := range []*wire.Message{
		{Value: "text"},
		{Value: wire.Map{{Key: "a", Value: int32(1)}}},
		{Value: int64(5)},
		{HasValue: true},
		{Sequence: [][]any{{"x", true}, {int32(2)}}},
		{Data: [][]byte{[]byte("a"), []byte("b")}},
		{Data: [][]byte{{}}},
	} {
		m, out := roundTrip(t, body)
		switch {
		case body.Value == "text":
			if !m.Text || out.Value != "text" {
				t.Errorf("text body: broker %+v, out %+v", m, out)
			}
		case len(body.Data) == 1:
			if m.Text || len(out.Data) != 1 || len(out.Data[0]) != 0 {
				t.Errorf("empty data: out %+v", out)
			}
		default:
			if v, _ := m.Prop(BodyProp); v != BodyPropValue {
				t.Errorf("%+v: no body marker", body)
			}
			want, _ := (&wire.Message{Value: body.Value, HasValue: body.HasValue, Sequence: body.Sequence, Data: body.Data}).Marshal(nil)
			got, _ := (&wire.Message{Value: out.Value, HasValue: out.HasValue, Sequence: out.Sequence, Data: out.Data}).Marshal(nil)
			if !bytes.Equal(got, want) {
				t.Errorf("body %+v came back as %+v", body, out)
			}
			if _, ok := out.ApplicationProperties.Get(BodyProp); ok {
				t.Errorf("marker leaked: %v", out.ApplicationProperties)
			}
		}
	}
}

// TestAMQPInvalidUTF8TextGoesAsData: a text body that is not UTF-8 (from
// STOMP) cannot be an AMQP string; it goes as a data section.
func TestAMQPInvalidUTF8TextGoesAsData(t *testing.T) {
	m := &backend.Message{Dest: backend.Destination{Kind: backend.Queue, Name: "q"}, Body: []byte{0xff, 0xfe}, Text: true}
	out, err := wire.UnmarshalMessage(appendMessage(nil, backend.Delivery{Msg: m}, &conn{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != 1 || !bytes.Equal(out.Data[0], m.Body) {
		t.Fatalf("got %+v", out)
	}
}
