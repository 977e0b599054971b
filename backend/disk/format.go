package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/mqgate/mqgate/backend/store"
)

// On-disk layout; see doc.go. Changing any of it needs a new segVersion.
const (
	segMagic        = "MQGJ"
	segVersion      = 1
	segHeaderSize   = 16 // magic[4] version[1] reserved[3] seq[8]
	frameHeaderSize = 9  // length[4] crc[4] type[1]

	frameBatch byte = 1 // one Append call
	frameCarry byte = 2 // records carried forward by compaction

	// maxFrameSize bounds one frame's payload: one Append call.
	maxFrameSize = 128 << 20
	// maxQueueLen bounds a queue name.
	maxQueueLen = 64 << 10
	// minRecordSize is the smallest encoded record: op and four one-byte
	// varints.
	minRecordSize = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame marks frames that fail validation: torn or corrupt.
var errBadFrame = errors.New("bad frame")

// encodeSegHeader returns the header of segment seq.
func encodeSegHeader(seq uint32) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	b[4] = segVersion
	binary.LittleEndian.PutUint64(b[8:], uint64(seq))
	return b
}

// checkSegHeader validates the header of segment seq.
func checkSegHeader(b []byte, seq uint32) error {
	switch {
	case len(b) < segHeaderSize:
		return fmt.Errorf("%w: short segment header", errBadFrame)
	case string(b[:4]) != segMagic:
		return fmt.Errorf("%w: not a journal segment (magic %q)", errBadFrame, b[:4])
	case b[4] != segVersion:
		return fmt.Errorf("%w: segment version %d, want %d", errBadFrame, b[4], segVersion)
	case binary.LittleEndian.Uint64(b[8:]) != uint64(seq):
		return fmt.Errorf("%w: header names segment %d", errBadFrame, binary.LittleEndian.Uint64(b[8:]))
	}
	return nil
}

// appendBatchFrame appends the frame of one Append call to dst. It fails,
// leaving dst as it was, on an unknown op or an oversized record or batch.
func appendBatchFrame(dst []byte, recs []store.Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		if r.Op < store.OpEnqueue || r.Op > store.OpQueueDelete {
			return dst[:start], fmt.Errorf("disk: record %d: unknown op %d", i, r.Op)
		}
		if len(r.Queue) > maxQueueLen {
			return dst[:start], fmt.Errorf("disk: record %d: queue name of %d bytes (max %d)", i, len(r.Queue), maxQueueLen)
		}
		if len(dst)-start+len(r.Data) > maxFrameSize {
			return dst[:start], fmt.Errorf("disk: %w (max %d bytes)", ErrTooLarge, maxFrameSize)
		}
		dst = appendRecord(dst, r)
	}
	if len(dst)-start-frameHeaderSize > maxFrameSize {
		return dst[:start], fmt.Errorf("disk: %w (max %d bytes)", ErrTooLarge, maxFrameSize)
	}
	sealFrame(dst[start:], frameBatch)
	return dst, nil
}

// carried is a record compaction rewrites into the active segment, with
// the log position it stands for (see doc.go, "Carried records").
type carried struct {
	rec store.Record
	pos uint64
}

// appendCarryFrame appends a frameCarry holding recs to dst.
func appendCarryFrame(dst []byte, recs []carried) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		dst = appendRecord(dst, &recs[i].rec)
		dst = binary.AppendUvarint(dst, recs[i].pos)
	}
	sealFrame(dst[start:], frameCarry)
	return dst
}

func appendRecord(dst []byte, r *store.Record) []byte {
	dst = append(dst, byte(r.Op))
	dst = binary.AppendUvarint(dst, uint64(len(r.Queue)))
	dst = append(dst, r.Queue...)
	dst = binary.AppendUvarint(dst, r.ID)
	dst = binary.AppendUvarint(dst, uint64(r.Count))
	dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
	return append(dst, r.Data...)
}

// sealFrame fills the header of frame (header and payload) of type typ.
func sealFrame(frame []byte, typ byte) {
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(frame)-frameHeaderSize))
	frame[8] = typ
	binary.LittleEndian.PutUint32(frame[4:8], frameCRC(frame[:frameHeaderSize], frame[frameHeaderSize:]))
}

// frameCRC is the CRC32C of the length, the type and the payload.
func frameCRC(hdr, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[0:4])
	c = crc32.Update(c, castagnoli, hdr[8:9])
	return crc32.Update(c, castagnoli, payload)
}

// rec is a decoded record. queue and data alias the frame buffer.
type rec struct {
	op    store.Op
	queue []byte
	id    uint64
	count uint32
	data  []byte
	off   int    // offset of the record in the payload
	pos   uint64 // frameCarry: the position it stands for
}

// decodeFrame decodes the payload of a frame of type typ into recs[:0]. It
// checks every length against what is left before using it, so any input
// is safe; an error means the frame is corrupt.
func decodeFrame(typ byte, payload []byte, recs []rec) ([]rec, error) {
	recs = recs[:0]
	if typ != frameBatch && typ != frameCarry {
		return recs, fmt.Errorf("%w: unknown frame type %d", errBadFrame, typ)
	}
	n, p, err := uvarint(payload, 0)
	if err != nil {
		return recs, err
	}
	if n > uint64((len(payload)-p)/minRecordSize) {
		return recs, fmt.Errorf("%w: %d records in %d bytes", errBadFrame, n, len(payload))
	}
	for range n {
		var r rec
		r.off = p
		if p >= len(payload) {
			return recs, fmt.Errorf("%w: truncated record", errBadFrame)
		}
		r.op = store.Op(payload[p])
		p++
		if r.op < store.OpEnqueue || r.op > store.OpQueueDelete {
			return recs, fmt.Errorf("%w: unknown op %d at %d", errBadFrame, r.op, r.off)
		}
		if r.queue, p, err = bytesField(payload, p, maxQueueLen); err != nil {
			return recs, err
		}
		if r.id, p, err = uvarint(payload, p); err != nil {
			return recs, err
		}
		var count uint64
		if count, p, err = uvarint(payload, p); err != nil {
			return recs, err
		}
		if count > 1<<32-1 {
			return recs, fmt.Errorf("%w: count %d", errBadFrame, count)
		}
		r.count = uint32(count)
		if r.data, p, err = bytesField(payload, p, maxFrameSize); err != nil {
			return recs, err
		}
		if typ == frameCarry {
			if r.op != store.OpQueueCreate && r.op != store.OpDelivered && r.op != store.OpAck {
				return recs, fmt.Errorf("%w: %s record carried", errBadFrame, r.op)
			}
			if r.pos, p, err = uvarint(payload, p); err != nil {
				return recs, err
			}
		}
		recs = append(recs, r)
	}
	if p != len(payload) {
		return recs, fmt.Errorf("%w: %d trailing bytes", errBadFrame, len(payload)-p)
	}
	return recs, nil
}

func uvarint(b []byte, p int) (uint64, int, error) {
	v, n := binary.Uvarint(b[p:])
	if n <= 0 {
		return 0, p, fmt.Errorf("%w: bad varint at %d", errBadFrame, p)
	}
	return v, p + n, nil
}

func bytesField(b []byte, p, max int) ([]byte, int, error) {
	n, p, err := uvarint(b, p)
	if err != nil {
		return nil, p, err
	}
	if n > uint64(max) || n > uint64(len(b)-p) {
		return nil, p, fmt.Errorf("%w: field of %d bytes at %d", errBadFrame, n, p)
	}
	return b[p : p+int(n) : p+int(n)], p + int(n), nil
}
