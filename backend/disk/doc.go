// Package disk is mqgate's embedded store: a segmented append-only journal
// with group commit, CRC-checked frames, torn-tail repair and an in-memory
// index of the live records, rebuilt at Open. It implements store.Store.
//
// # Files
//
// Options.Dir holds a LOCK file (flock'd while a Journal is open; it holds
// the owner's pid) and the segments, 0000000001.log, 0000000002.log, ...:
// ten decimal digits, in log order. Only the last segment is written; a
// new one starts when the next frame would take the active one past
// Options.SegmentSize. All integers are little-endian.
//
//	segment = header frame*
//	header  = "MQGJ" version:u8(=1) reserved:[3]u8 seq:u64          16 bytes
//	frame   = length:u32 crc:u32 type:u8 payload[length]            9 + length
//
// length counts the payload only (at most 128 MiB); crc is the CRC-32C
// (Castagnoli) of the length bytes, the type byte and the payload. A frame
// is the unit of atomicity: one Append call is one frame of type 1, so a
// torn batch fails its CRC and is dropped whole.
//
//	payload = n:uvarint record{n}
//	record  = op:u8 queueLen:uvarint queue id:uvarint count:uvarint dataLen:uvarint data
//
// with op the store.Op value (1 enqueue, 2 ack, 3 delivered, 4 queue-create,
// 5 queue-delete); fields an op does not use are zero. Frames of type 2
// (carry, below) follow each record with pos:uvarint. A record's position is
// its segment number and its byte offset in the file (seq<<32 | offset):
// positions increase in log order and name records in the index.
//
// # Writing: group commit
//
// Append encodes its batch into a frame on the caller's goroutine and hands
// it to the writer goroutine, which owns the active segment. The writer
// takes every frame queued, writes them with one write(2) and, with
// FsyncAlways, one fdatasync, then wakes every caller (hashicorp/raft's and
// etcd's WAL's shape). FsyncInterval syncs on a ticker and FsyncNever never
// (but at Close, at compaction, and for FsyncAlways/Interval at rolls); both
// return after the write. A failed write or sync fails every caller of the
// round and every later Append: the journal must be reopened, which
// repairs the tail. MaxSize is checked per frame against the bytes of all
// segments: batches with enqueues or queue creates get store.ErrFull, acks,
// delivered marks and deletes always go in so that consumers can drain.
//
// # The index
//
// Rebuilt at Open by scanning every segment (about a second per million
// messages), kept by the writer: per queue its latest definition (kept in
// memory: definitions are small and few) and a map from message ID to the
// position of its enqueue record and its latest delivered count and where
// that record is, 16 bytes. Message bodies are not kept: Recover reads
// them back from the segments, in log order, emitting an enqueue when the
// index says it is the live one. Per segment the index counts what it
// holds that is still needed: live messages, latest definitions, latest
// delivered marks.
//
// # Reclaiming segments
//
// A segment other than the active one with no live message is "free" and is
// deleted, but the log must still replay to the same state without it. So:
//
//   - Removals must not outlive what they remove. An ack (or a re-enqueue of
//     the same ID) in segment S of a message enqueued in an earlier segment R
//     is a "ref" of S to R: if S went first, replaying R would resurrect the
//     message. Before deleting a free S whose refs point at a segment that
//     stays, the journal rewrites those removals into the active segment as
//     carried acks (KahaDB's ack compaction, JetStream's tombstones). This is
//     what keeps one never-acked message from pinning every later segment:
//     it pins its own segment only.
//   - A queue delete in S pins the segments holding the queue's messages and
//     definition records at that time: S stays until they are gone. Deletes
//     are not carried (replaying a displaced delete after a re-create of the
//     same name would be ambiguous), and they are rare.
//   - The latest definition of a live queue, and the latest delivered count
//     of a live message, are carried into the active segment when their
//     segment is freed; so is the queue's creation position, so that Recover
//     keeps creation order.
//   - Deletion runs in rounds, each followed by an fsync of the directory: a
//     segment is unlinked only after every segment it refers to is durably
//     gone, and only after the carried records are synced. A crash at any
//     point, with any subset of the last round's unlinks lost, replays to the
//     same state (crash_test.go checks this).
//   - An active segment without live messages is rolled once it holds a
//     quarter of SegmentSize (an eighth of MaxSize if smaller), so that
//     consumers that keep up, or drain a full journal, free space.
//
// A carried record (frame type 2) carries the position it stands for, pos,
// and replays as of then: a carried ack removes the message only if its
// live enqueue is older than pos (so it cannot remove a later re-enqueue of
// the same ID); a carried delivered count applies only to the enqueue it
// was counted for; a carried definition keeps pos as the queue's creation
// position. Carried records are only definitions, delivered marks and acks.
//
// Not done: rewriting the live messages of a sparse segment elsewhere
// (KahaDB's and Artemis' compactors). A never-consumed message keeps its
// whole segment, so a long-lived trickle of them across many segments keeps
// those segments.
//
// # Recovery
//
// Open scans the segments in order and stops at the first frame that is
// short, too long for the file, fails its CRC or does not decode. In the
// last segment that is a torn write: the file is truncated to the last
// whole frame and the loss (offset, bytes dropped) logged at warn level;
// unless a whole valid frame follows the bad one, which means damage to
// acknowledged data, and Open fails. A bad frame in any other segment, or a
// bad header, is a *CorruptError naming the file and offset: nothing is
// dropped silently. A last segment shorter than its header (a crash during
// a roll) is rewritten empty.
package disk
