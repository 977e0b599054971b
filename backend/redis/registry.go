package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqgate/mqgate/backend/store"
)

// The members hash of a group ("{mqgate:<group>}:members", in the group's
// hash tag, so it lives in the group's Redis Cluster slot): node id →
// "<expiry in ms, Redis clock> <uri> <uri>...". Expiry is computed from
// Redis's TIME inside the scripts, so the nodes' clocks need not agree.
// The hash itself expires with its longest-lived entry, so a group that
// is gone leaves nothing behind.

// registerScript records one member and drops expired ones.
// KEYS: members. ARGV: node, ttl in ms, the URIs joined by spaces.
var registerScript = goredis.NewScript(`
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], tostring(now + ttl) .. ' ' .. ARGV[3])
local longest = ttl
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^%d+'))
  if exp == nil or exp <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif exp - now > longest then
    longest = exp - now
  end
end
redis.call('PEXPIRE', KEYS[1], longest)
return now
`)

// membersScript returns Redis's time in ms, then the members hash as
// field, value pairs. KEYS: members.
var membersScript = goredis.NewScript(`
local t = redis.call('TIME')
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
return out
`)

var _ store.Registry = (*Store)(nil)

// errBadURI is returned by Register for a URI the members hash cannot
// hold.
var errBadURI = errors.New("redis: a member URI is empty or contains white space")

// membersKey is the group's members hash.
func (s *Store) membersKey() string { return s.prefix + "members" }

// Register records node's client URIs in the group's members hash until
// ttl from now on Redis's clock, and drops the entries that have expired.
// Safe for concurrent use; it makes one script call.
func (s *Store) Register(ctx context.Context, node string, uris []string, ttl time.Duration) error {
	for _, u := range uris {
		if u == "" || strings.ContainsAny(u, " \t\r\n") {
			return fmt.Errorf("%w: %q", errBadURI, u)
		}
	}
	ms := max(ttl.Milliseconds(), 1)
	err := registerScript.Run(ctx, s.client, []string{s.membersKey()}, node, strconv.FormatInt(ms, 10), strings.Join(uris, " ")).Err()
	if err != nil {
		return fmt.Errorf("redis: registering member %s: %w", node, err)
	}
	return nil
}

// Deregister removes node's entry from the members hash.
func (s *Store) Deregister(ctx context.Context, node string) error {
	if err := s.client.HDel(ctx, s.membersKey(), node).Err(); err != nil {
		return fmt.Errorf("redis: deregistering member %s: %w", node, err)
	}
	return nil
}

// Members returns the group's members whose entries have not expired, by
// node id; Expires is on Redis's clock. It makes one read-only script
// call.
func (s *Store) Members(ctx context.Context) ([]store.Member, error) {
	v, err := membersScript.Run(ctx, s.client, []string{s.membersKey()}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: reading the members: %w", err)
	}
	if len(v) == 0 {
		return nil, errors.New("redis: reading the members: empty reply")
	}
	now, err := strconv.ParseInt(v[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redis: reading the members: time %q: %w", v[0], err)
	}
	var out []store.Member
	for i := 1; i+1 < len(v); i += 2 {
		m, ok := parseMember(v[i], v[i+1])
		if ok && m.Expires.UnixMilli() > now {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b store.Member) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// parseMember decodes one field of the members hash; ok is false for a
// malformed one, which is skipped.
func parseMember(node, value string) (m store.Member, ok bool) {
	f := strings.Fields(value)
	if len(f) == 0 {
		return m, false
	}
	exp, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return m, false
	}
	return store.Member{Node: node, URIs: f[1:], Expires: time.UnixMilli(exp)}, true
}
