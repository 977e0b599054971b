package backend

import (
	"math"
	"reflect"
	"testing"
)

// TestCodecKeepsPropertyTypes: a stored message's properties come back
// with their Go types, so an AMQP int is still an int after a restart.
func TestCodecKeepsPropertyTypes(t *testing.T) {
	props := []Prop{
		{"s", "x"}, {"b", true}, {"i64", int64(-1 << 40)}, {"f64", 2.5}, {"raw", []byte{0, 1}},
		{"i8", int8(-8)}, {"i16", int16(-1600)}, {"i32", int32(math.MinInt32)},
		{"u8", uint8(200)}, {"u16", uint16(60000)}, {"u32", uint32(math.MaxUint32)}, {"u64", uint64(math.MaxUint64)},
		{"f32", float32(1.25)},
	}
	m := &Message{ID: "id", Dest: q("a"), Body: []byte("body"), Props: props}
	got, err := decodeMessage(encodeMessage(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Props, props) {
		t.Fatalf("props came back as\n%#v\nwant\n%#v", got.Props, props)
	}
	// A truncated record is an error, not a panic.
	enc := encodeMessage(nil, m)
	for i := range enc {
		_, _ = decodeMessage(enc[:i])
	}
}
