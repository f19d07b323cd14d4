-- Breakwater shared rate limit (docs/semantics.md, fleet polling): `requests` tokens per `per_seconds` for a group of
-- collectors (one API key -> one group), shared by every instance, by Redis server time.
--
-- The bucket is a ring of `requests` slots; slot i holds when its token may next be reused
-- (t<i>, minus the period) and when it was granted (g<i>). A grant writes t = now + hold_ms
-- (the request's timeout: the latest it can reach the upstream); `release`, sent when the
-- request has completed, lowers t to the completion time. A token returns per_ms + guard_ms
-- after t. The slot at `next` holds the oldest grant, so a grant reuses the slot of the grant
-- `requests` grants earlier, and only after that request has reached the upstream plus a
-- full period: at most `requests` requests arrive in any window of per_ms, whatever the
-- delays in between (a refill-rate bucket would allow twice that across a window edge).
-- A holder killed mid-request leaves t at its timeout: the token still returns.
--
-- KEYS[1] = cb_quota:<group>   (a hash: requests, per_ms, guard_ms, kind, next, t<i>, g<i>)
-- ARGV[1] = op: take | release | peek
-- ARGV[2] = requests, ARGV[3] = per ms, ARGV[4] = guard ms, ARGV[5] = collector kind,
-- ARGV[6] = instance, ARGV[7] = hold ms (take) or slot index (release), ARGV[8] = grant ms (release)
-- take -> {result, wait_ms, slot, repaired, now_ms}
--   result: granted (slot = the ring slot, now_ms = the grant time; pass both to release) |
--   wait (no token; try again in wait_ms) | conflict (the group is used by collectors of
--   another kind: slot names the stored kind)
-- release -> {released (1 or 0: the slot was already reused or repaired), now_ms}
-- peek -> {tokens_left, requests, per_ms, kind} ({0, 0, 0, ''} for a group never used)
local key, op = KEYS[1], ARGV[1]
local MAX_HOLD_MS = DAY_MS
local MAX_REQUESTS = 10000 -- the ring is read slot by slot: its size bounds the work of a call

if op ~= 'take' and op ~= 'release' and op ~= 'peek' then return argError('unknown op', op) end
local requests, perMs, guardMs = strictInt(ARGV[2] or ''), strictInt(ARGV[3] or ''), strictInt(ARGV[4] or '')
if op == 'take' then
  if requests == nil or requests < 1 or requests > MAX_REQUESTS then return argError('requests must be 1..' .. MAX_REQUESTS, ARGV[2]) end
  if perMs == nil or perMs < 1 or perMs > MAX_HOLD_MS then return argError('per ms must be 1..' .. MAX_HOLD_MS, ARGV[3]) end
  if guardMs == nil or guardMs < 0 or guardMs > MAX_HOLD_MS then return argError('guard ms must be 0..' .. MAX_HOLD_MS, ARGV[4]) end
  local hold = strictInt(ARGV[7] or '')
  if hold == nil or hold < 0 then return argError('hold ms must be a non-negative integer', ARGV[7]) end
end
requests, perMs, guardMs = requests or 1, perMs or 1000, guardMs or 0
local kindArg, instance = ARGV[5] or '', ARGV[6] or ''
if string.len(kindArg) > 64 then return argError('kind longer than 64 bytes', kindArg) end
if op == 'take' and not validInstance(instance) then return argError(INSTANCE_ID_RULE, instance) end
if op ~= 'take' and string.len(instance) > INSTANCE_ID_MAX then return argError(INSTANCE_ID_RULE, instance) end

local repaired = {}
replaceWrongType(key, 'hash', 'key', repaired)

local storedKind = redis.call('HGET', key, 'kind')
if op == 'take' and storedKind and storedKind ~= '' and storedKind ~= kindArg then
  return {'conflict', 0, storedKind, table.concat(repaired, '; '), now}
end

-- A different size or period (a config change) starts a fresh ring: the old grant times are
-- kept as the new ring's first slots, so a resize never grants a burst.
local storedRequests = strictInt(redis.call('HGET', key, 'requests') or '')
local storedPer = strictInt(redis.call('HGET', key, 'per_ms') or '')
-- Slots are read in batches: a ring of MAX_REQUESTS slots costs a few commands, not ten
-- thousand (every call stays well inside Redis's latency budget).
local BATCH = 500
local function ringValues(n)
  local values = {}
  for first = 0, n - 1, BATCH do
    local names = {}
    for i = first, math.min(n - 1, first + BATCH - 1) do table.insert(names, 't' .. i) end
    local got = redis.call('HMGET', key, unpack(names))
    for j = 1, #names do values[first + j - 1] = got[j] end
  end
  return values
end

local META = {'kind', 'guard_ms', 'paused_until_ms', 'paused_by', 'paused_source', 'last_taken_by', 'last_taken_ms'}
if op == 'take' and (storedRequests ~= requests or storedPer ~= perMs) then
  local latest = 0
  if storedRequests ~= nil and storedRequests > 0 and storedRequests <= MAX_REQUESTS then
    local old = ringValues(storedRequests)
    for i = 0, storedRequests - 1 do
      local v = strictInt(old[i] or '')
      if v ~= nil and v > latest and v <= now + MAX_HOLD_MS then latest = v end
    end
  end
  local floor = strictInt(redis.call('HGET', key, 'floor_ms') or '')
  if floor ~= nil and floor > latest and floor <= now + MAX_HOLD_MS then latest = floor end
  if storedRequests ~= nil then
    table.insert(repaired, 'rate limit changed from ' .. tostring(storedRequests) .. '/' .. tostring(storedPer)
      .. ' ms to ' .. requests .. '/' .. perMs .. ' ms; ring restarted')
  end
  -- A fresh ring in O(1): the key is rewritten with its metadata, and every slot not yet
  -- written counts as taken at the newest old grant (floor_ms) until it has aged out.
  local kept = {}
  local metaValues = redis.call('HMGET', key, unpack(META))
  for i, field in ipairs(META) do
    if metaValues[i] then table.insert(kept, field); table.insert(kept, metaValues[i]) end
  end
  local ttl = redis.call('PTTL', key)
  redis.call('DEL', key)
  redis.call('HSET', key, 'requests', requests, 'per_ms', perMs, 'next', 0, 'floor_ms', latest, unpack(kept))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
local floorMs = strictInt(redis.call('HGET', key, 'floor_ms') or '') or 0
if floorMs < 0 or floorMs > now + MAX_HOLD_MS then floorMs = now end

-- When slot i's request reached (or may still reach) the upstream; garbage, or a time
-- further ahead than any hold, counts as "just now" (the cautious reading: never grant a
-- token whose history is unknown).
local function checkedSlot(i, raw)
  if not raw then return floorMs end
  local v = strictInt(raw)
  if v == nil or v < 0 or v > now + MAX_HOLD_MS then
    redis.call('HSET', key, 't' .. i, now)
    table.insert(repaired, 't' .. i .. '=' .. string.sub(raw, 1, 32) .. ' is invalid; treated as taken now')
    return now
  end
  return v
end
local function slot(i) return checkedSlot(i, redis.call('HGET', key, 't' .. i)) end

local function tokensLeft(n, per)
  local left = 0
  local values = ringValues(n)
  for i = 0, n - 1 do
    if checkedSlot(i, values[i]) + per + guardMs <= now then left = left + 1 end
  end
  return left
end

if op == 'release' then
  local index, granted = strictInt(ARGV[7] or ''), strictInt(ARGV[8] or '')
  if index == nil or granted == nil or strictInt(redis.call('HGET', key, 'g' .. index) or '') ~= granted then
    return {0, now}
  end
  local held = strictInt(redis.call('HGET', key, 't' .. index) or '')
  if held ~= nil and held > now then redis.call('HSET', key, 't' .. index, math.max(now, granted)) end
  return {1, now}
end

if op == 'peek' then
  if storedRequests == nil or storedPer == nil or storedRequests < 1 or storedRequests > MAX_REQUESTS then return {0, 0, 0, ''} end
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
local keepFor = math.max(86400000, 2 * (perMs + guardMs))
if redis.call('PTTL', key) < keepFor then redis.call('PEXPIRE', key, keepFor) end -- never shortens a group pause's TTL
if oldest > 0 and ready > now then
  return {'wait', ready - now, 0, table.concat(repaired, '; '), now}
end
local hold = math.min(MAX_HOLD_MS, math.max(0, math.floor(tonumber(ARGV[7]) or 0)))
redis.call('HSET', key, 't' .. nextIndex, now + hold, 'g' .. nextIndex, now, 'next', (nextIndex + 1) % requests,
  'last_taken_by', instance, 'last_taken_ms', now)
return {'granted', 0, nextIndex, table.concat(repaired, '; '), now}
