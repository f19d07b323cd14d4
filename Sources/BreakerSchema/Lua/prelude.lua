-- Lua/prelude.lua: what every Breakwater script shares, prepended when a script is loaded
-- (after the generated constants SCRIPT, SCHEMA, INSTANCE_ID_MAX and INSTANCE_ID_FORBIDDEN;
-- `breakwater schema --script NAME` prints the whole script as Redis runs it).
--
-- Scripts are an API that other versions and tools call: they check their arguments, bound
-- their own work, and repair stored garbage instead of trusting it.
local MAX_INT = 9007199254740992 -- 2^53: the largest integer a Lua number (a double) holds exactly
local YEAR_MS = 31536000000
local DAY_MS = 86400000
local TTL_MS = DAY_MS

-- Redis server time: every script uses the server clock, never a host's.
local serverTime = redis.call('TIME')
local now = tonumber(serverTime[1]) * 1000 + math.floor(tonumber(serverTime[2]) / 1000)

-- An integer within +-2^53 written in plain decimal digits, or nil (1e20, 3.5, inf, abc, '').
local function strictInt(raw)
  if type(raw) ~= 'string' or string.len(raw) > 17 or not string.match(raw, '^%-?%d+$') then return nil end
  local n = tonumber(raw)
  if n == nil or n > MAX_INT or n < -MAX_INT then return nil end
  return n
end

-- A bad argument fails the call with a message naming it; nothing is written.
local function argError(what, raw)
  return redis.error_reply('ERR ' .. SCRIPT .. '.lua: ' .. what .. ' (got ' .. string.sub(tostring(raw), 1, 64) .. ')')
end

-- An integer argument within min..max; `default` when absent or empty; nil and the error otherwise.
local function intArg(raw, min, max, default, what)
  if raw == nil or raw == '' then return default end
  local n = strictInt(raw)
  if n == nil or n < min or n > max then return nil, argError(what .. ' must be an integer in ' .. min .. '..' .. max, raw) end
  return n
end

-- The instance-id rule (InstanceID in the Swift schema): the separators of stored lists and
-- probe tokens cannot appear in an id, so no id can forge another instance's entry.
local INSTANCE_ID_RULE = 'instance id must be 1-' .. INSTANCE_ID_MAX .. ' bytes without : , # spaces or control characters'
local function validInstance(id)
  return type(id) == 'string' and id ~= '' and string.len(id) <= INSTANCE_ID_MAX and not string.find(id, INSTANCE_ID_FORBIDDEN)
end

local function keyType(k)
  local kind = redis.call('TYPE', k)
  if type(kind) == 'table' then kind = kind.ok end
  return kind
end

-- A key holding another type than `want` (an outside writer's garbage) is deleted and the
-- repair reported as "<label> held a <type>; replaced by a fresh <want>".
local function replaceWrongType(k, want, label, repaired)
  local kind = keyType(k)
  if kind ~= want and kind ~= 'none' then
    redis.call('DEL', k)
    table.insert(repaired, label .. ' held a ' .. kind .. '; replaced by a fresh ' .. want)
    return true
  end
  return false
end
