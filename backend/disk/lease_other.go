//go:build !unix

package disk

import (
	"context"
	"errors"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// FileLeaser needs flock, which this platform lacks.
type FileLeaser struct{}

// NewFileLeaser returns a FileLeaser whose Acquire always fails here.
func NewFileLeaser(string) *FileLeaser { return &FileLeaser{} }

// Acquire fails: shared file system master/slave needs flock.
func (*FileLeaser) Acquire(context.Context, string, time.Duration) (store.Lease, error) {
	return nil, errors.New("disk: shared file system master/slave needs flock, which this platform lacks")
}
