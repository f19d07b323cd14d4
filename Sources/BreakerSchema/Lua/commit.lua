-- Breakwater cursor commit (docs/semantics.md, fleet polling): appends only records newer than the collector's cursor
-- to collector:<name> and moves the cursor, in one atomic step, so each upstream item is
-- written once whatever the replica count, overlapping polls or restarts.
--
-- KEYS[1] = cb_sched:<name>   KEYS[2] = collector:<name> (stream)
-- ARGV[1] = stream MAXLEN (approximate), ARGV[2] = instance, ARGV[3] = record count,
-- then per record: id, field count n, then n field/value pairs (the record's stream fields).
-- Ids are ordered by their part after the last '_' (Twitter's numeric ids; Reddit's base-36
-- fullnames such as t3_1abc): a longer key is newer, equal lengths compare as text.
-- An id must be an item id ([A-Za-z0-9_], at most 1024 bytes) to be ordered against the cursor:
-- a record with any other id is skipped and reported, never written twice.
-- -> {written, skipped, cursor, repaired}
local schedKey, streamKey = KEYS[1], KEYS[2]
local MAX_ID_BYTES = 1024

local maxLen, instance, count = strictInt(ARGV[1]), ARGV[2], strictInt(ARGV[3])
if maxLen == nil or maxLen < 1 or maxLen > 1000000000 then return argError('stream MAXLEN must be 1..1000000000', ARGV[1]) end
if not validInstance(instance) then return argError(INSTANCE_ID_RULE, instance) end
if count == nil or count < 0 or count > 10000 then return argError('record count must be 0..10000', ARGV[3]) end

local repaired = {}
replaceWrongType(schedKey, 'hash', 'key', repaired)

local function orderKey(id)
  local tail = string.match(id, '_([%w]+)$') or id
  return string.lower(tail)
end
local function newer(a, b) -- a strictly newer than b (order keys)
  if #a ~= #b then return #a > #b end
  return a > b
end

local cursor = redis.call('HGET', schedKey, 'cursor')
if cursor and (string.len(cursor) > MAX_ID_BYTES or not string.match(cursor, '^[%w_]+$')) then
  table.insert(repaired, 'cursor=' .. string.sub(cursor, 1, 32) .. ' is not an item id; dropped')
  cursor = nil
end
local cursorKey = cursor and orderKey(cursor) or nil

local records, seen = {}, {}
local i = 4
for _ = 1, count do
  local id, n = ARGV[i], strictInt(ARGV[i + 1])
  if id == nil or n == nil or n < 1 or n > 1000 or i + 1 + 2 * n > #ARGV then
    return argError('each record is an id, a field count 1..1000 and that many field/value pairs', ARGV[i + 1])
  end
  local fields = {}
  for j = 0, 2 * n - 1 do fields[#fields + 1] = ARGV[i + 2 + j] end
  i = i + 2 + 2 * n
  local k = orderKey(id)
  if string.len(id) > MAX_ID_BYTES or not string.match(id, '^[%w_]+$') then
    table.insert(repaired, 'record id ' .. string.format('%q', string.sub(id, 1, 32)) .. ' is not an item id; skipped')
  elseif not seen[id] and (cursorKey == nil or newer(k, cursorKey)) then
    seen[id] = true
    records[#records + 1] = {id = id, key = k, fields = fields}
  end
end
table.sort(records, function(a, b) return newer(b.key, a.key) end)

for _, r in ipairs(records) do
  redis.call('XADD', streamKey, 'MAXLEN', '~', maxLen, '*', unpack(r.fields))
end
local newest = cursor
if #records > 0 then newest = records[#records].id end
if newest then redis.call('HSET', schedKey, 'cursor', newest) end
redis.call('HSET', schedKey, 'cursor_updated_by', instance)
-- Only ever lengthens the TTL, to at least a day past the schedule's furthest deadline.
local keep = TTL_MS
for _, field in ipairs({'next_due_ms', 'paused_until_ms'}) do
  local v = strictInt(redis.call('HGET', schedKey, field) or '')
  if v ~= nil and v - now + TTL_MS > keep then keep = v - now + TTL_MS end
end
if redis.call('PTTL', schedKey) < keep then redis.call('PEXPIRE', schedKey, keep) end
return {#records, count - #records, newest or '', table.concat(repaired, '; ')}
