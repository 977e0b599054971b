package gateway

import (
	"fmt"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/disk"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
)

// openStore opens the store cfg names; nil means memory only (persistent
// messages are kept in memory and lost with the process).
func openStore(cfg *config.Config, log zerolog.Logger) (store.Store, error) {
	switch cfg.Store.Type {
	case config.StoreMemory:
		return nil, nil
	case config.StoreDisk:
		dc := cfg.Store.Disk
		var policy disk.FsyncPolicy
		switch dc.Fsync {
		case config.FsyncAlways:
			policy = disk.FsyncAlways
		case config.FsyncInterval:
			policy = disk.FsyncInterval
		case config.FsyncNever:
			policy = disk.FsyncNever
		}
		dir := filepath.Join(cfg.Node.DataDir, "journal")
		j, err := disk.Open(disk.Options{
			Dir:           dir,
			Fsync:         policy,
			FsyncInterval: dc.FsyncInterval,
			MaxSize:       int64(dc.MaxSize),
			SegmentSize:   int64(dc.SegmentSize),
			Logger:        log.With().Str("store", "disk").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("opening the disk store in %s: %w", dir, err)
		}
		return j, nil
	}
	return nil, fmt.Errorf("store.type: %q is not available in this build", cfg.Store.Type)
}
