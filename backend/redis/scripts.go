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
//	m             hash     "<queue>\x00<id>" → message data
//	pos           zset     "<queue>\x00<id>", scored by log position
//	dlv           hash     "<queue>\x00<id>" → delivery count
//	qm:<queue>    set      the "<queue>\x00<id>" members of one queue
//	bytes         counter  bytes of data and definitions stored (store.redis.max_size)

// appendScript applies one Append batch atomically. KEYS[1] is the lease
// key (it routes the call to the group's slot). ARGV: prefix, fence value
// ("" for none), max size (0 for none), then four per record: op, queue,
// id, data-or-count. It returns the number of records, or an error
// "FENCED" or "FULL" having written nothing.
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
local function drop(mem, q)
  local old = redis.call('HGET', p .. 'm', mem)
  if old then
    redis.call('HDEL', p .. 'm', mem)
    redis.call('ZREM', p .. 'pos', mem)
    redis.call('HDEL', p .. 'dlv', mem)
    redis.call('SREM', p .. 'qm:' .. q, mem)
    redis.call('DECRBY', p .. 'bytes', #old)
  end
end
for i = 0, n - 1 do
  local b = 4 + i * 4
  local op, q, id, aux = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local mem = q .. '\0' .. id
  if op == '1' then
    drop(mem, q)
    redis.call('HSET', p .. 'm', mem, aux)
    redis.call('ZADD', p .. 'pos', redis.call('INCR', p .. 'seq'), mem)
    redis.call('SADD', p .. 'qm:' .. q, mem)
    redis.call('INCRBY', p .. 'bytes', #aux)
  elseif op == '2' then
    drop(mem, q)
  elseif op == '3' then
    if redis.call('HEXISTS', p .. 'm', mem) == 1 then
      redis.call('HSET', p .. 'dlv', mem, aux)
    end
  elseif op == '4' then
    local old = redis.call('HGET', p .. 'q', q)
    if old then
      redis.call('DECRBY', p .. 'bytes', #old)
    else
      redis.call('ZADD', p .. 'qpos', redis.call('INCR', p .. 'seq'), q)
    end
    redis.call('HSET', p .. 'q', q, aux)
    redis.call('INCRBY', p .. 'bytes', #aux)
  elseif op == '5' then
    local old = redis.call('HGET', p .. 'q', q)
    if old then
      redis.call('DECRBY', p .. 'bytes', #old)
      redis.call('HDEL', p .. 'q', q)
      redis.call('ZREM', p .. 'qpos', q)
    end
    for _, mem in ipairs(redis.call('SMEMBERS', p .. 'qm:' .. q)) do
      drop(mem, q)
    end
    redis.call('DEL', p .. 'qm:' .. q)
  end
end
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
