package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/go-stomp/stomp/v3/frame"
)

// hb stands for a heart-beat in a list of expected frames.
var hb *frame.Frame

// fr builds a frame; body "" means a nil body.
func fr(command, body string, headers ...string) *frame.Frame {
	f := frame.New(command, headers...)
	if body != "" {
		f.Body = []byte(body)
	}
	return f
}

// describe renders a frame (nil: a heart-beat) for failure messages.
func describe(f *frame.Frame) string {
	if f == nil {
		return "heart-beat"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q [", f.Command)
	for i := range f.Header.Len() {
		k, v := f.Header.GetAt(i)
		fmt.Fprintf(&b, " %q:%q", k, v)
	}
	fmt.Fprintf(&b, " ] body=%q", f.Body)
	return b.String()
}

// sameFrame reports whether two frames (or heart-beats) are equal: command,
// every header entry in order, and body bytes (nil equals empty).
func sameFrame(a, b *frame.Frame) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Command != b.Command || a.Header.Len() != b.Header.Len() || !bytes.Equal(a.Body, b.Body) {
		return false
	}
	for i := range a.Header.Len() {
		ak, av := a.Header.GetAt(i)
		bk, bv := b.Header.GetAt(i)
		if ak != bk || av != bv {
			return false
		}
	}
	return true
}

// readAll reads frames until an error and returns them with that error.
func readAll(r *Reader) ([]*frame.Frame, error) {
	var out []*frame.Frame
	for i := 0; i < 1_000_000; i++ {
		f, err := r.Read()
		if err != nil {
			return out, err
		}
		if f != nil && f.Header == nil {
			return out, errors.New("frame with nil header")
		}
		out = append(out, f)
	}
	return out, errors.New("reader made no progress")
}

// wrappers are the ways the tests feed a Reader: whole, and in small reads.
var wrappers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data-err", iotest.DataErrReader},
}

func TestReadFrames(t *testing.T) {
	tests := []struct {
		name string
		ver  Version
		lim  Limits
		in   string
		want []*frame.Frame
	}{
		{"empty stream", V12, Limits{}, "", nil},
		{"send no content-length", V12, Limits{},
			"SEND\ndestination:/queue/a\n\nhello\x00",
			[]*frame.Frame{fr("SEND", "hello", "destination", "/queue/a")}},
		{"empty body no headers", V12, Limits{},
			"DISCONNECT\n\n\x00",
			[]*frame.Frame{fr("DISCONNECT", "")}},
		{"content-length zero", V12, Limits{},
			"SEND\ncontent-length:0\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "content-length", "0")}},
		{"nul body with content-length", V12, Limits{},
			"SEND\ncontent-length:5\n\na\x00b\x00c\x00",
			[]*frame.Frame{fr("SEND", "a\x00b\x00c", "content-length", "5")}},
		{"content-length leading zeros", V12, Limits{},
			"SEND\ncontent-length:003\n\nabc\x00",
			[]*frame.Frame{fr("SEND", "abc", "content-length", "003")}},
		{"first content-length wins", V12, Limits{},
			"SEND\ncontent-length:3\ncontent-length:100\n\nabc\x00",
			[]*frame.Frame{fr("SEND", "abc", "content-length", "3", "content-length", "100")}},
		{"content-length at the limit", V12, Limits{MaxFrameSize: 32},
			"SEND\ncontent-length:32\n\n" + strings.Repeat("x", 32) + "\x00",
			[]*frame.Frame{fr("SEND", strings.Repeat("x", 32), "content-length", "32")}},
		{"body at the limit", V12, Limits{MaxFrameSize: 32},
			"SEND\n\n" + strings.Repeat("x", 32) + "\x00",
			[]*frame.Frame{fr("SEND", strings.Repeat("x", 32))}},
		{"v12 escapes", V12, Limits{},
			"MESSAGE\na\\cb:v\\n\\r\\\\x\\c\n\n\x00",
			[]*frame.Frame{fr("MESSAGE", "", "a:b", "v\n\r\\x:")}},
		{"v11 escapes", V11, Limits{},
			"MESSAGE\nk\\\\:v\\nw\\cx\\\\\n\n\x00",
			[]*frame.Frame{fr("MESSAGE", "", "k\\", "v\nw:x\\")}},
		{"v10 no unescaping", V10, Limits{},
			"SEND\nk:a\\nb\\c\\t\\\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", "a\\nb\\c\\t\\")}},
		{"v10 trims", V10, Limits{},
			"SEND\n \tdestination \t:  /queue/a \t\nk:\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "destination", "/queue/a", "k", "")}},
		{"v10 trims command", V10, Limits{},
			" CONNECT\t\r\naccept-version:1.2\r\n\r\n\x00",
			[]*frame.Frame{fr("CONNECT", "", "accept-version", "1.2")}},
		{"v11 keeps spaces", V11, Limits{},
			"SEND\n k : v \n\n\x00",
			[]*frame.Frame{fr("SEND", "", " k ", " v ")}},
		{"v12 keeps spaces", V12, Limits{},
			"SEND\nk: v\t\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", " v\t")}},
		{"value keeps colons", V10, Limits{},
			"SEND\nk:a:b::\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", "a:b::")}},
		{"crlf v10", V10, Limits{},
			"SEND\r\nk:v\r\n\r\nbody\x00",
			[]*frame.Frame{fr("SEND", "body", "k", "v")}},
		{"crlf v11", V11, Limits{},
			"SEND\r\nk:v\r\n\r\nbody\x00",
			[]*frame.Frame{fr("SEND", "body", "k", "v")}},
		{"crlf v12", V12, Limits{},
			"SEND\r\nk:v\r\n\r\nbody\x00",
			[]*frame.Frame{fr("SEND", "body", "k", "v")}},
		{"mixed eols", V12, Limits{},
			"SEND\nk:v\r\nl:w\n\r\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", "v", "l", "w")}},
		{"raw cr kept inside and before crlf", V12, Limits{},
			"SEND\nk:a\rb\r\r\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", "a\rb\r")}},
		{"nul in header value", V12, Limits{},
			"SEND\nk:a\x00b\n\n\x00",
			[]*frame.Frame{fr("SEND", "", "k", "a\x00b")}},
		{"repeated headers in order", V12, Limits{},
			"MESSAGE\nfoo:1\nbar:x\nfoo:2\n\n\x00",
			[]*frame.Frame{fr("MESSAGE", "", "foo", "1", "bar", "x", "foo", "2")}},
		{"unknown command is the caller's", V12, Limits{},
			"Frob\n\n\x00",
			[]*frame.Frame{fr("Frob", "")}},
		{"heart-beats between frames", V12, Limits{},
			"\n\r\n\nSEND\n\na\x00\n\r\nACK\nid:1\n\n\x00\n",
			[]*frame.Frame{hb, hb, hb, fr("SEND", "a"), hb, hb, fr("ACK", "", "id", "1"), hb}},
		{"frames back to back", V11, Limits{},
			"SEND\ndestination:/q\ncontent-length:1\n\n\x00\x00SEND\ndestination:/r\n\nxy\x00BEGIN\ntransaction:t\n\n\x00",
			[]*frame.Frame{
				fr("SEND", "\x00", "destination", "/q", "content-length", "1"),
				fr("SEND", "xy", "destination", "/r"),
				fr("BEGIN", "", "transaction", "t"),
			}},
		{"limits met exactly", V12, Limits{MaxHeaders: 2, MaxHeaderLine: 5},
			"ABCDE\nab:cd\nx:y\n\n\x00",
			[]*frame.Frame{fr("ABCDE", "", "ab", "cd", "x", "y")}},
	}
	for _, tt := range tests {
		for _, w := range wrappers {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				r := NewReader(w.wrap(strings.NewReader(tt.in)), tt.lim)
				r.SetVersion(tt.ver)
				got, err := readAll(r)
				if err != io.EOF {
					t.Fatalf("final error = %v, want io.EOF (after %d frames)", err, len(got))
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d frames, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if !sameFrame(got[i], tt.want[i]) {
						t.Errorf("frame %d:\n got  %s\n want %s", i, describe(got[i]), describe(tt.want[i]))
					}
				}
			})
		}
	}
}

func TestReadErrors(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	tests := []struct {
		name string
		ver  Version
		lim  Limits
		in   string
		msg  string // a *ProtocolError whose Msg contains this; "" means no protocol error
		err  error  // else this error
	}{
		{"no colon", V12, Limits{}, "SEND\nfoo\n\n\x00", `header line has no ':' separator: "foo"`, nil},
		{"empty name", V12, Limits{}, "SEND\n:v\n\n\x00", "empty header name", nil},
		{"empty name after v10 trim", V10, Limits{}, "SEND\n \t:v\n\n\x00", "empty header name", nil},
		{"undefined escape v12", V12, Limits{}, "SEND\nk:a\\tb\n\n\x00", `undefined escape sequence \t in header`, nil},
		{"undefined escape in name", V12, Limits{}, "SEND\nk\\x:v\n\n\x00", `undefined escape sequence \x in header`, nil},
		{"undefined escape v11 cr", V11, Limits{}, "SEND\nk:a\\rb\n\n\x00", `undefined escape sequence \r in header`, nil},
		{"undefined escape control byte", V12, Limits{}, "SEND\nk:\\\x01\n\n\x00", `undefined escape sequence \<0x01> in header`, nil},
		{"trailing backslash", V11, Limits{}, "SEND\nk:ab\\\n\n\x00", `incomplete escape sequence \ at end of header`, nil},
		{"trailing backslash before crlf", V12, Limits{}, "SEND\nk:ab\\\r\n\n\x00", `incomplete escape sequence \ at end of header`, nil},
		{"command with space", V12, Limits{}, "SE ND\n\n\x00", `invalid command "SE ND"`, nil},
		{"command with digit", V12, Limits{}, "SEND1\n\n\x00", `invalid command "SEND1"`, nil},
		{"command with nul", V12, Limits{}, "\x00\n", `invalid command "\x00"`, nil},
		{"command with bare cr", V12, Limits{}, "\r\r\n\n\x00", `invalid command "\r"`, nil},
		{"command with utf-8", V12, Limits{}, "SÉND\n\n\x00", `invalid command "S\u00c9ND"`, nil},
		{"whitespace command v10", V10, Limits{}, "  \n\n\x00", "empty command line", nil},
		{"spaces around command v12", V12, Limits{}, " SEND\n\n\x00", `invalid command " SEND"`, nil},
		{"content-length letters", V12, Limits{}, "SEND\ncontent-length:abc\n\nabc\x00", `invalid content-length "abc"`, nil},
		{"content-length negative", V12, Limits{}, "SEND\ncontent-length:-1\n\n\x00", `invalid content-length "-1"`, nil},
		{"content-length plus", V12, Limits{}, "SEND\ncontent-length:+1\n\na\x00", `invalid content-length "+1"`, nil},
		{"content-length empty", V12, Limits{}, "SEND\ncontent-length:\n\n\x00", `invalid content-length ""`, nil},
		{"content-length padded v12", V12, Limits{}, "SEND\ncontent-length: 1\n\na\x00", `invalid content-length " 1"`, nil},
		{"content-length over default", V12, Limits{}, "SEND\ncontent-length:999999999\n\n", "content-length 999999999 exceeds max frame size 67108864", nil},
		{"content-length over limit", V12, Limits{MaxFrameSize: 32}, "SEND\ncontent-length:33\n\n", "content-length 33 exceeds max frame size 32", nil},
		{"content-length overflows int", V12, Limits{}, "SEND\ncontent-length:99999999999999999999999999999\n\n", "content-length 99999999999999999999999999999 exceeds max frame size 67108864", nil},
		{"content-length too short", V12, Limits{}, "SEND\ncontent-length:2\n\nabc\x00", "frame body not terminated by NUL", nil},
		{"body over limit", V12, Limits{MaxFrameSize: 32}, "SEND\n\n" + strings.Repeat("x", 33) + "\x00", "frame body exceeds max frame size 32", nil},
		{"long body over limit", V12, Limits{MaxFrameSize: 100 << 10}, "SEND\n\n" + long + "\x00", "frame body exceeds max frame size 102400", nil},
		{"too many headers", V12, Limits{MaxHeaders: 2}, "SEND\na:1\nb:2\nc:3\n\n\x00", "frame has more than 2 headers", nil},
		{"header line too long", V12, Limits{MaxHeaderLine: 5}, "SEND\nab:cde\n\n\x00", "header line exceeds 5 bytes", nil},
		{"command line too long", V12, Limits{MaxHeaderLine: 5}, "SENDXX\n\n\x00", "command line exceeds 5 bytes", nil},
		{"header line past buffer", V12, Limits{MaxHeaderLine: 100}, "SEND\nk:" + long + "\n\n\x00", "header line exceeds 100 bytes", nil},
		{"header line past larger limit", V12, Limits{MaxHeaderLine: 150 << 10}, "SEND\nk:" + long + "\n\n\x00", "header line exceeds 153600 bytes", nil},
		{"header line never ends", V12, Limits{MaxHeaderLine: 100 << 10}, "SEND\nk:" + long, "header line exceeds 102400 bytes", nil},
		{"header block too big", V12, Limits{MaxFrameSize: 16}, "SEND\nabc:def\nghi:jkl\n\n\x00", "header block exceeds max frame size 16", nil},

		{"eof in command", V12, Limits{}, "SEND", "", io.ErrUnexpectedEOF},
		{"eof after cr", V12, Limits{}, "\r", "", io.ErrUnexpectedEOF},
		{"eof in headers", V12, Limits{}, "SEND\nk:v", "", io.ErrUnexpectedEOF},
		{"eof before blank line", V12, Limits{}, "SEND\nk:v\n", "", io.ErrUnexpectedEOF},
		{"eof in body", V12, Limits{}, "SEND\n\nabc", "", io.ErrUnexpectedEOF},
		{"eof in long body", V12, Limits{}, "SEND\n\n" + long, "", io.ErrUnexpectedEOF},
		{"eof in counted body", V12, Limits{}, "SEND\ncontent-length:5\n\nab", "", io.ErrUnexpectedEOF},
		{"eof before counted nul", V12, Limits{}, "SEND\ncontent-length:2\n\nab", "", io.ErrUnexpectedEOF},
		{"eof after frame and partial", V12, Limits{}, "ACK\n\n\x00AC", "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, w := range wrappers {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				r := NewReader(w.wrap(strings.NewReader(tt.in)), tt.lim)
				r.SetVersion(tt.ver)
				_, err := readAll(r)
				checkErr(t, err, tt.msg, tt.err)
				// Every error is final.
				if _, again := r.Read(); again != err {
					t.Errorf("second Read error = %v, want the first, %v", again, err)
				}
			})
		}
	}
}

// checkErr asserts err is a *ProtocolError containing msg, or else is want.
func checkErr(t *testing.T, err error, msg string, want error) {
	t.Helper()
	var pe *ProtocolError
	if msg != "" {
		if !errors.As(err, &pe) {
			t.Fatalf("error = %v (%T), want *ProtocolError %q", err, err, msg)
		}
		if !strings.Contains(pe.Msg, msg) || pe.Error() != pe.Msg {
			t.Fatalf("error = %q, want it to contain %q", pe.Msg, msg)
		}
		if strings.ContainsAny(pe.Msg, "\r\n\x00") || len(pe.Msg) > 200 {
			t.Fatalf("error message %q is unfit for an ERROR frame header", pe.Msg)
		}
		return
	}
	if errors.As(err, &pe) || !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func TestReadVersionSwitch(t *testing.T) {
	// CONNECT is read with 1.0 rules (no unescaping, trimming); after
	// SetVersion the next frame is unescaped.
	in := "CONNECT\naccept-version:1.2\nlogin:a\\b\n\n\x00SEND\nk:a\\cb\n\n\x00"
	r := NewReader(strings.NewReader(in), Limits{})
	f, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Header.Get("login"); got != `a\b` {
		t.Fatalf("CONNECT login = %q, want a\\b verbatim", got)
	}
	r.SetVersion(V12)
	f, err = r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Header.Get("k"); got != "a:b" {
		t.Fatalf("SEND k = %q, want a:b", got)
	}
}

func TestReadLargeBodies(t *testing.T) {
	big := make([]byte, 3<<20+7) // past bodyChunk: grows as it arrives
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	noNUL := bytes.Repeat([]byte("0123456789"), 30<<10) // past the bufio buffer
	var in bytes.Buffer
	fmt.Fprintf(&in, "SEND\ncontent-length:%d\n\n", len(big))
	in.Write(big)
	in.WriteString("\x00SEND\n\n")
	in.Write(noNUL)
	in.WriteString("\x00SEND\nk:")
	in.WriteString(strings.Repeat("v", 100<<10)) // a header line past the buffer
	in.WriteString("\r\n\n\x00")

	for _, w := range wrappers[:3] {
		t.Run(w.name, func(t *testing.T) {
			r := NewReader(w.wrap(bytes.NewReader(in.Bytes())), Limits{MaxHeaderLine: 128 << 10})
			r.SetVersion(V12)
			got, err := readAll(r)
			if err != io.EOF || len(got) != 3 {
				t.Fatalf("got %d frames, error %v; want 3 frames, io.EOF", len(got), err)
			}
			if !bytes.Equal(got[0].Body, big) || cap(got[0].Body) != len(big) {
				t.Errorf("counted body: len %d cap %d, equal %v", len(got[0].Body), cap(got[0].Body), bytes.Equal(got[0].Body, big))
			}
			if !bytes.Equal(got[1].Body, noNUL) || cap(got[1].Body) > len(noNUL)*5/4 {
				t.Errorf("nul-terminated body: len %d cap %d", len(got[1].Body), cap(got[1].Body))
			}
			if v := got[2].Header.Get("k"); v != strings.Repeat("v", 100<<10) {
				t.Errorf("long header value has length %d", len(v))
			}
		})
	}
}

// allocated returns the bytes allocated while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadDeclaredSizeNotAllocated(t *testing.T) {
	// A content-length far past the limit fails before any body allocation.
	in := "SEND\ncontent-length:1099511627776\n\n"
	var err error
	n := allocated(func() {
		_, err = NewReader(strings.NewReader(in), Limits{}).Read()
	})
	checkErr(t, err, "content-length 1099511627776 exceeds max frame size 67108864", nil)
	if n > 128<<10 { // the 64 KiB bufio buffer and change
		t.Errorf("allocated %d bytes rejecting content-length 1<<40", n)
	}

	// A content-length within the limit is not trusted either: a peer that
	// declares 60 MiB and sends 10 bytes pins about bodyChunk, not 60 MiB.
	in = "SEND\ncontent-length:62914560\n\n0123456789"
	n = allocated(func() {
		_, err = NewReader(strings.NewReader(in), Limits{}).Read()
	})
	checkErr(t, err, "", io.ErrUnexpectedEOF)
	if n > bodyChunk+256<<10 {
		t.Errorf("allocated %d bytes for a 60 MiB declaration with 10 bytes sent", n)
	}

	// Steady state: a small frame costs the frame, its header slice, its
	// header text and its body.
	frameBytes := []byte("SEND\ndestination:/queue/a\nfoo:bar\ncontent-length:3\n\nabc\x00")
	src := &loopReader{data: frameBytes}
	r := NewReader(src, Limits{})
	r.SetVersion(V12)
	allocs := testing.AllocsPerRun(1000, func() {
		if f, err := r.Read(); err != nil || f == nil {
			t.Fatalf("Read = %v, %v", f, err)
		}
	})
	if allocs > 4 {
		t.Errorf("Read allocates %v times per frame, want <= 4", allocs)
	}
	// Heart-beats allocate nothing.
	r = NewReader(&loopReader{data: []byte("\n\r\n")}, Limits{})
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = r.Read() }); allocs != 0 {
		t.Errorf("heart-beat Read allocates %v times", allocs)
	}
}

// loopReader yields data over and over, forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func TestBuffered(t *testing.T) {
	r := NewReader(strings.NewReader("SEND\n\na\x00\nACK\n\n\x00"), Limits{})
	if r.Buffered() != 0 {
		t.Fatalf("Buffered before any read = %d", r.Buffered())
	}
	if f, err := r.Read(); err != nil || f == nil || f.Command != "SEND" {
		t.Fatalf("Read = %v, %v", f, err)
	}
	if got, want := r.Buffered(), len("\nACK\n\n\x00"); got != want {
		t.Fatalf("Buffered = %d, want %d", got, want)
	}
}

func TestVersionString(t *testing.T) {
	for v, want := range map[Version]string{V10: "1.0", V11: "1.1", V12: "1.2", 7: "Version(7)"} {
		if v.String() != want {
			t.Errorf("Version(%d).String() = %q, want %q", int(v), v.String(), want)
		}
	}
}
