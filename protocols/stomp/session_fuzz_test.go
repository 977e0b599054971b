package stomp

import (
	"testing"

	"github.com/mqgate/mqgate/protocols/stomp/wire"
)

// FuzzSession feeds arbitrary bytes to a connection: no panic, the session
// ends, and what it writes back parses as STOMP frames.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"CONNECT\naccept-version:1.2\n\nSEND\ndestination:/queue/a\nreceipt:1\n\nhi\x00SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client\n\n\x00",
		"STOMP\naccept-version:1.0,1.1\nheart-beat:0,0\n\nBEGIN\ntransaction:t\n\n\x00SEND\ndestination:/topic/x\ntransaction:t\ncontent-length:3\n\na\x00b\x00COMMIT\ntransaction:t\n\n\x00",
		"CONNECT\n\nSUBSCRIBE\ndestination:/temp-queue/r\n\n\x00SEND\ndestination:/temp-queue/r\nreply-to:/temp-queue/r\n\n\x00ACK\nmessage-id:x\n\n\x00",
		"CONNECT\naccept-version:1.2\nclient-id:c\n\nSUBSCRIBE\nid:1\ndestination:/topic/t\nactivemq.subscriptionName:d\nack:client-individual\n\n\x00UNSUBSCRIBE\nid:1\nactivemq.subscriptionName:d\n\n\x00NACK\nid:z\n\n\x00DISCONNECT\nreceipt:bye\n\n\x00",
		"\n\r\n\nCONNECT\naccept-version:1.1\n\nSEND\ndestination:/queue/a\nk:\\c\\n\n\n\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, _ := testServer(t, Options{Limits: wire.Limits{MaxFrameSize: 4096, MaxHeaders: 16, MaxHeaderLine: 256}})
		out := exchange(t, s, in)
		if len(out) > 1<<20 {
			t.Fatalf("server wrote %d bytes for %d bytes of input", len(out), len(in))
		}
		readFrames(t, out)
	})
}
