package disk

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// FsyncPolicy says when Append's data reaches stable storage.
type FsyncPolicy int

const (
	// FsyncAlways: Append returns after the batch is fdatasync'd, one sync
	// shared by every batch written together (group commit). The default.
	FsyncAlways FsyncPolicy = iota
	// FsyncInterval: Append returns after write(2); the writer syncs every
	// Options.FsyncInterval. A machine crash loses up to that much.
	FsyncInterval
	// FsyncNever: Append returns after write(2); the journal syncs only for
	// compaction and at Close. A process crash loses nothing, a machine
	// crash what the kernel had not written.
	FsyncNever
)

// String returns the policy's name.
func (p FsyncPolicy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return "FsyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Defaults and limits of Options.
const (
	DefaultSegmentSize   = 64 << 20
	DefaultFsyncInterval = 100 * time.Millisecond
	MinSegmentSize       = 1 << 10
	MaxSegmentSize       = 1 << 30
)

// Options configure a Journal.
type Options struct {
	// Dir holds the segment files and the LOCK file; created if missing.
	Dir string
	// Fsync is the durability policy; the zero value is FsyncAlways.
	Fsync FsyncPolicy
	// FsyncInterval is the sync period of FsyncInterval (default 100ms).
	FsyncInterval time.Duration
	// MaxSize caps the bytes of all segment files; 0 means unlimited. An
	// Append that adds messages or queues past it fails with store.ErrFull;
	// acks, delivered marks and queue deletes are always accepted, so that
	// consumers can drain a full journal.
	MaxSize int64
	// SegmentSize is the size past which the journal starts a new segment
	// file (default 64 MiB, at most 1 GiB). A batch larger than a segment
	// gets a segment of its own.
	SegmentSize int64
	// Logger receives the journal's events: open, repairs, failures, and
	// at debug level rolls and reclaimed segments. Zero value: silent.
	Logger zerolog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("disk: Options.Dir is empty")
	}
	switch o.Fsync {
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return o, fmt.Errorf("disk: Options.Fsync: unknown policy %d", o.Fsync)
	}
	if o.FsyncInterval < 0 {
		return o, fmt.Errorf("disk: Options.FsyncInterval %v is negative", o.FsyncInterval)
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize {
		return o, fmt.Errorf("disk: Options.SegmentSize %d is out of [%d, %d]", o.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if o.MaxSize < 0 {
		return o, fmt.Errorf("disk: Options.MaxSize %d is negative", o.MaxSize)
	}
	return o, nil
}
