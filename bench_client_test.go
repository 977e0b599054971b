package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadLeanFrame(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, f *inFrame)
		err   error // errors.Is target; nil = success
	}{
		{
			name: "message with content-length",
			in: "MESSAGE\nsubscription:0\nmessage-id:ID\\cx\\c1\nack:ID\\ca1\ndestination:/queue/q\n" +
				"bench-p:2\nbench-seq:41\nbench-ts:1795574946417000000\ncontent-length:5\n\nhel\x00o\x00\n",
			check: func(t *testing.T, f *inFrame) {
				if f.kind != kindMessage || string(f.ack) != `ID\ca1` || string(f.messageID) != `ID\cx\c1` || string(f.subscription) != "0" {
					t.Fatalf("frame %+v", f)
				}
				if f.benchP != 2 || f.benchSeq != 41 || f.benchTS != 1795574946417000000 || f.bodyLen != 5 {
					t.Fatalf("bench headers %d %d %d, body %d", f.benchP, f.benchSeq, f.benchTS, f.bodyLen)
				}
			},
		},
		{
			name: "heart-beats, CRLF and no content-length",
			in:   "\n\r\n\nMESSAGE\r\nbench-seq:7\r\nbench-seq:8\r\n\r\nbody\x00",
			check: func(t *testing.T, f *inFrame) {
				if f.kind != kindMessage || f.benchSeq != 7 || f.benchP != -1 || f.bodyLen != 4 {
					t.Fatalf("frame %+v", f)
				}
			},
		},
		{
			name: "invalid bench headers are -1",
			in:   "MESSAGE\nbench-p:x\nbench-seq:-3\nbench-ts:99999999999999999999\n\n\x00",
			check: func(t *testing.T, f *inFrame) {
				if f.benchP != -1 || f.benchSeq != -1 || f.benchTS != -1 {
					t.Fatalf("frame %+v", f)
				}
			},
		},
		{
			name: "error keeps its body",
			in:   "ERROR\nmessage:bad\\cthing\ncontent-length:4\n\noops\x00",
			check: func(t *testing.T, f *inFrame) {
				err := f.errorValue()
				if f.kind != kindError || !strings.Contains(err.Error(), "bad:thing") || !strings.Contains(err.Error(), "oops") {
					t.Fatalf("error %v", err)
				}
			},
		},
		{
			name: "connected and receipt",
			in:   "CONNECTED\nversion:1.1\n\n\x00",
			check: func(t *testing.T, f *inFrame) {
				if f.kind != kindConnected || string(f.version) != "1.1" {
					t.Fatalf("frame %+v", f)
				}
			},
		},
		{name: "content-length over the limit", in: "MESSAGE\ncontent-length:99999999999\n\n", err: errFrameTooLarge},
		{name: "bad content-length", in: "MESSAGE\ncontent-length:-1\n\n\x00", err: errBadFrame},
		{name: "no NUL after the body", in: "MESSAGE\ncontent-length:1\n\nab", err: errBadFrame},
		{name: "header without colon", in: "MESSAGE\nnocolon\n\n\x00", err: errBadFrame},
		{name: "truncated headers", in: "MESSAGE\nack:1", err: io.ErrUnexpectedEOF},
		{name: "truncated body", in: "MESSAGE\ncontent-length:10\n\nabc", err: io.ErrUnexpectedEOF},
		{name: "truncated body without length", in: "MESSAGE\n\nabc", err: io.ErrUnexpectedEOF},
		{name: "clean EOF", in: "\n\n", err: io.EOF},
		{name: "header line too long", in: "MESSAGE\nx:" + strings.Repeat("a", leanBufSize) + "\n\n\x00", err: errFrameTooLarge},
	}
	for _, tc := range tests {
		for _, chunked := range []bool{false, true} {
			name := tc.name
			if chunked {
				name += " (one byte at a time)"
			}
			t.Run(name, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tc.in)
				if chunked {
					src = iotest.OneByteReader(src)
				}
				var f inFrame
				got, err := readLeanFrame(bufio.NewReaderSize(src, leanBufSize), &f)
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Fatalf("err = %v, want %v", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, got)
			})
		}
	}
}

func TestReadLeanFrameSequenceAndBufferedEOLs(t *testing.T) {
	// Two frames, each followed by an EOL (as ActiveMQ sends them): after
	// each read nothing but the next frame may remain buffered, so
	// Buffered() == 0 reliably means "the next read blocks".
	in := "RECEIPT\nreceipt-id:s1\n\n\x00\nRECEIPT\nreceipt-id:s2\n\n\x00\r\n"
	r := bufio.NewReader(strings.NewReader(in))
	var f inFrame
	for _, want := range []string{"s1", "s2"} {
		got, err := readLeanFrame(r, &f)
		if err != nil || got.kind != kindReceipt || string(got.receiptID) != want {
			t.Fatalf("got %+v, %v; want receipt %s", got, err, want)
		}
	}
	if r.Buffered() != 0 {
		t.Fatalf("%d bytes left buffered after the last frame", r.Buffered())
	}
}

// testConn returns a leanConn for version v whose output goes to buf.
func testConn(v int, buf *bytes.Buffer) *leanConn {
	return &leanConn{w: bufio.NewWriter(buf), version: v}
}

func TestLeanEncoding(t *testing.T) {
	var buf bytes.Buffer
	c := testConn(stomp12, &buf)
	if err := c.sendBench("/queue/a:b", []byte("xyz"), true, 3, 42, 1000, 7); err != nil {
		t.Fatal(err)
	}
	c.flush()
	want := "SEND\ndestination:/queue/a\\cb\npersistent:true\nbench-p:3\nbench-seq:42\nbench-ts:1000\nreceipt:s7\ncontent-length:3\n\nxyz\x00"
	if buf.String() != want {
		t.Fatalf("SEND:\n got %q\nwant %q", buf.String(), want)
	}

	buf.Reset()
	c.groups, c.selectable = 1000, true
	if err := c.sendBench("/queue/g", nil, false, 0, 2042, 5, 0); err != nil {
		t.Fatal(err)
	}
	c.flush()
	want = "SEND\ndestination:/queue/g\nJMSXGroupID:g42\nbench_region:eu\nbench_n:2\nbench-p:0\nbench-seq:2042\nbench-ts:5\ncontent-length:0\n\n\x00"
	if buf.String() != want {
		t.Fatalf("SEND with groups and selector headers:\n got %q\nwant %q", buf.String(), want)
	}

	f := &inFrame{ack: []byte(`ID\ca1`), messageID: []byte(`ID\cm1`), subscription: []byte("0")}
	for _, tc := range []struct {
		v    int
		want string
	}{
		{stomp12, "ACK\nid:ID\\ca1\n\n\x00"},
		{stomp11, "ACK\nmessage-id:ID\\cm1\nsubscription:0\n\n\x00"},
		{stomp10, "ACK\nmessage-id:ID\\cm1\n\n\x00"},
	} {
		buf.Reset()
		c := testConn(tc.v, &buf)
		c.ack(f)
		c.flush()
		if buf.String() != tc.want {
			t.Errorf("ACK v%d: got %q want %q", tc.v, buf.String(), tc.want)
		}
	}

	buf.Reset()
	c = testConn(stomp11, &buf)
	c.subscribe("/topic/t", "1", "client", 10, "sub", [][2]string{{"selector", "a\\b\nc\rd"}})
	c.flush()
	want = "SUBSCRIBE\ndestination:/topic/t\nid:1\nack:client\nactivemq.prefetchSize:10\nprefetch-count:10\nselector:a\\\\b\\nc\rd\nreceipt:sub\n\n\x00"
	if buf.String() != want {
		t.Fatalf("SUBSCRIBE (1.1 leaves CR alone):\n got %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	c = testConn(stomp10, &buf)
	c.disconnect("d")
	c.flush()
	if buf.String() != "DISCONNECT\nreceipt:d\n\n\x00" {
		t.Fatalf("DISCONNECT: %q", buf.String())
	}
}

func FuzzReadLeanFrame(f *testing.F) {
	f.Add([]byte("MESSAGE\nack:1\ncontent-length:3\n\nabc\x00\n"))
	f.Add([]byte("\n\nERROR\nmessage:x\n\nbody\x00"))
	f.Add([]byte("RECEIPT\nreceipt-id:s1\n\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var fr inFrame
		for i := 0; i < 100; i++ {
			if _, err := readLeanFrame(r, &fr); err != nil {
				return
			}
		}
	})
}

// BenchmarkLeanReceive measures parsing and acknowledging MESSAGE frames
// from a TCP peer that writes pre-encoded frames as fast as it can: the
// consumer-side ceiling of the lean client.
func BenchmarkLeanReceive(b *testing.B) {
	body := strings.Repeat("x", 1024)
	frame := "MESSAGE\nsubscription:0\nmessage-id:ID\\cbroker-1\\c1\\c1\nack:ID\\cbroker-1-0001\ndestination:/queue/bench\n" +
		"bench-p:0\nbench-seq:1\nbench-ts:1795574946417000000\ncontent-length:1024\n\n" + body + "\x00\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	n := b.N
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		go io.Copy(io.Discard, nc) // the ACKs
		w := bufio.NewWriterSize(nc, 64*1024)
		for i := 0; i < n; i++ {
			w.WriteString(frame)
		}
		w.Flush()
		time.Sleep(time.Second) // let the consumer finish before closing
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := &leanConn{nc: nc, r: bufio.NewReaderSize(nc, leanBufSize), w: bufio.NewWriterSize(nc, leanBufSize), version: stomp12}
	tally := newConsumerTally(1, 0)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	got := 0
	for got < n {
		f, err := c.readFrame()
		if err != nil {
			b.Fatal(err)
		}
		tally.record(int(f.benchP), f.benchSeq, f.benchTS, time.Now())
		c.ack(f)
		if c.r.Buffered() == 0 {
			c.flush()
		}
		got++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	nc.Close()
}

// BenchmarkLeanSend measures encoding and writing SEND frames to a TCP peer
// that discards them: the producer-side ceiling of the lean client.
func BenchmarkLeanSend(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, nc)
		nc.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &leanConn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriterSize(nc, leanBufSize), version: stomp12}
	body := make([]byte, 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.sendBench("/queue/bench.x", body, false, 0, int64(i), time.Now().UnixNano(), 0); err != nil {
			b.Fatal(err)
		}
	}
	c.flush()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
