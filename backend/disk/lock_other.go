//go:build !unix

package disk

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir/LOCK. Without flock there is no protection against a
// second process: mqgate's supported platforms are unix.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
