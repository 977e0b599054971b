package wire

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/go-stomp/stomp/v3/frame"
)

func TestAppendFrame(t *testing.T) {
	hostile := fr("MESSAGE", "", "a:b", "x:y\nz\rw\\v")
	tests := []struct {
		name string
		f    *frame.Frame
		ver  Version
		want string
	}{
		{"nil frame is a heart-beat", nil, V12, "\n"},
		{"nil header", &frame.Frame{Command: "DISCONNECT"}, V12, "DISCONNECT\n\n\x00"},
		{"plain", fr("SEND", "hi", "destination", "/queue/a", "receipt", "1"), V11,
			"SEND\ndestination:/queue/a\nreceipt:1\n\nhi\x00"},
		{"v12 escapes", hostile, V12, "MESSAGE\na\\cb:x\\cy\\nz\\rw\\\\v\n\n\x00"},
		{"v11 escapes, raw cr", hostile, V11, "MESSAGE\na\\cb:x\\cy\\nz\rw\\\\v\n\n\x00"},
		{"v10 replaces", hostile, V10, "MESSAGE\na_b:x:y z w\\v\n\n\x00"},
		{"v10 name newline", fr("SEND", "", "a\nb\r", "v"), V10, "SEND\na b:v\n\n\x00"},
		{"v10 trims", fr("SEND", "", " k\t", "\r v \n"), V10, "SEND\nk:v\n\n\x00"},
		{"v10 content-length after trim", fr("SEND", "abc", "content-length\r", "7", " content-length", "8"), V10,
			"SEND\ncontent-length:3\n\nabc\x00"},
		{"v12 padded content-length is another header", fr("SEND", "abc", " content-length", "7"), V12,
			"SEND\n content-length:7\n\nabc\x00"},
		{"v11 value ending in cr", fr("SEND", "", "k", "v\r"), V11, "SEND\nk:v\r\r\n\n\x00"},
		{"v12 value ending in cr", fr("SEND", "", "k", "v\r"), V12, "SEND\nk:v\\r\n\n\x00"},
		{"repeated headers kept", fr("MESSAGE", "", "foo", "1", "foo", "2"), V12,
			"MESSAGE\nfoo:1\nfoo:2\n\n\x00"},
		{"empty names dropped", fr("SEND", "", "", "v", "k", ""), V12, "SEND\nk:\n\n\x00"},
		{"blank v10 names dropped", fr("SEND", "", " \t\r\n", "v", "k", "w"), V10, "SEND\nk:w\n\n\x00"},
		{"content-length corrected", fr("SEND", "abc", "content-length", "999", "x", "y"), V12,
			"SEND\ncontent-length:3\nx:y\n\nabc\x00"},
		{"duplicate content-length dropped", fr("SEND", "ab", "content-length", "2", "content-length", "7"), V12,
			"SEND\ncontent-length:2\n\nab\x00"},
		{"content-length for empty body", fr("SEND", "", "content-length", "5"), V10,
			"SEND\ncontent-length:0\n\n\x00"},
		{"content-length added for nul body", fr("SEND", "a\x00b", "destination", "/q"), V12,
			"SEND\ndestination:/q\ncontent-length:3\n\na\x00b\x00"},
		{"no content-length added without nul", fr("SEND", "ab"), V12, "SEND\n\nab\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got := AppendFrame(prefix, tt.f, tt.ver)
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("AppendFrame lost the buffer's contents: %q", got)
			}
			if got := string(got[len("prefix"):]); got != tt.want {
				t.Errorf("AppendFrame =\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestAppendHeartbeat(t *testing.T) {
	if got := string(AppendHeartbeat([]byte("x"))); got != "x\n" {
		t.Fatalf("AppendHeartbeat = %q", got)
	}
}

// hostileValues are header names and values that need escaping or replacing.
var hostileValues = []string{
	":", "\n", "\r", "\\", "\\c", "\\n", "a:b", "a\r\nb", "end\r", "\r\r", "x\\", "\\\\r",
	"trail\\", "ünïcødé", "nul\x00byte", ":\n:\r:\\:",
}

func TestRoundTrip(t *testing.T) {
	for _, ver := range []Version{V10, V11, V12} {
		t.Run(ver.String(), func(t *testing.T) {
			var in []*frame.Frame
			for _, s := range hostileValues {
				in = append(in,
					fr("SEND", "", "k", s),
					fr("MESSAGE", "body", "k"+s, "v", "destination", "/queue/"+s))
			}
			in = append(in,
				fr("SEND", "a\x00b\x00", "content-length", "4", "destination", "/q"),
				fr("MESSAGE", "", "x", "1", "x", "2", "x", "3"),
				hb,
				fr("ACK", "", "id", ""),
			)
			var buf []byte
			for _, f := range in {
				buf = AppendFrame(buf, f, ver)
			}
			for _, w := range wrappers[:3] {
				r := NewReader(w.wrap(bytes.NewReader(buf)), Limits{})
				r.SetVersion(ver)
				got, err := readAll(r)
				if err != io.EOF {
					t.Fatalf("%s: error %v after %d frames", w.name, err, len(got))
				}
				if len(got) != len(in) {
					t.Fatalf("%s: got %d frames, want %d", w.name, len(got), len(in))
				}
				for i := range in {
					want := in[i]
					if ver == V10 {
						want = v10Canonical(want)
					}
					if !sameFrame(got[i], want) {
						t.Errorf("%s: frame %d:\n got  %s\n want %s", w.name, i, describe(got[i]), describe(want))
					}
				}
			}
		})
	}
}

// v10Canonical is what a frame becomes after a trip through V10: CR and LF
// are spaces, ':' in names is '_', names and values are trimmed, blank names
// are gone. (No frame in TestRoundTrip has a duplicate content-length.)
func v10Canonical(f *frame.Frame) *frame.Frame {
	if f == nil {
		return nil
	}
	out := &frame.Frame{Command: f.Command, Header: &frame.Header{}, Body: f.Body}
	nl := strings.NewReplacer("\r", " ", "\n", " ")
	for i := range f.Header.Len() {
		k, v := f.Header.GetAt(i)
		k = strings.Trim(strings.ReplaceAll(nl.Replace(k), ":", "_"), " \t")
		v = strings.Trim(nl.Replace(v), " \t")
		if k != "" {
			out.Header.Add(k, v)
		}
	}
	return out
}

func TestAppendFrameAllocs(t *testing.T) {
	f := fr("MESSAGE", strings.Repeat("b", 1024),
		"destination", "/queue/a", "message-id", "ID:1", "subscription", "0",
		"weird", "a:b\nc\\d\re", "content-length", "1024")
	buf := make([]byte, 0, 4096)
	for _, v := range []Version{V10, V11, V12} {
		if n := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], f, v) }); n != 0 {
			t.Errorf("AppendFrame(%v) allocates %v times into a large enough buffer", v, n)
		}
	}
}

// TestReadOneByteMatchesWhole reads one stream whole and one byte at a time
// and expects the same frames and the same error.
func TestReadOneByteMatchesWhole(t *testing.T) {
	var buf []byte
	for _, s := range hostileValues {
		buf = AppendFrame(buf, fr("SEND", s, "k", s), V12)
		buf = AppendHeartbeat(buf)
	}
	buf = append(buf, "SEND\nbad\\q:1\n\n\x00"...)
	whole, werr := readAll(newV12Reader(bytes.NewReader(buf)))
	one, oerr := readAll(newV12Reader(iotest.OneByteReader(bytes.NewReader(buf))))
	if werr == nil || oerr == nil || werr.Error() != oerr.Error() {
		t.Fatalf("errors differ: whole %v, one-byte %v", werr, oerr)
	}
	if len(whole) != 2*len(hostileValues) || len(one) != len(whole) {
		t.Fatalf("frame counts: whole %d, one-byte %d, want %d", len(whole), len(one), 2*len(hostileValues))
	}
	for i := range whole {
		if !sameFrame(whole[i], one[i]) {
			t.Errorf("frame %d: whole %s, one-byte %s", i, describe(whole[i]), describe(one[i]))
		}
	}
}

func newV12Reader(r io.Reader) *Reader {
	rd := NewReader(r, Limits{})
	rd.SetVersion(V12)
	return rd
}
