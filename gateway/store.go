package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/mqgate/mqgate/backend/disk"
	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/config"
)

// openStore opens the store cfg names; nil means memory only (persistent
// messages are kept in memory and lost with the process).
func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (store.Store, error) {
	switch cfg.Store.Type {
	case config.StoreMemory:
		return nil, nil
	case config.StoreDisk:
		return openDisk(cfg, log)
	case config.StoreRedis:
		return openRedis(ctx, cfg, log)
	}
	return nil, fmt.Errorf("store.type: %q is not available in this build", cfg.Store.Type)
}

// openDisk opens the disk journal under node.data_dir.
func openDisk(cfg *config.Config, log zerolog.Logger) (store.Store, error) {
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

// candidacy is what one master election runs on: the Leaser, how to open
// the term's store once the lease is held, and how to release both.
type candidacy struct {
	leaser store.Leaser
	open   func(ctx context.Context) (store.Store, error)
	close  func()
}

// campaign prepares an election on the shared store cfg names: for disk, a
// lock file beside the journal in node.data_dir (shared file system
// master/slave); for redis, the store itself, whose lease fences its
// writes.
func campaign(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*candidacy, error) {
	switch cfg.Store.Type {
	case config.StoreDisk:
		if err := os.MkdirAll(cfg.Node.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("node.data_dir: %w", err)
		}
		return &candidacy{
			leaser: disk.NewFileLeaser(filepath.Join(cfg.Node.DataDir, "master.lock")),
			open:   func(context.Context) (store.Store, error) { return openDisk(cfg, log) },
			close:  func() {},
		}, nil
	case config.StoreRedis:
		st, err := openRedis(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		leaser, ok := st.(store.Leaser)
		if !ok {
			st.Close()
			return nil, fmt.Errorf("the %s store cannot elect a master", cfg.Store.Type)
		}
		return &candidacy{
			leaser: leaser,
			open:   func(context.Context) (store.Store, error) { return st, nil },
			close:  func() { _ = st.Close() },
		}, nil
	}
	return nil, fmt.Errorf("ha.mode shared-store: store.type %q is not shared", cfg.Store.Type)
}

// openRegistry opens the members registry of the master/slave group cfg
// names, for the registrar (registry.go), and returns how to release it:
// for disk, the members folder beside master.lock in the shared
// node.data_dir; for redis, a store handle of its own on the group's
// Redis (the election's handle is closed after every term, the registrar
// runs for the gateway's lifetime).
func openRegistry(ctx context.Context, cfg *config.Config, log zerolog.Logger) (store.Registry, func(), error) {
	switch cfg.Store.Type {
	case config.StoreDisk:
		return disk.NewFileRegistry(filepath.Join(cfg.Node.DataDir, "members")), func() {}, nil
	case config.StoreRedis:
		st, err := openRedis(ctx, cfg, log)
		if err != nil {
			return nil, nil, err
		}
		reg, ok := st.(store.Registry)
		if !ok {
			_ = st.Close()
			return nil, nil, fmt.Errorf("the %s store keeps no members registry", cfg.Store.Type)
		}
		return reg, func() { _ = st.Close() }, nil
	}
	return nil, nil, fmt.Errorf("ha.mode shared-store: store.type %q is not shared", cfg.Store.Type)
}
