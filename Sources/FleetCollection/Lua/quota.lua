-- Breakwater shared rate limit (SPEC §8): `requests` tokens per `per_seconds` for a group of
-- collectors (one API key -> one group), shared by every instance, by Redis server time.
--
-- A token taken at time t comes back to the bucket at t + per_ms + guard_ms. The bucket is a
-- ring of `requests` slots holding the time each token was last taken; the slot at `next`
-- holds the oldest one. So at most `requests` tokens are granted in any window of per_ms,
-- whatever the burst (a refill-rate bucket would allow twice that across a window edge).
-- guard_ms covers the spread between a grant and the request reaching the upstream.
--
-- KEYS[1] = cb_quota:<group>   (a hash: requests, per_ms, kind, next, t0 .. t<requests-1>)
-- ARGV[1] = op: take | peek
-- ARGV[2] = requests, ARGV[3] = per ms, ARGV[4] = guard ms, ARGV[5] = collector kind,
-- ARGV[6] = instance
-- take -> {result, wait_ms, tokens_left, repaired, now_ms}
--   result: granted | wait (no token; try again in wait_ms) | conflict (the group is used by
--   collectors of another kind: wait_ms is 0 and tokens_left names the stored kind)
-- peek -> {tokens_left, requests, per_ms, kind} ({0, 0, 0, ''} for a group never used)
local key, op = KEYS[1], ARGV[1]
local requests = math.max(1, math.floor(tonumber(ARGV[2]) or 1))
local perMs = math.max(1, math.floor(tonumber(ARGV[3]) or 1000))
local guardMs = math.max(0, math.floor(tonumber(ARGV[4]) or 0))
local kindArg, instance = ARGV[5] or '', ARGV[6] or ''
local MAX_INT = 9007199254740992

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function strictInt(raw)
  if type(raw) ~= 'string' or string.len(raw) > 17 or not string.match(raw, '^%-?%d+$') then return nil end
  local n = tonumber(raw)
  if n == nil or n > MAX_INT or n < -MAX_INT then return nil end
  return n
end

local repaired = {}
local ktype = redis.call('TYPE', key)
if type(ktype) == 'table' then ktype = ktype.ok end
if ktype ~= 'hash' and ktype ~= 'none' then
  redis.call('DEL', key)
  table.insert(repaired, 'key held a ' .. ktype .. '; replaced by a fresh hash')
end

local storedKind = redis.call('HGET', key, 'kind')
if op == 'take' and storedKind and storedKind ~= '' and storedKind ~= kindArg then
  return {'conflict', 0, storedKind, table.concat(repaired, '; '), now}
end

-- A different size or period (a config change) starts a fresh ring: the old grant times are
-- kept as the new ring's first slots, so a resize never grants a burst.
local storedRequests = strictInt(redis.call('HGET', key, 'requests') or '')
local storedPer = strictInt(redis.call('HGET', key, 'per_ms') or '')
if op == 'take' and (storedRequests ~= requests or storedPer ~= perMs) then
  local latest = 0
  if storedRequests ~= nil and storedRequests > 0 and storedRequests <= 100000 then
    for i = 0, storedRequests - 1 do
      local v = strictInt(redis.call('HGET', key, 't' .. i) or '')
      if v ~= nil and v > latest and v <= now then latest = v end
      redis.call('HDEL', key, 't' .. i)
    end
  end
  if storedRequests ~= nil then
    table.insert(repaired, 'rate limit changed from ' .. tostring(storedRequests) .. '/' .. tostring(storedPer)
      .. ' ms to ' .. requests .. '/' .. perMs .. ' ms; ring restarted')
  end
  -- Until the newest old grant has aged out, treat every slot as taken at that time.
  for i = 0, requests - 1 do
    if latest > 0 then redis.call('HSET', key, 't' .. i, latest) end
  end
  redis.call('HSET', key, 'requests', requests, 'per_ms', perMs, 'next', 0)
end

-- The time slot i's token was taken; garbage or a future time counts as "just now" (the
-- cautious reading: never grant a token whose history is unknown).
local function slot(i)
  local raw = redis.call('HGET', key, 't' .. i)
  if not raw then return 0 end
  local v = strictInt(raw)
  if v == nil or v < 0 or v > now then
    redis.call('HSET', key, 't' .. i, now)
    table.insert(repaired, 't' .. i .. '=' .. string.sub(raw, 1, 32) .. ' is invalid; treated as taken now')
    return now
  end
  return v
end

local function tokensLeft(n, per)
  local left = 0
  for i = 0, n - 1 do
    if slot(i) + per + guardMs <= now then left = left + 1 end
  end
  return left
end

if op == 'peek' then
  if storedRequests == nil or storedPer == nil or storedRequests < 1 or storedRequests > 100000 then return {0, 0, 0, ''} end
  guardMs = strictInt(redis.call('HGET', key, 'guard_ms') or '') or 0
  return {tokensLeft(storedRequests, storedPer), storedRequests, storedPer, storedKind or ''}
end

local nextRaw = redis.call('HGET', key, 'next')
local nextIndex = strictInt(nextRaw or '0')
if nextIndex == nil or nextIndex < 0 or nextIndex >= requests then
  table.insert(repaired, 'next=' .. string.sub(tostring(nextRaw), 1, 32) .. ' is invalid; reset to 0')
  nextIndex = 0
end
local oldest = slot(nextIndex)
local ready = oldest + perMs + guardMs
redis.call('HSET', key, 'kind', kindArg, 'guard_ms', guardMs)
redis.call('PEXPIRE', key, math.max(86400000, 2 * (perMs + guardMs)))
if oldest > 0 and ready > now then
  return {'wait', ready - now, 0, table.concat(repaired, '; '), now}
end
redis.call('HSET', key, 't' .. nextIndex, now, 'next', (nextIndex + 1) % requests,
  'last_taken_by', instance, 'last_taken_ms', now)
return {'granted', 0, 0, table.concat(repaired, '; '), now}
