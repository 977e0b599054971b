package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// readVector reads the one frame of a named vector, checking that its
// header's size matches the bytes.
func readVector(t *testing.T, name string) Frame {
	t.Helper()
	raw := h(vectors[name])
	if got := binary.BigEndian.Uint32(raw); int(got) != len(raw) {
		t.Fatalf("%s: header size %d, %d bytes", name, got, len(raw))
	}
	fr := NewFrameReader(bytes.NewReader(raw), 65536)
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("%s: after the frame: %v, want EOF", name, err)
	}
	return f
}

// decodeVector reads and decodes the performative of a named vector.
func decodeVector(t *testing.T, name string) Performative {
	t.Helper()
	p, err := DecodeFrameBody(readVector(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func TestVectorOpenQpidJMS(t *testing.T) {
	got := decodeVector(t, "jmsOpen")
	want := &Open{
		ContainerID:  "ID:1",
		Hostname:     "broker",
		MaxFrameSize: math.MaxUint32, // null: the default
		ChannelMax:   0x7fff,
		IdleTimeOut:  30000,
		DesiredCapabilities: []Symbol{
			"sole-connection-for-container", "DELAYED_DELIVERY", "ANONYMOUS-RELAY"},
		Properties: Map{
			{Symbol("product"), "QpidJMS"},
			{Symbol("version"), "1.10.0"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Our encoding of the same open is byte for byte the same: list8,
	// null for the default max-frame-size, trailing fields dropped.
	b, err := AppendPerformative(nil, 0, want)
	if err != nil {
		t.Fatal(err)
	}
	if raw := h(vectors["jmsOpen"]); !bytes.Equal(b, raw) {
		t.Fatalf("encode:\n% x\nwant\n% x", b, raw)
	}
}

func TestVectorAttachQpidJMSReceiver(t *testing.T) {
	f := readVector(t, "jmsAttach")
	if f.Channel != 1 || f.Type != FrameAMQP {
		t.Fatalf("frame header %+v", f)
	}
	p, err := DecodeFrameBody(f)
	if err != nil {
		t.Fatal(err)
	}
	a := p.(*Attach)
	if a.Name != "qpid-jms:receiver:ID:1:1:1:1:queue://orders" || a.Handle != 0 ||
		a.Role != RoleReceiver || a.SndSettleMode != SndMixed || a.RcvSettleMode != RcvFirst {
		t.Fatalf("attach %+v", a)
	}
	s := a.Source
	if s == nil || s.Address != "queue://orders" || s.ExpiryPolicy != ExpiryLinkDetach ||
		s.Durable != DurableNone || s.Dynamic {
		t.Fatalf("source %+v", s)
	}
	if sel, ok := s.Selector(); !ok || sel != "color = 'red'" {
		t.Fatalf("selector %q %v", sel, ok)
	}
	if !s.NoLocal() {
		t.Fatal("no-local filter not found")
	}
	if m, ok := s.DefaultOutcome.(*Modified); !ok || !m.DeliveryFailed || m.UndeliverableHere {
		t.Fatalf("default outcome %#v", s.DefaultOutcome)
	}
	if !reflect.DeepEqual(s.Outcomes, []Symbol{"amqp:accepted:list", "amqp:rejected:list",
		"amqp:released:list", "amqp:modified:list"}) {
		t.Fatalf("outcomes %v", s.Outcomes)
	}
	// A single symbol where multiple="true": AMQP 1.0 §1.4 allows it.
	if !reflect.DeepEqual(s.Capabilities, []Symbol{"queue"}) {
		t.Fatalf("capabilities %v", s.Capabilities)
	}
	if a.Target == nil || a.Target.Address != "" || a.Target.ExpiryPolicy != ExpirySessionEnd {
		t.Fatalf("target %+v", a.Target)
	}
	if !reflect.DeepEqual(a.DesiredCapabilities, []Symbol{"SHARED-SUBS"}) {
		t.Fatalf("desired %v", a.DesiredCapabilities)
	}
	roundTrip(t, a, new(Attach))
}

func TestVectorAttachGoAMQPSender(t *testing.T) {
	a := decodeVector(t, "goAttach").(*Attach)
	want := &Attach{
		Name:                 "sender-1",
		Handle:               3,
		Role:                 RoleSender,
		SndSettleMode:        SndMixed,
		RcvSettleMode:        RcvFirst,
		Source:               &Source{ExpiryPolicy: ExpirySessionEnd},
		Target:               &Target{Address: "orders", Durable: DurableUnsettledState, ExpiryPolicy: ExpirySessionEnd, Capabilities: []Symbol{"queue"}},
		InitialDeliveryCount: ptr(uint32(0)),
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("got %+v\nwant %+v", a, want)
	}
}

func TestVectorFlow(t *testing.T) {
	got := decodeVector(t, "flow")
	want := &Flow{
		NextIncomingID: ptr(uint32(1)),
		IncomingWindow: 2048,
		NextOutgoingID: 0,
		OutgoingWindow: 0x7fffffff,
		Handle:         ptr(uint32(0)),
		DeliveryCount:  ptr(uint32(0)),
		LinkCredit:     ptr(uint32(100)),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestVectorTransferAndMessage(t *testing.T) {
	f := readVector(t, "transfer")
	tr := decodeVector(t, "transfer").(*Transfer)
	if tr.Handle != 0 || *tr.DeliveryID != 5 || !bytes.Equal(tr.DeliveryTag, h("00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f")) ||
		*tr.MessageFormat != 0 || tr.Settled || tr.More || tr.RcvSettleMode != nil || tr.State != nil || !tr.Batchable {
		t.Fatalf("transfer %+v", tr)
	}
	if !bytes.Equal(tr.Payload, h(vectors["msg"])) {
		t.Fatalf("payload % x", tr.Payload)
	}
	// The reusable path: peek, then decode into an existing Transfer.
	if code, err := PeekDescriptor(f.Body); err != nil || code != DescTransfer {
		t.Fatalf("peek %x %v", code, err)
	}
	var again Transfer
	if err := again.Unmarshal(f.Body); err != nil || !reflect.DeepEqual(&again, tr) {
		t.Fatalf("Unmarshal: %v %+v", err, again)
	}

	m, err := UnmarshalMessage(tr.Payload)
	if err != nil {
		t.Fatal(err)
	}
	want := &Message{
		Header:                &Header{Durable: true, Priority: 4},
		Properties:            &Properties{MessageID: "ID:1", To: "orders"},
		ApplicationProperties: Map{{"color", "red"}},
		Data:                  [][]byte{[]byte("hello")},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("message %+v\nwant %+v", m, want)
	}
	b, err := MarshalMessage(nil, want)
	if err != nil || !bytes.Equal(b, tr.Payload) {
		t.Fatalf("re-encode: %v\n% x\nwant\n% x", err, b, tr.Payload)
	}
}

func TestVectorDispositionDetachSASL(t *testing.T) {
	d := decodeVector(t, "disposition").(*Disposition)
	if !reflect.DeepEqual(d, &Disposition{Role: RoleReceiver, Settled: true, State: &Accepted{}}) {
		t.Fatalf("disposition %+v", d)
	}
	x := decodeVector(t, "detach").(*Detach)
	if !x.Closed || x.Error == nil || x.Error.Condition != CondNotFound ||
		x.Error.Error() != "amqp:not-found: no such queue" {
		t.Fatalf("detach %+v", x)
	}
	f := readVector(t, "saslInit")
	if f.Type != FrameSASL {
		t.Fatalf("sasl frame type %v", f.Type)
	}
	in, err := DecodeFrameBody(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &SASLInit{Mechanism: "PLAIN",
		InitialResponse: []byte("\x00guest\x00guest"), Hostname: "localhost"}) {
		t.Fatalf("sasl-init %+v", in)
	}
	// The server side: our encodings match the hand-written frames.
	for name, p := range map[string]Performative{
		"saslMechs":   &SASLMechanisms{Mechanisms: []Symbol{"ANONYMOUS", "PLAIN"}},
		"saslOutcome": &SASLOutcome{Code: SASLOK},
		"disposition": d,
		"detach":      x,
		"saslInit":    in,
	} {
		b, err := AppendPerformative(nil, 0, p)
		if err != nil || !bytes.Equal(b, h(vectors[name])) {
			t.Errorf("%s: %v\n% x\nwant\n% x", name, err, b, h(vectors[name]))
		}
	}
}

func TestVectorTransactions(t *testing.T) {
	a := decodeVector(t, "coordAttach").(*Attach)
	if a.Target != nil || a.Coordinator == nil ||
		!reflect.DeepEqual(a.Coordinator.Capabilities, []Symbol{TxnLocal}) {
		t.Fatalf("coordinator attach %+v", a)
	}
	roundTrip(t, a, new(Attach))

	m, err := UnmarshalMessage(h(vectors["declare"]))
	if err != nil || !m.HasValue {
		t.Fatalf("declare message: %v %+v", err, m)
	}
	var decl Declare
	if err := DecodeInto(m.Value, &decl); err != nil || decl.GlobalID != nil {
		t.Fatalf("declare: %v %+v", err, decl)
	}
	m, err = UnmarshalMessage(h(vectors["discharge"]))
	if err != nil {
		t.Fatal(err)
	}
	var dis Discharge
	if err := DecodeInto(m.Value, &dis); err != nil || string(dis.TxnID) != "tx01" || !dis.Fail {
		t.Fatalf("discharge: %v %+v", err, dis)
	}
	if err := DecodeInto(m.Value, &decl); err == nil {
		t.Fatal("a discharge decoded as a declare")
	}

	d := decodeVector(t, "declared").(*Disposition)
	if s, ok := d.State.(*Declared); !ok || string(s.TxnID) != "tx01" || d.First != 7 {
		t.Fatalf("declared %+v", d)
	}
	tr := decodeVector(t, "txnTransfer").(*Transfer)
	ts, ok := tr.State.(*TransactionalState)
	if !ok || string(ts.TxnID) != "tx01" {
		t.Fatalf("transactional state %#v", tr.State)
	}
	if _, ok := ts.Outcome.(*Accepted); !ok {
		t.Fatalf("outcome %#v", ts.Outcome)
	}
	if !bytes.Equal(tr.Payload, h("00 53 77 a1 01 78")) {
		t.Fatalf("payload % x", tr.Payload)
	}
}

// roundTrip encodes p, decodes it into fresh (a new value of p's type) and
// checks that the two are equal and that re-encoding gives the same bytes.
func roundTrip(t *testing.T, p interface {
	Marshaler
}, fresh Unmarshaler) {
	t.Helper()
	b, err := p.Marshal(nil)
	if err != nil {
		t.Fatalf("%T marshal: %v", p, err)
	}
	if err := fresh.Unmarshal(b); err != nil {
		t.Fatalf("%T unmarshal % x: %v", p, b, err)
	}
	if !reflect.DeepEqual(fresh, p) {
		t.Fatalf("%T round trip:\n got %+v\nwant %+v", p, fresh, p)
	}
	b2, err := fresh.(Marshaler).Marshal(nil)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%T re-encode differs: %v", p, err)
	}
}

func TestPerformativeRoundTrips(t *testing.T) {
	props := Map{{Symbol("k"), "v"}, {Symbol("n"), int64(-5)}}
	caps := []Symbol{"a", "b"}
	errv := &Error{Condition: CondResourceLimitExceeded, Description: "too many", Info: Map{{Symbol("x"), uint32(1)}}}
	cases := []struct {
		p     Marshaler
		fresh Unmarshaler
	}{
		{&Open{ContainerID: "c", Hostname: "h", MaxFrameSize: 65536, ChannelMax: 10, IdleTimeOut: 1000,
			OutgoingLocales: []Symbol{"en-US"}, IncomingLocales: []Symbol{"fr"}, OfferedCapabilities: caps,
			DesiredCapabilities: caps, Properties: props}, new(Open)},
		{&Open{ContainerID: "defaults", MaxFrameSize: math.MaxUint32, ChannelMax: math.MaxUint16}, new(Open)},
		{&Begin{RemoteChannel: ptr(uint16(3)), NextOutgoingID: 1, IncomingWindow: 2, OutgoingWindow: 3,
			HandleMax: 7, OfferedCapabilities: caps, DesiredCapabilities: caps, Properties: props}, new(Begin)},
		{&Begin{NextOutgoingID: 0, IncomingWindow: 0, OutgoingWindow: 0, HandleMax: math.MaxUint32}, new(Begin)},
		{&Attach{Name: "l", Handle: 9, Role: RoleSender, SndSettleMode: SndSettled, RcvSettleMode: RcvSecond,
			Source: &Source{Address: "q", Durable: DurableConfiguration, ExpiryPolicy: ExpiryNever, Timeout: 5,
				Dynamic: true, DynamicNodeProperties: Map{{Symbol("lifetime-policy"), Described{uint64(0x2b), []any{}}}},
				DistributionMode: DistCopy, Filter: Map{{Symbol("sel"), SelectorFilter("a = 1")}, {Symbol("nl"), NoLocalFilter()}},
				DefaultOutcome: &Rejected{Error: errv}, Outcomes: caps, Capabilities: caps},
			Target:    &Target{Address: "t", Durable: DurableUnsettledState, ExpiryPolicy: ExpiryConnectionClose, Timeout: 1, Dynamic: true, DynamicNodeProperties: props, Capabilities: caps},
			Unsettled: Map{{[]byte{1}, &Accepted{}}}, IncompleteUnsettled: true, InitialDeliveryCount: ptr(uint32(4)),
			MaxMessageSize: 1 << 40, OfferedCapabilities: caps, DesiredCapabilities: caps, Properties: props}, nil},
		{&Flow{NextIncomingID: ptr(uint32(1)), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4,
			Handle: ptr(uint32(5)), DeliveryCount: ptr(uint32(6)), LinkCredit: ptr(uint32(7)), Available: ptr(uint32(8)),
			Drain: true, Echo: true, Properties: props}, new(Flow)},
		{&Transfer{Handle: 1, DeliveryID: ptr(uint32(2)), DeliveryTag: []byte("tag"), MessageFormat: ptr(uint32(0)),
			Settled: true, More: true, RcvSettleMode: ptr(RcvSecond), State: &Received{SectionNumber: 1, SectionOffset: 2},
			Resume: true, Aborted: true, Batchable: true, Payload: []byte{}}, new(Transfer)},
		{&Transfer{Handle: 1, Payload: []byte{}}, new(Transfer)},
		{&Disposition{Role: RoleReceiver, First: 1, Last: ptr(uint32(9)), Settled: true,
			State: &Modified{DeliveryFailed: true, UndeliverableHere: true, MessageAnnotations: props}, Batchable: true}, new(Disposition)},
		{&Disposition{Role: RoleSender, First: 1, State: &Released{}}, new(Disposition)},
		{&Disposition{Role: RoleSender, First: 1, State: &TransactionalState{TxnID: []byte("t"), Outcome: &Rejected{}}}, new(Disposition)},
		{&Detach{Handle: 1, Closed: true, Error: errv}, new(Detach)},
		{&End{Error: errv}, new(End)},
		{&End{}, new(End)},
		{&Close{Error: &Error{Condition: CondConnectionForced}}, new(Close)},
		{&Close{}, new(Close)},
		{&SASLMechanisms{Mechanisms: []Symbol{"PLAIN"}}, new(SASLMechanisms)},
		{&SASLInit{Mechanism: "ANONYMOUS"}, new(SASLInit)},
		{&SASLChallenge{Challenge: []byte("c")}, new(SASLChallenge)},
		{&SASLResponse{Response: []byte{}}, new(SASLResponse)},
		{&SASLOutcome{Code: SASLAuth, AdditionalData: []byte("x")}, new(SASLOutcome)},
		{&Coordinator{Capabilities: []Symbol{TxnLocal, TxnMultiTxnsPerSsn}}, new(Coordinator)},
		{&Declare{GlobalID: []byte("g")}, new(Declare)},
		{&Discharge{TxnID: []byte("t"), Fail: true}, new(Discharge)},
		{&Declared{TxnID: []byte("t")}, new(Declared)},
		{&Received{}, new(Received)},
		{&Error{Condition: CondDecodeError}, new(Error)},
	}
	for _, tc := range cases {
		fresh := tc.fresh
		if fresh == nil {
			// The Attach's Unsettled map decodes generically: compare bytes only.
			b, err := tc.p.Marshal(nil)
			if err != nil {
				t.Fatal(err)
			}
			var a Attach
			if err := a.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			b2, err := a.Marshal(nil)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("attach re-encode: %v\n% x\n% x", err, b, b2)
			}
			if sel, ok := a.Source.Selector(); !ok || sel != "a = 1" || !a.Source.NoLocal() {
				t.Fatal("filters lost")
			}
			continue
		}
		roundTrip(t, tc.p, fresh)
	}
}

func TestFramesRoundTrip(t *testing.T) {
	var buf []byte
	perfs := []Performative{
		&Open{ContainerID: "c", MaxFrameSize: 4096, ChannelMax: 1},
		&Begin{NextOutgoingID: 1, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10},
		&Transfer{Handle: 0, DeliveryID: ptr(uint32(0)), DeliveryTag: []byte{0}, MessageFormat: ptr(uint32(0)),
			Payload: []byte("payload")},
		&Close{},
	}
	for i, p := range perfs {
		var err error
		if buf, err = AppendPerformative(buf, uint16(i), p); err != nil {
			t.Fatal(err)
		}
	}
	buf = AppendFrame(buf, FrameAMQP, 0, nil) // heartbeat
	buf = AppendFrame(buf, FrameSASL, 0, h("00 53 44 c0 03 01 50 00"))
	// An extended header (doff 3) is skipped.
	buf = append(buf, h("00 00 00 10 03 00 00 05 ee ee ee ee 00 53 18 45")...)

	fr := NewFrameReader(bytes.NewReader(buf), 4096)
	for i, p := range perfs {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Channel != uint16(i) {
			t.Fatalf("channel %d, want %d", f.Channel, i)
		}
		got, err := DecodeFrameBody(f)
		if err != nil {
			t.Fatal(err)
		}
		want := p
		if _, ok := p.(*Begin); ok {
			want = &Begin{NextOutgoingID: 1, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %d: %+v, want %+v", i, got, want)
		}
	}
	f, err := fr.ReadFrame()
	if err != nil || !f.Empty() {
		t.Fatalf("heartbeat: %+v %v", f, err)
	}
	if p, err := DecodeFrameBody(f); p != nil || err != nil {
		t.Fatalf("heartbeat decode: %v %v", p, err)
	}
	f, err = fr.ReadFrame()
	if err != nil || f.Type != FrameSASL {
		t.Fatalf("sasl: %+v %v", f, err)
	}
	if p, err := DecodeFrameBody(f); err != nil || p.(*SASLOutcome).Code != SASLOK {
		t.Fatalf("sasl outcome: %v %v", p, err)
	}
	f, err = fr.ReadFrame()
	if err != nil || f.Channel != 5 {
		t.Fatalf("extended header frame: %+v %v", f, err)
	}
	if p, err := DecodeFrameBody(f); err != nil || p.Descriptor() != DescClose {
		t.Fatalf("extended header close: %v %v", p, err)
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	// SASL performatives always go in SASL frames on channel 0.
	b, _ := AppendPerformative(nil, 7, &SASLOutcome{})
	if b[5] != byte(FrameSASL) || b[6] != 0 || b[7] != 0 {
		t.Fatalf("sasl frame header % x", b[:8])
	}
	// A failed marshal leaves the buffer as it was.
	b, err = AppendPerformative([]byte{1}, 0, &Open{Properties: Map{{1, 2}}})
	if err == nil || !bytes.Equal(b, []byte{1}) {
		t.Fatalf("failed marshal: %v % x", err, b)
	}
}

func TestFrameReaderLargeFrame(t *testing.T) {
	payload := bytes.Repeat([]byte{7}, 300_000) // grown in chunks past readChunk
	b, err := AppendPerformative(nil, 2, &Transfer{Handle: 1, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(bytes.NewReader(b), 1<<20)
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeFrameBody(f)
	if err != nil || !bytes.Equal(p.(*Transfer).Payload, payload) {
		t.Fatalf("large transfer: %v", err)
	}
	fr.SetMaxFrameSize(100) // raised to the minimum
	if fr.MaxFrameSize() != MinMaxFrameSize {
		t.Fatalf("max frame size %d", fr.MaxFrameSize())
	}
	var fe *FrameError
	if _, err := NewFrameReader(bytes.NewReader(b), 65536).ReadFrame(); !errors.As(err, &fe) {
		t.Fatalf("oversized: %v", err)
	}
}

func TestProtocolHeaders(t *testing.T) {
	for _, tc := range []struct {
		hdr ProtocolHeader
		raw string
	}{
		{HeaderAMQP, "41 4d 51 50 00 01 00 00"},
		{HeaderTLS, "41 4d 51 50 02 01 00 00"},
		{HeaderSASL, "41 4d 51 50 03 01 00 00"},
	} {
		if got := tc.hdr.Append(nil); !bytes.Equal(got, h(tc.raw)) {
			t.Errorf("%v: % x", tc.hdr, got)
		}
		got, err := ReadProtocolHeader(bytes.NewReader(h(tc.raw)))
		if err != nil || got != tc.hdr {
			t.Errorf("read %s: %v %v", tc.raw, got, err)
		}
	}
	if HeaderSASL.String() != "AMQP 3 1.0.0" {
		t.Errorf("String %q", HeaderSASL.String())
	}
	// Another version is parsed for the caller to refuse.
	if got, err := ParseProtocolHeader([]byte("AMQP\x00\x00\x09\x10")); err != nil || got.Minor != 9 {
		t.Errorf("0-9-1 header: %v %v", got, err)
	}
	var fe *FrameError
	if _, err := ParseProtocolHeader([]byte("CONNECT\n")); !errors.As(err, &fe) {
		t.Errorf("stomp header: %v", err)
	}
	if _, err := ReadProtocolHeader(bytes.NewReader([]byte("AMQ"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short header: %v", err)
	}
}

// TestTrailingFieldDefaults: a list shorter than the field count, and null
// fields, take the spec's defaults.
func TestTrailingFieldDefaults(t *testing.T) {
	var a Attach
	// name, handle, role only.
	if err := a.Unmarshal(h("00 53 12 c0 06 03 a1 01 61 43 41")); err != nil {
		t.Fatal(err)
	}
	if a.SndSettleMode != SndMixed || a.RcvSettleMode != RcvFirst || a.InitialDeliveryCount != nil {
		t.Fatalf("attach defaults %+v", a)
	}
	var s Source
	// Every field null.
	if err := s.Unmarshal(h("00 53 28 c0 0c 0b 40 40 40 40 40 40 40 40 40 40 40")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Source{ExpiryPolicy: ExpirySessionEnd}) {
		t.Fatalf("source defaults %+v", s)
	}
	var o Open
	if err := o.Unmarshal(h("00 53 10 c0 03 01 a1 00")); err != nil {
		t.Fatal(err)
	}
	if o.MaxFrameSize != math.MaxUint32 || o.ChannelMax != math.MaxUint16 {
		t.Fatalf("open defaults %+v", o)
	}
	var g Begin
	if err := g.Unmarshal(h("00 53 11 c0 05 04 40 43 43 43")); err != nil || g.HandleMax != math.MaxUint32 {
		t.Fatalf("begin defaults %+v %v", g, err)
	}
	// Extra fields beyond the known ones (a later revision) are skipped.
	var c Close
	if err := c.Unmarshal(h("00 53 18 c0 08 03 40 a1 01 78 c0 01 00")); err != nil {
		t.Fatalf("extra fields: %v", err)
	}
	// Symbolic descriptors are accepted.
	if err := c.Unmarshal(h("00 a3 0f 61 6d 71 70 3a 63 6c 6f 73 65 3a 6c 69 73 74 45")); err != nil {
		t.Fatalf("symbolic close: %v", err)
	}
	var hd Header
	if err := hd.Unmarshal(h("00 53 70 45")); err != nil || hd.Priority != DefaultPriority {
		t.Fatalf("header defaults %+v %v", hd, err)
	}
}
