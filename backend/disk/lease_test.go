//go:build unix

package disk

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileLeaserExclusiveAndToken(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.lock")
	ctx := context.Background()
	a, err := NewFileLeaser(path).Acquire(ctx, "a", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Token() != 1 {
		t.Fatalf("first token = %d, want 1", a.Token())
	}

	// b waits while a holds the lock.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := NewFileLeaser(path).Acquire(short, "b", time.Second); err != context.DeadlineExceeded {
		t.Fatalf("second Acquire while held = %v, want deadline exceeded", err)
	}

	got := make(chan error, 1)
	var tokenB uint64
	go func() {
		b, err := NewFileLeaser(path).Acquire(ctx, "b", 100*time.Millisecond)
		if err == nil {
			tokenB = b.Token()
			err = b.Release(ctx)
		}
		got <- err
	}()
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if tokenB != 2 {
		t.Fatalf("token after take-over = %d, want 2", tokenB)
	}
	data, _ := os.ReadFile(path)
	if want := "token=2 node=b"; string(data[:len(want)]) != want {
		t.Fatalf("lock file = %q", data)
	}
}

func TestFileLeaseLostWhenReplaced(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.lock")
	l, err := NewFileLeaser(path).Acquire(context.Background(), "a", 60*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.Background())
	select {
	case <-l.Lost():
		t.Fatal("lease lost while held")
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("lease not lost after its file was removed")
	}
}
