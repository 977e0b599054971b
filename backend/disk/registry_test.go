package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/backend/store"
	"github.com/mqgate/mqgate/backend/store/storetest"
)

// TestFileRegistry runs the Registry conformance suite on two
// FileRegistry values on one directory (two brokers on a shared
// node.data_dir).
func TestFileRegistry(t *testing.T) {
	storetest.RunRegistry(t, func(t *testing.T) (store.Registry, store.Registry) {
		dir := filepath.Join(t.TempDir(), "members")
		return NewFileRegistry(dir), NewFileRegistry(dir)
	})
}

// TestFileRegistryFiles: one file per node, named safely, no temporary
// file left; broken and long-expired files are skipped and cleaned up.
func TestFileRegistryFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "members")
	r := NewFileRegistry(dir)
	if ms, err := r.Members(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("Members before the directory exists: %v %v", ms, err)
	}
	for _, node := range []string{"a", "../b", "c"} {
		if err := r.Register(ctx, node, []string{"stomp://" + strings.Trim(node, "./") + ":1"}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if got := strings.Join(names(), " "); got != "..%2Fb.member a.member c.member" {
		t.Fatalf("files %q", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "b.member")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a node id escaped the directory: %v", err)
	}

	// A torn or foreign file, a stale temporary file, a long-expired entry.
	old := time.Now().Add(-2 * staleAfter)
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	write("junk.member", "not a member file")
	write(".a.1234.tmp", memberMagic+"\n")
	write("gone.member", memberMagic+"\nnode gone\nexpires 1000\nuri stomp://gone:1\n")
	ms, err := r.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, m := range ms {
		nodes = append(nodes, m.Node)
	}
	if got := strings.Join(nodes, " "); got != "../b a c" {
		t.Fatalf("members %q", got)
	}
	if got := strings.Join(names(), " "); got != "..%2Fb.member a.member c.member" {
		t.Fatalf("files after Members %q: stale ones not removed", got)
	}
	if err := r.Register(ctx, "a", []string{"bad uri"}, time.Minute); !errors.Is(err, errBadMember) {
		t.Fatalf("Register with a bad URI: %v", err)
	}
}
