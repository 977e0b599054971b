package disk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/backend/store"
)

// FileRegistry keeps the members of a master/slave group that shares a
// directory (the companion of FileLeaser): one small file per node,
// "<node>.member" in Dir (node.data_dir/members), replaced atomically by a
// rename, so a reader sees the old entry or the new one, never half of
// one. A file holds
//
//	mqgate-member 1
//	node <node id>
//	expires <unix ms>
//	uri <uri>
//	...
//
// Expiry is on the writer's clock: the hosts of a shared directory must
// keep their clocks close (NTP), within a small part of the ttl.
// Entries long expired (staleAfter) and temporary files left by a crash
// are removed by Members.
type FileRegistry struct {
	dir string
}

// NewFileRegistry returns a FileRegistry on dir, created at the first
// Register.
func NewFileRegistry(dir string) *FileRegistry { return &FileRegistry{dir: dir} }

var _ store.Registry = (*FileRegistry)(nil)

const (
	memberSuffix = ".member"
	memberMagic  = "mqgate-member 1"
	// staleAfter is how long after its expiry Members removes a member's
	// file (and how old a temporary file it removes). Far longer than any
	// ttl, so it never races a live node's next Register.
	staleAfter = time.Hour
)

// errBadMember is returned by Register for a URI a member file cannot
// hold.
var errBadMember = errors.New("disk: a member URI is empty or contains white space")

// memberFile is the file of node in r's directory; the name escapes every
// character a path could misread.
func (r *FileRegistry) memberFile(node string) string {
	return filepath.Join(r.dir, url.PathEscape(node)+memberSuffix)
}

// Register writes node's entry, expiring ttl from now, to a temporary
// file and renames it over the previous one. It does not fsync: an entry
// lost in a crash is written again at the next Register.
func (r *FileRegistry) Register(ctx context.Context, node string, uris []string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nnode %s\nexpires %d\n", memberMagic, url.PathEscape(node), time.Now().Add(ttl).UnixMilli())
	for _, u := range uris {
		if u == "" || strings.ContainsAny(u, " \t\r\n") {
			return fmt.Errorf("%w: %q", errBadMember, u)
		}
		fmt.Fprintf(&b, "uri %s\n", u)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("disk: registering member %s: %w", node, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(r.dir, "."+url.PathEscape(node)+"."+hex.EncodeToString(rnd[:])+".tmp")
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("disk: registering member %s: %w", node, err)
	}
	if err := os.Rename(tmp, r.memberFile(node)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("disk: registering member %s: %w", node, err)
	}
	return nil
}

// Deregister removes node's file, if any.
func (r *FileRegistry) Deregister(ctx context.Context, node string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(r.memberFile(node)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("disk: deregistering member %s: %w", node, err)
	}
	return nil
}

// Members reads every member file and returns the entries that have not
// expired, by node id. A file that does not parse is skipped (and
// removed once older than staleAfter); a missing directory has no
// members.
func (r *FileRegistry) Members(ctx context.Context) ([]store.Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disk: reading the members: %w", err)
	}
	now := time.Now()
	var out []store.Member
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(r.dir, name)
		if strings.HasSuffix(name, ".tmp") {
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
				_ = os.Remove(path)
			}
			continue
		}
		if !strings.HasSuffix(name, memberSuffix) || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deregistered meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("disk: reading the members: %w", err)
		}
		m, ok := parseMemberFile(data)
		if !ok {
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleAfter {
				_ = os.Remove(path)
			}
			continue
		}
		if !m.Expires.After(now) {
			if now.Sub(m.Expires) > staleAfter {
				_ = os.Remove(path)
			}
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b store.Member) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// parseMemberFile decodes a member file; ok is false when it is not one.
func parseMemberFile(data []byte) (m store.Member, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() || sc.Text() != memberMagic {
		return m, false
	}
	var haveNode, haveExp bool
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "node":
			n, err := url.PathUnescape(val)
			if err != nil {
				return m, false
			}
			m.Node, haveNode = n, true
		case "expires":
			ms, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return m, false
			}
			m.Expires, haveExp = time.UnixMilli(ms), true
		case "uri":
			if val != "" {
				m.URIs = append(m.URIs, val)
			}
		}
	}
	return m, haveNode && haveExp && sc.Err() == nil
}
