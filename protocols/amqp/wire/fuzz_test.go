package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// footprint estimates the memory a decoded value holds, beyond the input it
// aliases: interface slots, boxed scalars, copied strings.
func footprint(v any) int {
	const slot = 32
	switch v := v.(type) {
	case string:
		return slot + len(v)
	case Symbol:
		return slot + len(v)
	case []any:
		n := slot
		for _, e := range v {
			n += footprint(e)
		}
		return n
	case Map:
		n := slot
		for _, e := range v {
			n += footprint(e.Key) + footprint(e.Value)
		}
		return n
	case Array:
		n := slot + footprint(v.Descriptor)
		for _, e := range v.Elems {
			n += footprint(e)
		}
		return n
	case Described:
		return slot + footprint(v.Descriptor) + footprint(v.Value)
	}
	return slot
}

// maxAmplification bounds footprint(decoded) / len(input): every decoded
// element costs at least one input byte.
const maxAmplification = 64

// checkDecodeErr fails unless err is one a decoder may return.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	var fe *FrameError
	if !errors.As(err, &de) && !errors.As(err, &fe) &&
		!errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("unexpected error type %T: %v", err, err)
	}
}

func valueSeeds(f *testing.F) {
	for _, tc := range valueCases() {
		f.Add(h(tc.hex))
	}
	for _, v := range vectors {
		raw := h(v)
		f.Add(raw)
		if len(raw) > 8 {
			f.Add(raw[8:]) // a frame's body
		}
	}
}

// FuzzDecode: no panic; every error is a *DecodeError; the decoded value is
// bounded by its input; decode → encode → decode → encode is stable.
func FuzzDecode(f *testing.F) {
	valueSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		v, n, err := DecodeValue(in)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("used %d of %d bytes", n, len(in))
		}
		if fp := footprint(v); fp > maxAmplification*n+64 {
			t.Fatalf("footprint %d for %d input bytes", fp, n)
		}
		if m, ok := v.(Map); ok {
			for _, e := range m {
				m.Get(e.Key)
			}
		}
		enc, err := AppendValue(nil, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, err := UnmarshalValue(enc)
		if err != nil {
			t.Fatalf("decode of re-encoding % x: %v", enc, err)
		}
		enc2, err := AppendValue(nil, v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %v\n% x\n% x", err, enc, enc2)
		}
		// The typed decoders on the same bytes: no panic, and stable when
		// they accept.
		for _, u := range typedDecoders() {
			if err := u.Unmarshal(in[:n]); err != nil {
				checkDecodeErr(t, err)
				continue
			}
			stableTyped(t, u)
		}
	})
}

// typedDecoders returns one zero value of each typed composite.
func typedDecoders() []Unmarshaler {
	return []Unmarshaler{
		new(Open), new(Begin), new(Attach), new(Flow), new(Transfer), new(Disposition),
		new(Detach), new(End), new(Close), new(Error), new(SASLMechanisms), new(SASLInit),
		new(SASLChallenge), new(SASLResponse), new(SASLOutcome), new(Source), new(Target),
		new(Coordinator), new(Received), new(Accepted), new(Rejected), new(Released),
		new(Modified), new(Declare), new(Discharge), new(Declared), new(TransactionalState),
		new(Header), new(Properties),
	}
}

// stableTyped checks that a decoded typed composite re-encodes, decodes and
// re-encodes to the same bytes.
func stableTyped(t *testing.T, u Unmarshaler) {
	t.Helper()
	m := u.(Marshaler)
	enc, err := m.Marshal(nil)
	if err != nil {
		t.Fatalf("%T re-encode: %v", u, err)
	}
	fresh := typedLike(u)
	if err := fresh.Unmarshal(enc); err != nil {
		t.Fatalf("%T decode of re-encoding % x: %v", u, enc, err)
	}
	enc2, err := fresh.(Marshaler).Marshal(nil)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("%T unstable: %v\n% x\n% x", u, err, enc, enc2)
	}
}

// typedLike returns a new zero value of u's type.
func typedLike(u Unmarshaler) Unmarshaler {
	return reflect.New(reflect.TypeOf(u).Elem()).Interface().(Unmarshaler)
}

// FuzzFrame: the frame reader and performative decoder on a byte stream.
// No panic; only framing, decode and EOF errors; every decoded frame
// re-encodes to a frame that decodes and re-encodes identically.
func FuzzFrame(f *testing.F) {
	for _, v := range vectors {
		f.Add(h(v))
	}
	all := []byte{}
	for _, v := range vectors {
		all = append(all, h(v)...)
	}
	f.Add(all)
	f.Add(AppendFrame(nil, FrameAMQP, 0, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := NewFrameReader(bytes.NewReader(in), 4096)
		for {
			fm, err := fr.ReadFrame()
			if err != nil {
				checkDecodeErr(t, err)
				return
			}
			p, err := DecodeFrameBody(fm)
			if err != nil {
				checkDecodeErr(t, err)
				continue
			}
			if p == nil {
				continue // heartbeat
			}
			enc, err := AppendPerformative(nil, fm.Channel, p)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", p, err)
			}
			f2, err := NewFrameReader(bytes.NewReader(enc), 1<<20).ReadFrame()
			if err != nil {
				t.Fatalf("re-read % x: %v", enc, err)
			}
			p2, err := DecodeFrameBody(f2)
			if err != nil {
				t.Fatalf("decode of re-encoding % x: %v", enc, err)
			}
			enc2, err := AppendPerformative(nil, f2.Channel, p2)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable: %v\n% x\n% x", err, enc, enc2)
			}
		}
	})
}

// FuzzMessage: message decode. No panic; only decode errors; bounded
// footprint; decode → encode → decode → encode stable.
func FuzzMessage(f *testing.F) {
	for _, name := range []string{"msg", "declare", "discharge"} {
		f.Add(h(vectors[name]))
	}
	b, _ := MarshalMessage(nil, fullMessage())
	f.Add(b)
	f.Add(h("00 53 77 00 53 31 45"))
	f.Add(h("00 53 76 c0 03 02 41 42 00 53 76 45"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalMessage(in)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		fp := footprint(m.Value) + footprint(m.DeliveryAnnotations) + footprint(m.MessageAnnotations) +
			footprint(m.ApplicationProperties) + footprint(m.Footer) + 32*len(m.Data)
		for _, s := range m.Sequence {
			fp += footprint(s)
		}
		if fp > maxAmplification*len(in)+512 {
			t.Fatalf("footprint %d for %d input bytes", fp, len(in))
		}
		enc, err := m.Marshal(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := UnmarshalMessage(enc)
		if err != nil {
			t.Fatalf("decode of re-encoding % x: %v", enc, err)
		}
		enc2, err := m2.Marshal(nil)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %v\n% x\n% x", err, enc, enc2)
		}
		if _, err := ScanSections(in); err != nil {
			t.Fatalf("ScanSections rejects a message Unmarshal accepts: %v", err)
		}
	})
}
