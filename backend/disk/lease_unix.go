//go:build unix

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// FileLeaser arbitrates master/slave among brokers that share a directory,
// as ActiveMQ's shared file system master/slave does: the master holds an
// exclusive flock on a lock file; the others poll for it. The file holds the
// fencing token, raised on every take-over, and the holder's node and pid.
//
// A local flock is never lost while its process lives, so a paused master
// keeps its lease and no other node can take over: there is no split brain
// on a local file system. On a network file system (NFSv4) a lock can be
// lost when the client's lease there lapses; the lease re-checks its lock
// every ttl/3 and reports Lost when the check fails or when the file was
// removed or replaced.
type FileLeaser struct {
	path string
}

// NewFileLeaser returns a FileLeaser on the lock file at path (created when
// missing).
func NewFileLeaser(path string) *FileLeaser { return &FileLeaser{path: path} }

var _ store.Leaser = (*FileLeaser)(nil)

// Acquire blocks until this process holds the lock or ctx ends, polling
// every ttl/5, and at least every 250 ms: a lock file is cheap to try, and a
// master that stops cleanly is replaced at once.
func (l *FileLeaser) Acquire(ctx context.Context, node string, ttl time.Duration) (store.Lease, error) {
	poll := min(max(ttl/5, 20*time.Millisecond), 250*time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		f, err := tryLockFile(l.path)
		if err == nil {
			return l.take(f, node, ttl)
		}
		if !errors.Is(err, ErrLocked) {
			return nil, err
		}
		t.Reset(poll)
	}
}

// take raises the token in the locked file f and starts the lease's check.
func (l *FileLeaser) take(f *os.File, node string, ttl time.Duration) (store.Lease, error) {
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, 0)
	var token uint64
	for _, field := range strings.Fields(string(buf[:n])) {
		if v, ok := strings.CutPrefix(field, "token="); ok {
			token, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	token++
	rec := fmt.Sprintf("token=%d node=%s pid=%d\n", token, node, os.Getpid())
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: writing %s: %w", l.path, err)
	}
	if _, err := f.WriteAt([]byte(rec), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: writing %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: syncing %s: %w", l.path, err)
	}
	fl := &fileLease{path: l.path, f: f, token: token, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go fl.watch(max(ttl/3, 10*time.Millisecond))
	return fl, nil
}

// fileLease is a held FileLeaser lock.
type fileLease struct {
	path  string
	f     *os.File
	token uint64
	lost  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (fl *fileLease) Token() uint64         { return fl.token }
func (fl *fileLease) Lost() <-chan struct{} { return fl.lost }

// Release stops the check and unlocks the file.
func (fl *fileLease) Release(context.Context) error {
	fl.once.Do(func() { close(fl.stop) })
	<-fl.done
	return fl.f.Close()
}

// watch re-checks the lock every interval until Release.
func (fl *fileLease) watch(interval time.Duration) {
	defer close(fl.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-fl.stop:
			return
		case <-t.C:
		}
		if err := fl.check(); err != nil {
			close(fl.lost)
			return
		}
	}
}

// check confirms the lock is still held on the file the path names.
func (fl *fileLease) check() error {
	var held, named syscall.Stat_t
	conn, err := fl.f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := conn.Control(func(fd uintptr) {
		if cerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB); cerr == nil {
			cerr = syscall.Fstat(int(fd), &held)
		}
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if err := syscall.Stat(fl.path, &named); err != nil {
		return err
	}
	if held.Dev != named.Dev || held.Ino != named.Ino {
		return fmt.Errorf("disk: %s was replaced", fl.path)
	}
	return nil
}

// tryLockFile opens path and takes an exclusive flock without waiting;
// ErrLocked means another holder has it.
func tryLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	conn, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: %w", err)
	}
	var lerr error
	if err := conn.Control(func(fd uintptr) {
		lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
	}); err != nil {
		f.Close()
		return nil, fmt.Errorf("disk: %w", err)
	}
	if lerr != nil {
		f.Close()
		if errors.Is(lerr, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("disk: locking %s: %w", path, lerr)
	}
	return f, nil
}
