-- Breakwater cursor commit (SPEC §8): appends only records newer than the collector's cursor
-- to collector:<name> and moves the cursor, in one atomic step, so each upstream item is
-- written once whatever the replica count, overlapping polls or restarts.
--
-- KEYS[1] = cb_sched:<name>   KEYS[2] = collector:<name> (stream)
-- ARGV[1] = stream MAXLEN (approximate), ARGV[2] = instance, ARGV[3] = record count,
-- then per record: id, field count n, then n field/value pairs (the record's stream fields).
-- Ids are ordered by their part after the last '_' (Twitter's numeric ids; Reddit's base-36
-- fullnames such as t3_1abc): a longer key is newer, equal lengths compare as text.
-- -> {written, skipped, cursor, repaired}
local schedKey, streamKey = KEYS[1], KEYS[2]
local maxLen, instance, count = ARGV[1], ARGV[2], tonumber(ARGV[3]) or 0
local TTL_MS = 86400000

local repaired = {}
local ktype = redis.call('TYPE', schedKey)
if type(ktype) == 'table' then ktype = ktype.ok end
if ktype ~= 'hash' and ktype ~= 'none' then
  redis.call('DEL', schedKey)
  table.insert(repaired, 'key held a ' .. ktype .. '; replaced by a fresh hash')
end

local function orderKey(id)
  local tail = string.match(id, '_([%w]+)$') or id
  return string.lower(tail)
end
local function newer(a, b) -- a strictly newer than b (order keys)
  if #a ~= #b then return #a > #b end
  return a > b
end

local cursor = redis.call('HGET', schedKey, 'cursor')
if cursor and not string.match(cursor, '^[%w_]+$') then
  table.insert(repaired, 'cursor=' .. string.sub(cursor, 1, 32) .. ' is not an item id; dropped')
  cursor = nil
end
local cursorKey = cursor and orderKey(cursor) or nil

local records, seen = {}, {}
local i = 4
for _ = 1, count do
  local id, n = ARGV[i], tonumber(ARGV[i + 1]) or 0
  local fields = {}
  for j = 0, 2 * n - 1 do fields[#fields + 1] = ARGV[i + 2 + j] end
  i = i + 2 + 2 * n
  local k = orderKey(id)
  if not seen[id] and (cursorKey == nil or newer(k, cursorKey)) then
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
redis.call('PEXPIRE', schedKey, TTL_MS)
return {#records, count - #records, newest or '', table.concat(repaired, '; ')}
