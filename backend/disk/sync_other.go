//go:build !linux

package disk

import "os"

// syncData makes f's data durable (fsync: no fdatasync here).
func syncData(f *os.File) error { return f.Sync() }
