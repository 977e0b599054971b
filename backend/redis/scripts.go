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
//	dlv           hash     "<queue>\x00<id>" → delivery count
//	bytes         counter  bytes of data and definitions stored (store.redis.max_size)

// appendScript applies one Append batch atomically. KEYS[1] is the lease
// key (it routes the call to the group's slot). ARGV: prefix, fence value
// ("" for none), max size (0 for none), then four per record: op, queue,
// id, data-or-count. It returns the number of records, or an error
// "FENCED" or "FULL" having written nothing.
//
// Message records are folded into their net effect first and written with
// one variadic command per key (HSET per queue, one ZADD, one HDEL...), so
// a batch of a thousand records costs a handful of commands, not thousands.
// Queue records flush what was folded before them and apply directly.
var appendScript = goredis.NewScript(`
local p, fence, maxsize = ARGV[1], ARGV[2], tonumber(ARGV[3])
if fence ~= '' and redis.call('GET', KEYS[1]) ~= fence then
  return redis.error_reply('FENCED')
end
local n = (#ARGV - 3) / 4
if maxsize > 0 then
  local add = 0
  for i = 0, n - 1 do
    local b = 4 + i * 4
    if ARGV[b] == '1' or ARGV[b] == '4' then add = add + #ARGV[b + 3] end
  end
  if add > 0 and tonumber(redis.call('GET', p .. 'bytes') or '0') + add > maxsize then
    return redis.error_reply('FULL')
  end
end

local CHUNK = 500
local function each_chunk(list, step, fn)
  local i = 1
  while i <= #list do
    local j = math.min(i + CHUNK * step - 1, #list)
    fn(unpack(list, i, j))
    i = j + 1
  end
end

local st, touched, enq, delta = {}, {}, {}, 0
local function entry(q, id)
  local mem = q .. '\0' .. id
  local e = st[mem]
  if not e then
    e = {q = q, id = id, mem = mem}
    st[mem] = e
    touched[#touched + 1] = e
  end
  return e
end

local function flush()
  if #touched == 0 then return end
  local hset, hdel, zadd, zrem, dset, ddel = {}, {}, {}, {}, {}, {}
  for _, e in ipairs(touched) do
    if e.data ~= nil then
      local old = redis.call('HSTRLEN', p .. 'm:' .. e.q, e.id)
      if e.data == false then
        if old > 0 or redis.call('HEXISTS', p .. 'm:' .. e.q, e.id) == 1 then
          hdel[e.q] = hdel[e.q] or {}
          table.insert(hdel[e.q], e.id)
          zrem[#zrem + 1] = e.mem
          delta = delta - old
        end
      else
        hset[e.q] = hset[e.q] or {}
        table.insert(hset[e.q], e.id)
        table.insert(hset[e.q], e.data)
        delta = delta + #e.data - old
      end
    end
    if e.dlv == false then
      ddel[#ddel + 1] = e.mem
    elseif e.dlv ~= nil then
      dset[#dset + 1] = e.mem
      dset[#dset + 1] = e.dlv
    end
  end
  if #enq > 0 then
    local base = redis.call('INCRBY', p .. 'seq', #enq) - #enq
    for i, e in ipairs(enq) do
      if e.data then
        zadd[#zadd + 1] = base + i
        zadd[#zadd + 1] = e.mem
      end
    end
  end
  for q, list in pairs(hdel) do each_chunk(list, 1, function(...) redis.call('HDEL', p .. 'm:' .. q, ...) end) end
  for q, list in pairs(hset) do each_chunk(list, 2, function(...) redis.call('HSET', p .. 'm:' .. q, ...) end) end
  each_chunk(zrem, 1, function(...) redis.call('ZREM', p .. 'pos', ...) end)
  each_chunk(zadd, 2, function(...) redis.call('ZADD', p .. 'pos', ...) end)
  each_chunk(ddel, 1, function(...) redis.call('HDEL', p .. 'dlv', ...) end)
  each_chunk(dset, 2, function(...) redis.call('HSET', p .. 'dlv', ...) end)
  st, touched, enq = {}, {}, {}
end

for i = 0, n - 1 do
  local b = 4 + i * 4
  local op, q, id, aux = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  if op == '1' then
    local e = entry(q, id)
    e.data, e.dlv = aux, false
    enq[#enq + 1] = e
  elseif op == '2' then
    local e = entry(q, id)
    e.data, e.dlv = false, false
  elseif op == '3' then
    -- A delivery count for a message that is gone is never read: recovery
    -- reads counts of live messages only, and an enqueue clears the count.
    local e = entry(q, id)
    if e.data ~= false then e.dlv = aux end
  elseif op == '4' then
    flush()
    local old = redis.call('HGET', p .. 'q', q)
    if old then
      delta = delta - #old
    else
      redis.call('ZADD', p .. 'qpos', redis.call('INCR', p .. 'seq'), q)
    end
    redis.call('HSET', p .. 'q', q, aux)
    delta = delta + #aux
  elseif op == '5' then
    flush()
    local old = redis.call('HGET', p .. 'q', q)
    if old then
      delta = delta - #old
      redis.call('HDEL', p .. 'q', q)
      redis.call('ZREM', p .. 'qpos', q)
    end
    local ids = redis.call('HKEYS', p .. 'm:' .. q)
    for _, mid in ipairs(ids) do
      delta = delta - redis.call('HSTRLEN', p .. 'm:' .. q, mid)
      redis.call('ZREM', p .. 'pos', q .. '\0' .. mid)
      redis.call('HDEL', p .. 'dlv', q .. '\0' .. mid)
    end
    redis.call('DEL', p .. 'm:' .. q)
  end
end
flush()
if delta ~= 0 then redis.call('INCRBY', p .. 'bytes', delta) end
return n
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
