package disk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// CorruptError reports a journal segment that cannot be read past Offset
// and cannot be repaired without losing records that were acknowledged.
type CorruptError struct {
	Path   string
	Offset int64
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("disk: corrupt journal segment %s at offset %d: %v", e.Path, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// scanner reads segment files frame by frame. It reuses its buffers: the
// records handed to fn alias them and are valid only during the call.
type scanner struct {
	br   *bufio.Reader
	buf  []byte
	recs []rec
}

// frameFunc receives each whole, valid frame: its offset in the file, its
// type and its decoded records.
type frameFunc func(off int64, typ byte, recs []rec) error

// scan reads segment seq from f up to limit bytes (the file size if
// limit < 0). It returns the offset just past the last whole valid frame;
// bad, when the scan stopped at a torn or corrupt frame (or header) at that
// offset; err for I/O errors and errors from fn.
func (sc *scanner) scan(f *os.File, seq uint32, limit int64, fn frameFunc) (end int64, bad, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	size := st.Size()
	if limit >= 0 && limit < size {
		size = limit
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, nil, err
	}
	if sc.br == nil {
		sc.br = bufio.NewReaderSize(f, 1<<20)
	} else {
		sc.br.Reset(f)
	}
	var hdr [segHeaderSize]byte
	if size < segHeaderSize {
		return 0, fmt.Errorf("%w: %d-byte file, short of its header", errBadFrame, size), nil
	}
	if _, err := io.ReadFull(sc.br, hdr[:]); err != nil {
		return 0, nil, err
	}
	if bad := checkSegHeader(hdr[:], seq); bad != nil {
		return 0, bad, nil
	}
	off := int64(segHeaderSize)
	var fh [frameHeaderSize]byte
	for off < size {
		typ, payload, bad, err := sc.frame(&fh, size-off)
		if err != nil || bad != nil {
			return off, bad, err
		}
		if sc.recs, bad = decodeFrame(typ, payload, sc.recs); bad != nil {
			return off, bad, nil
		}
		if err := fn(off, typ, sc.recs); err != nil {
			return off, nil, err
		}
		off += frameHeaderSize + int64(len(payload))
	}
	return off, nil, nil
}

// frame reads one frame that must fit in left bytes and checks its CRC.
func (sc *scanner) frame(fh *[frameHeaderSize]byte, left int64) (typ byte, payload []byte, bad, err error) {
	if left < frameHeaderSize {
		return 0, nil, fmt.Errorf("%w: torn frame header (%d bytes)", errBadFrame, left), nil
	}
	if _, err := io.ReadFull(sc.br, fh[:]); err != nil {
		return 0, nil, nil, err
	}
	n := binary.LittleEndian.Uint32(fh[0:4])
	if n > maxFrameSize || int64(n) > left-frameHeaderSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes with %d left", errBadFrame, n, left-frameHeaderSize), nil
	}
	if cap(sc.buf) < int(n) {
		sc.buf = make([]byte, n)
	}
	payload = sc.buf[:n]
	if _, err := io.ReadFull(sc.br, payload); err != nil {
		return 0, nil, nil, err
	}
	if got, want := frameCRC(fh[:], payload), binary.LittleEndian.Uint32(fh[4:8]); got != want {
		return 0, nil, fmt.Errorf("%w: crc %08x, want %08x", errBadFrame, got, want), nil
	}
	return fh[8], payload, nil, nil
}

// validFrameAt reports whether a whole, valid frame starts at off in f.
// Open uses it to tell a torn tail (nothing valid after the bad frame) from
// corruption in the middle of the last segment.
func (sc *scanner) validFrameAt(f *os.File, off, size int64) bool {
	if off <= 0 || off >= size {
		return false
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	sc.br.Reset(f)
	var fh [frameHeaderSize]byte
	typ, payload, bad, err := sc.frame(&fh, size-off)
	if err != nil || bad != nil {
		return false
	}
	_, bad = decodeFrame(typ, payload, sc.recs)
	return bad == nil
}

// badFrameEnd returns where the frame at off would end if its length field
// is to be believed, or -1.
func badFrameEnd(f *os.File, off, size int64) int64 {
	var fh [frameHeaderSize]byte
	if _, err := f.ReadAt(fh[:], off); err != nil {
		return -1
	}
	n := int64(binary.LittleEndian.Uint32(fh[0:4]))
	if n > maxFrameSize || off+frameHeaderSize+n > size {
		return -1
	}
	return off + frameHeaderSize + n
}

var errCorruptTail = errors.New("valid frames follow the bad one")
