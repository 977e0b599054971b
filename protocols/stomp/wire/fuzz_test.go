package wire

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/go-stomp/stomp/v3/frame"
)

// fuzzLimits are small so that the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxFrameSize: 256, MaxHeaders: 8, MaxHeaderLine: 64}

// chunkReader returns data in reads of at most size bytes.
type chunkReader struct {
	data []byte
	size int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzReader feeds arbitrary bytes to a Reader, whole and in chunks, with
// small limits, and checks that it never panics, that both ways of reading
// agree, that every frame respects the limits, and that every frame
// re-encodes and re-reads as itself (modulo what AppendFrame documents it
// normalizes).
//
//	go test -run='^$' -fuzz=FuzzReader ./protocols/stomp/wire/
func FuzzReader(f *testing.F) {
	seeds := []string{
		"CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nlogin:guest\npasscode:guest\nheart-beat:10000,10000\n\n\x00",
		"STOMP\r\naccept-version:1.2\r\nhost:localhost\r\n\r\n\x00\r\n",
		"SEND\ndestination:/queue/a\ncontent-type:text/plain\nreceipt:r-1\npersistent:true\n\nhello world\x00\n",
		"SEND\ndestination:/queue/a\ncontent-length:5\n\na\x00b\x00c\x00",
		"SUBSCRIBE\nid:0\ndestination:/topic/t\nack:client-individual\nactivemq.prefetchSize:10\n\n\x00",
		"MESSAGE\nsubscription:0\nmessage-id:ID\\c1\ndestination:/queue/a\nk:a\\n\\r\\\\b\n\nbody\x00",
		"ACK\nid:ID\\c1\ntransaction:tx1\n\n\x00NACK\nid:2\n\n\x00",
		"BEGIN\ntransaction:tx\n\n\x00COMMIT\ntransaction:tx\n\n\x00ABORT\ntransaction:tx\n\n\x00",
		"DISCONNECT\nreceipt:77\n\n\x00",
		"\n\n\r\n\nSEND\n  destination : /queue/x \t\n\n\x00",
		"SEND\nk:v\r\r\n\n\x00",
		"SEND\nfoo:1\nfoo:2\ncontent-length:003\ncontent-length:9\n\nabc\x00",
		"SEND\nk:a\\tb\n\n\x00",
		"SEND\ncontent-length:99999999999\n\n",
		"SEND\nk\\",
		"ERROR\nmessage:malformed frame\ncontent-length:4\n\noops\x00",
		"SEND\ncontent-length\r:2\nk\r:\rv\r\r\n\nab\x00",
		"SEND\nk:\\\\\\c\r\r\n\n\x00",
	}
	for _, s := range seeds {
		for v := range uint8(3) {
			f.Add([]byte(s), v, uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, ver uint8, chunk uint8) {
		v := Version(ver % 3)
		whole, werr := fuzzRead(t, bytes.NewReader(data), v)
		parts, perr := fuzzRead(t, &chunkReader{data: data, size: int(chunk%17) + 1}, v)
		if werr.Error() != perr.Error() || len(whole) != len(parts) {
			t.Fatalf("whole: %d frames, %v; chunked: %d frames, %v", len(whole), werr, len(parts), perr)
		}
		for i := range whole {
			if !sameFrame(whole[i], parts[i]) {
				t.Fatalf("frame %d: whole %s, chunked %s", i, describe(whole[i]), describe(parts[i]))
			}
		}
		for _, fr := range whole {
			if fr != nil {
				checkLimits(t, fr)
				checkRoundTrip(t, fr, v)
			}
		}
	})
}

// fuzzRead reads frames until an error, which must be one Read documents.
func fuzzRead(t *testing.T, src io.Reader, v Version) ([]*frame.Frame, error) {
	r := NewReader(src, fuzzLimits)
	r.SetVersion(v)
	frames, err := readAll(r)
	var pe *ProtocolError
	if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &pe) {
		t.Fatalf("unexpected error %T %v", err, err)
	}
	return frames, err
}

// checkLimits asserts a frame read with fuzzLimits respects them.
func checkLimits(t *testing.T, f *frame.Frame) {
	t.Helper()
	if len(f.Body) > fuzzLimits.MaxFrameSize {
		t.Fatalf("body of %d bytes", len(f.Body))
	}
	if f.Header.Len() > fuzzLimits.MaxHeaders {
		t.Fatalf("%d headers", f.Header.Len())
	}
	if f.Command == "" || len(f.Command) > fuzzLimits.MaxHeaderLine {
		t.Fatalf("command %q", f.Command)
	}
	for _, c := range []byte(f.Command) {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			t.Fatalf("command %q", f.Command)
		}
	}
	for i := range f.Header.Len() {
		k, val := f.Header.GetAt(i)
		if k == "" || len(k)+len(val) > fuzzLimits.MaxHeaderLine {
			t.Fatalf("header %q:%q", k, val)
		}
	}
}

// checkRoundTrip asserts that f, read with version v, encodes for v and
// reads back as canonical(f).
func checkRoundTrip(t *testing.T, f *frame.Frame, v Version) {
	t.Helper()
	buf := AppendFrame(nil, f, v)
	r := NewReader(bytes.NewReader(buf), Limits{})
	r.SetVersion(v)
	got, err := readAll(r)
	if err != io.EOF || len(got) != 1 {
		t.Fatalf("re-reading %q: %d frames, %v", buf, len(got), err)
	}
	if want := canonical(f, v); !sameFrame(got[0], want) {
		t.Fatalf("round trip of %q:\n got  %s\n want %s", buf, describe(got[0]), describe(want))
	}
}

// canonical is what AppendFrame documents a frame becomes: for V10, trimmed
// and with CR and LF as spaces (':' cannot be in a name read back); in every
// version, the first content-length says len(Body) and later ones are gone.
func canonical(f *frame.Frame, v Version) *frame.Frame {
	if v == V10 {
		f = v10Canonical(f)
	}
	out := &frame.Frame{Command: f.Command, Header: &frame.Header{}, Body: f.Body}
	seen := false
	for i := range f.Header.Len() {
		k, val := f.Header.GetAt(i)
		if k == frame.ContentLength {
			if seen {
				continue
			}
			seen, val = true, strconv.Itoa(len(f.Body))
		}
		out.Header.Add(k, val)
	}
	return out
}
