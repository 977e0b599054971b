package redis

import goredis "github.com/redis/go-redis/v9"

// Every key of a group starts with the prefix "{mqgate:<group>}:", whose
// hash tag keeps them in one Redis Cluster slot. See docs/redis-store.md.
//
//	lease         string   "<node> <token>": the master lease, with expiry
//	token         counter  the fencing token, raised on every take-over
//	seq           counter  log positions
//	q             hash     queue name → definition
//	qpos          zset     queue name, scored by creation position
//	m:<queue>     hash     message id → message data
//	pos           zset     "<queue>\x00<id>", scored by log position
//	meta          hash     "<queue>\x00<id>" → "<data length>[,<delivery count>]"
//	bytes         counter  bytes of data and definitions stored (store.redis.max_size)
//	applied       string   "<store instance> <call seq> <results>": the last append call that wrote
//
// A message is stored when its meta field is: the meta hash is read (one
// HMGET per step) instead of the data to learn which messages are stored
// and how big they are.

// appendScript applies a group of Append batches, each atomically and in
// order. KEYS: lease (it routes the call to the group's slot), applied.
// ARGV: prefix, fence (the lease value this store holds, "" for none),
// max size (0 for none), store instance, call seq, batch count, then per
// batch: its argument count, its growth (bytes its enqueues and queue
// creations carry, -1 for none), and its steps (encode.go):
//
//	"M" message step: see batch.messages
//	"C", queue, definition
//	"D", queue
//
// It returns one character per batch, "." applied or "F" refused as past
// the max size (having written nothing of it), or the error FENCED or
// STALE having written nothing at all.
//
// Idempotence: go-redis resends a command whose reply was lost (and a
// packet held by a broken network may reach Redis after its sender gave
// up), so every call carries the writer's instance and an increasing seq,
// and a call that wrote stores them with its results in applied. A call
// whose seq is the stored one is a resend: it returns the stored results;
// an older one is stale and writes nothing. The writer has one call in
// flight at a time, so only the last call can be resent.
//
// Writes that grow the data come first in each step, so that a Redis at
// maxmemory refuses a growing call at its first write (an OOM error,
// nothing written) while a call of acks still goes through: Redis checks
// maxmemory only before a script's first write.
var appendScript = goredis.NewScript(`
local p, fence, maxsize, inst, seq = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local last = redis.call('GET', KEYS[2])
if last then
  local li, lseq, lr = string.match(last, '^(%S+) (%d+) (.*)$')
  if li == inst then
    local ls = tonumber(lseq)
    if ls == seq then return lr end
    if ls > seq then return redis.error_reply('STALE append call ' .. ARGV[5] .. ' after ' .. lseq) end
  end
end
if fence ~= '' and redis.call('GET', KEYS[1]) ~= fence then
  return redis.error_reply('FENCED the master lease is not held by this store')
end

local K_SEQ, K_BYTES, K_META, K_POS = p .. 'seq', p .. 'bytes', p .. 'meta', p .. 'pos'
local K_Q, K_QPOS = p .. 'q', p .. 'qpos'
local CHUNK = 1000 -- arguments per variadic command; even, for pairs
local wrote = false

-- range runs cmd on key with ARGV[i..j], in chunks.
local function range(cmd, key, i, j)
  if i > j then return end
  wrote = true
  while i <= j do
    local e = math.min(i + CHUNK - 1, j)
    redis.call(cmd, key, unpack(ARGV, i, e))
    i = e + 1
  end
end

-- list runs cmd on key with the values of t, in chunks.
local function list(cmd, key, t)
  local n = #t
  if n == 0 then return end
  wrote = true
  local i = 1
  while i <= n do
    local e = math.min(i + CHUNK - 1, n)
    redis.call(cmd, key, unpack(t, i, e))
    i = e + 1
  end
end

-- hmget returns HMGET key over the values of t (or of ARGV[i..j] when t is
-- nil), false where a field is missing.
local function hmget(key, t, i, j)
  local out, n = {}, 0
  while i <= j do
    local e = math.min(i + CHUNK - 1, j)
    local r = redis.call('HMGET', key, unpack(t or ARGV, i, e))
    for x = 1, #r do out[n + x] = r[x] end
    n = n + #r
    i = e + 1
  end
  return out
end

-- size is the data length of a meta value "<len>[,<count>]".
local function size(v)
  local c = string.find(v, ',', 1, true)
  if c then return tonumber(string.sub(v, 1, c - 1)) end
  return tonumber(v)
end

local bytes = tonumber(redis.call('GET', K_BYTES) or '0')
local start_bytes = bytes

-- messages applies the message step at ARGV[k] (batch.messages) and
-- returns the index after it.
local function messages(k)
  local nrem, nset, nmark, nq = tonumber(ARGV[k + 1]), tonumber(ARGV[k + 2]), tonumber(ARGV[k + 3]), tonumber(ARGV[k + 4])
  local m0 = k + 6                   -- members: removed, set, marked
  local s0 = m0 + nrem               -- the set members
  local v0 = m0 + nrem + nset + nmark -- meta values of the set members
  local c0 = v0 + nset               -- counts of the marked members
  local q0 = c0 + nmark              -- per queue groups
  local olds = hmget(K_META, nil, m0, v0 - 1)

  -- Set: data per queue, then log positions and meta values.
  if nset > 0 then
    local g = q0
    for _ = 1, nq do
      local nd, ns = tonumber(ARGV[g + 1]), tonumber(ARGV[g + 2])
      local h0 = g + 3 + nd
      range('HSET', p .. 'm:' .. ARGV[g], h0, h0 + 2 * ns - 1)
      g = h0 + 2 * ns
    end
    local base = redis.call('INCRBY', K_SEQ, nset) - nset
    local z, mv = {}, {}
    for i = 1, nset do
      local mem = ARGV[s0 + i - 1]
      z[2 * i - 1], z[2 * i] = base + i, mem
      mv[2 * i - 1], mv[2 * i] = mem, ARGV[v0 + i - 1]
      local o = olds[nrem + i]
      if o then bytes = bytes - size(o) end
    end
    bytes = bytes + tonumber(ARGV[k + 5])
    list('ZADD', K_POS, z)
    list('HSET', K_META, mv)
  end

  -- Remove.
  if nrem > 0 then
    for i = 1, nrem do
      local o = olds[i]
      if o then bytes = bytes - size(o) end
    end
    local g = q0
    for _ = 1, nq do
      local nd, ns = tonumber(ARGV[g + 1]), tonumber(ARGV[g + 2])
      range('HDEL', p .. 'm:' .. ARGV[g], g + 3, g + 2 + nd)
      g = g + 3 + nd + 2 * ns
    end
    range('ZREM', K_POS, m0, s0 - 1)
    range('HDEL', K_META, m0, s0 - 1)
  end

  -- Mark: a delivery count for a message still stored.
  if nmark > 0 then
    local mv = {}
    for i = 1, nmark do
      local o = olds[nrem + nset + i]
      if o then
        mv[#mv + 1] = ARGV[s0 + nset + i - 1]
        mv[#mv + 1] = size(o) .. ',' .. ARGV[c0 + i - 1]
      end
    end
    list('HSET', K_META, mv)
  end

  local g = q0
  for _ = 1, nq do
    g = g + 3 + tonumber(ARGV[g + 1]) + 2 * tonumber(ARGV[g + 2])
  end
  return g
end

local function create(q, def)
  wrote = true
  local old = redis.call('HGET', K_Q, q)
  if old then
    bytes = bytes - #old
  else
    redis.call('ZADD', K_QPOS, redis.call('INCR', K_SEQ), q)
  end
  redis.call('HSET', K_Q, q, def)
  bytes = bytes + #def
end

local function delete(q)
  local old = redis.call('HGET', K_Q, q)
  if old then
    wrote = true
    bytes = bytes - #old
    redis.call('HDEL', K_Q, q)
    redis.call('ZREM', K_QPOS, q)
  end
  local key = p .. 'm:' .. q
  local ids = redis.call('HKEYS', key)
  if #ids == 0 then return end
  local mems = {}
  for i, id in ipairs(ids) do mems[i] = q .. '\0' .. id end
  local olds = hmget(K_META, mems, 1, #mems)
  for i = 1, #olds do
    if olds[i] then bytes = bytes - size(olds[i]) end
  end
  list('ZREM', K_POS, mems)
  list('HDEL', K_META, mems)
  redis.call('DEL', key)
end

local out = {}
local k = 7
for b = 1, tonumber(ARGV[6]) do
  local stop, grows = k + 2 + tonumber(ARGV[k]), tonumber(ARGV[k + 1])
  if grows >= 0 and maxsize > 0 and bytes + grows > maxsize then
    out[b] = 'F'
  else
    local j = k + 2
    while j < stop do
      local op = ARGV[j]
      if op == 'M' then
        j = messages(j)
      elseif op == 'C' then
        create(ARGV[j + 1], ARGV[j + 2])
        j = j + 3
      else
        delete(ARGV[j + 1])
        j = j + 2
      end
    end
    out[b] = '.'
  end
  k = stop
end
if bytes ~= start_bytes then redis.call('INCRBY', K_BYTES, bytes - start_bytes) end
local res = table.concat(out)
if wrote then redis.call('SET', KEYS[2], inst .. ' ' .. ARGV[5] .. ' ' .. res) end
return res
`)

// acquireScript takes the lease if nobody holds it. KEYS: lease, token.
// ARGV: node, ttl in ms. It returns the lease value "<node> <token>", or
// false when the lease is held.
var acquireScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local v = ARGV[1] .. ' ' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v
`)

// renewScript extends the lease if it is still ours. KEYS: lease. ARGV:
// our value, ttl in ms. Returns 1, or 0 when the lease is gone or another's.
var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript deletes the lease if it is still ours. KEYS: lease. ARGV:
// our value.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
