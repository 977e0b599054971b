package amqp

import (
	"reflect"
	"testing"

	"github.com/mqgate/mqgate/backend"
	"github.com/mqgate/mqgate/protocols/amqp/wire"
)

// TestAMQPBrokerPath: x-opt-mqgate-broker-path sets BrokerPath on a
// bridge's connection only, and a delivery carries it back out with the
// usual JMS annotations.
func TestAMQPBrokerPath(t *testing.T) {
	in := &wire.Message{
		Header: &wire.Header{Durable: true},
		MessageAnnotations: wire.Map{
			{Key: annDest, Value: jmsQueue},
			{Key: annBrokerPath, Value: wire.Array{Type: wire.TypeString, Elems: []any{"a", "b"}}},
		},
		Properties:            &wire.Properties{MessageID: "ID:x-1"},
		ApplicationProperties: wire.Map{{Key: BodyProp, Value: BodyPropValue}},
		Data:                  [][]byte{{0x00, 0x53, 0x77, 0xa1, 0x01, 'v'}},
	}
	payload, err := in.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	dest := backend.Destination{Kind: backend.Queue, Name: "q"}

	client := &conn{containerID: "someone"}
	m, werr := client.messageFromAMQP(payload, dest)
	if werr != nil {
		t.Fatal(werr)
	}
	if m.BrokerPath != nil || len(m.Props) != 0 {
		t.Fatalf("an ordinary client set broker path %v, props %v", m.BrokerPath, m.Props)
	}

	bridge := &conn{containerID: NetworkContainerPrefix + "a"}
	m, werr = bridge.messageFromAMQP(payload, dest)
	if werr != nil {
		t.Fatal(werr)
	}
	if !reflect.DeepEqual(m.BrokerPath, []string{"a", "b"}) {
		t.Fatalf("broker path %v", m.BrokerPath)
	}
	if v, ok := m.Prop(BodyProp); !ok || v != BodyPropValue {
		t.Fatalf("%s not kept on a bridge's connection: %v", BodyProp, m.Props)
	}

	m.Props = nil
	m.Text, m.Body = true, []byte("hi")
	m.ReplyTo = backend.Destination{Kind: backend.Topic, Name: "r"}
	out, err := wire.UnmarshalMessage(appendMessage(nil, backend.Delivery{Msg: m}, &conn{}))
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Map{
		{Key: annMsgType, Value: jmsTextMessage},
		{Key: annDest, Value: jmsQueue},
		{Key: annReplyTo, Value: jmsTopic},
		{Key: annBrokerPath, Value: wire.Array{Type: wire.TypeString, Elems: []any{"a", "b"}}},
	}
	if !reflect.DeepEqual(out.MessageAnnotations, want) {
		t.Fatalf("annotations %#v\nwant %#v", out.MessageAnnotations, want)
	}
	if v, _ := out.Value.(string); v != "hi" {
		t.Fatalf("body %#v", out.Value)
	}
}

func TestAMQPBrokerPathForms(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{[]any{"a", wire.Symbol("b"), int32(3)}, []string{"a", "b"}},
		{"a,b", []string{"a", "b"}},
		{"", nil},
		{int32(1), nil},
		{wire.Array{Type: wire.TypeString}, nil},
	} {
		if got := brokerPath(tc.v); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("brokerPath(%#v) = %#v, want %#v", tc.v, got, tc.want)
		}
	}
}

// TestNetworkPull: a receiver link's pull properties make a network
// subscription on a bridge's connection only, with the peer's priority
// and loop prevention; bad values refuse the link.
func TestNetworkPull(t *testing.T) {
	props := func(kv ...any) wire.Map {
		var m wire.Map
		for i := 0; i < len(kv); i += 2 {
			m = append(m, wire.MapEntry{Key: wire.Symbol(kv[i].(string)), Value: kv[i+1]})
		}
		return m
	}
	dest := backend.Destination{Kind: backend.Queue, Name: "q"}
	pull := &wire.Attach{Properties: props(string(PropPullHops), int64(2), string(PropPullTTL), int64(3), string(PropPullPriority), int64(-6))}

	client := &conn{containerID: "someone"}
	opts := backend.SubscribeOptions{Dest: dest}
	if pd, err := client.networkPull(pull, &opts); pd != nil || err != nil || opts.Network {
		t.Fatalf("an ordinary client's pull: %v, %v, %+v", pd, err, opts)
	}

	bridge := &conn{containerID: NetworkContainerPrefix + "a"}
	if pd, err := bridge.networkPull(&wire.Attach{}, &opts); pd != nil || err != nil || opts.Network {
		t.Fatalf("a bridge's plain receiver: %v, %v, %+v", pd, err, opts)
	}
	pd, err := bridge.networkPull(pull, &opts)
	if err != nil || pd == nil || *pd != (backend.PeerDemand{Dest: dest, Peer: "a", Hops: 2}) {
		t.Fatalf("pull: %v, %v", pd, err)
	}
	if !opts.Network || opts.Priority != -6 || opts.Filter == nil {
		t.Fatalf("options %+v", opts)
	}
	if opts.Filter(&backend.Message{BrokerPath: []string{"a"}}, 0) || !opts.Filter(&backend.Message{BrokerPath: []string{"c", "d"}}, 0) ||
		opts.Filter(&backend.Message{BrokerPath: []string{"c", "d", "e"}}, 0) {
		t.Fatal("filter: wrong loop prevention")
	}
	for _, bad := range []wire.Map{
		props(string(PropPullHops), int64(0)),
		props(string(PropPullHops), "1"),
		props(string(PropPullHops), int64(1), string(PropPullTTL), int64(65)),
		props(string(PropPullHops), int64(1), string(PropPullPriority), int64(200)),
	} {
		o := backend.SubscribeOptions{Dest: dest}
		if _, err := bridge.networkPull(&wire.Attach{Properties: bad}, &o); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	o := backend.SubscribeOptions{Dest: backend.Destination{Kind: backend.TempQueue, Name: "t"}}
	if _, err := bridge.networkPull(pull, &o); err == nil {
		t.Error("a pull of a temporary queue was accepted")
	}
}
