package disk

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

func opener(opts Options) func(t *testing.T, dir string) store.Store {
	return func(t *testing.T, dir string) store.Store {
		o := opts
		o.Dir = dir
		o.Logger = testLogger(t)
		j, err := Open(o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return j
	}
}

func limited(opts Options) func(t *testing.T, dir string, maxBytes int64) store.Store {
	return func(t *testing.T, dir string, maxBytes int64) store.Store {
		o := opts
		o.MaxSize = maxBytes
		o.SegmentSize = max(MinSegmentSize, maxBytes/4)
		return opener(o)(t, dir)
	}
}

// TestConformance runs the store suite with small segments, so that rolls
// and reclaiming happen all the time, under each fsync policy.
func TestConformance(t *testing.T) {
	for _, o := range []Options{
		{Fsync: FsyncNever, SegmentSize: 8 << 10},
		{Fsync: FsyncInterval, SegmentSize: 64 << 10},
		{Fsync: FsyncAlways, SegmentSize: 256 << 10},
	} {
		t.Run(o.Fsync.String(), func(t *testing.T) {
			if testing.Short() && o.Fsync == FsyncAlways {
				t.Skip("fsync-heavy: skipped in -short")
			}
			storetest.RunOptions(t, opener(o), storetest.Options{OpenLimited: limited(o)})
		})
	}
}
