-- Breakwater fleet schedule: one poll per interval across every instance running a collector
-- (SPEC §8). All times are Redis server time (TIME), so host clocks never matter.
--
-- KEYS[1] = cb_sched:<name>   (a hash; visible with HGETALL)
-- ARGV[1] = op: claim | pause | finish
-- claim:  ARGV[2] = instance, ARGV[3] = interval ms, ARGV[4] = fleet | per_instance,
--         ARGV[5] = rate-limit group ('' for none), ARGV[6] = collector kind
--         -> {result, wait_ms, cursor, lag_ms, now_ms, repaired, last_poll_ms}
--            result: claimed (poll now) | wait (not due; sleep wait_ms) | paused (fleet pause)
--         In `fleet` mode the slot is claimed by moving next_due_ms forward by one interval in
--         the same atomic step, so exactly one instance gets each slot; a claimer that dies
--         mid-poll costs that one slot only. Missed slots (every instance down) are skipped,
--         not replayed. `per_instance` always polls (the old behaviour) but honours a pause.
-- pause:  ARGV[2] = instance, ARGV[3] = pause ms (a 429's Retry-After)
--         -> {paused_until_ms, now_ms, repaired}: no instance polls before paused_until_ms.
-- finish: ARGV[2] = instance, ARGV[3] = result (ok | failed | rejected | ...)
--         -> {now_ms, repaired}
--
-- Every stored number must be an integer within +-2^53; anything else (1e20, inf, abc, a
-- far-future deadline) is repaired and reported in `repaired`, never trusted.
local key, op, instance = KEYS[1], ARGV[1], ARGV[2]
local TTL_MS = 86400000
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
local kind = redis.call('TYPE', key)
if type(kind) == 'table' then kind = kind.ok end
if kind ~= 'hash' and kind ~= 'none' then
  redis.call('DEL', key)
  table.insert(repaired, 'key held a ' .. kind .. '; replaced by a fresh hash')
end

-- A stored deadline, or nil when absent; garbage is dropped (and reported).
local function deadline(field)
  local raw = redis.call('HGET', key, field)
  if not raw then return nil end
  local n = strictInt(raw)
  if n == nil or n < 0 then
    redis.call('HDEL', key, field)
    table.insert(repaired, field .. '=' .. string.sub(raw, 1, 32) .. ' is invalid; dropped')
    return nil
  end
  return n
end

local function touch()
  redis.call('HSET', key, 'updated_by', instance, 'updated_at_ms', now)
  redis.call('PEXPIRE', key, TTL_MS)
end

if op == 'claim' then
  local interval = math.max(1, math.floor(tonumber(ARGV[3]) or 1000))
  local fleet = (ARGV[4] ~= 'per_instance')
  local cursor = redis.call('HGET', key, 'cursor') or ''
  local lastPoll = deadline('last_poll_ms') or 0
  local paused = deadline('paused_until_ms')
  if paused ~= nil and paused > now then
    -- A pause longer than a day is not a Retry-After anyone sent: cap what a replica sleeps.
    return {'paused', math.min(paused - now, TTL_MS), cursor, 0, now, table.concat(repaired, '; '), lastPoll}
  end
  redis.call('HSET', key, 'schedule', fleet and 'fleet' or 'per_instance', 'interval_ms', interval,
    'group', ARGV[5] or '', 'kind', ARGV[6] or '')
  local lag = 0
  if fleet then
    local due = deadline('next_due_ms')
    if due ~= nil and due - now > interval then
      -- Further ahead than one interval: a shorter interval was configured, or the value is
      -- garbage; either way nobody may be kept waiting longer than one interval.
      table.insert(repaired, 'next_due_ms=' .. due .. ' is more than one interval ahead; pulled in')
      due = now + interval
      redis.call('HSET', key, 'next_due_ms', due)
    end
    if due ~= nil and due > now then
      return {'wait', due - now, cursor, 0, now, table.concat(repaired, '; '), lastPoll}
    end
    due = due or now
    lag = now - due
    local nextDue = due + interval
    if nextDue <= now then nextDue = now + interval end -- slots missed while nobody ran: skipped
    redis.call('HSET', key, 'next_due_ms', nextDue)
  end
  redis.call('HSET', key, 'claimed_by', instance, 'last_poll_ms', now, 'last_poll_by', instance)
  redis.call('HINCRBY', key, 'polls', 1)
  touch()
  return {'claimed', 0, cursor, lag, now, table.concat(repaired, '; '), now}
elseif op == 'pause' then
  local pauseMs = math.max(0, math.floor(tonumber(ARGV[3]) or 0))
  local untilMs = now + pauseMs
  local existing = deadline('paused_until_ms')
  if existing ~= nil and existing > untilMs and existing - now <= TTL_MS then untilMs = existing end
  redis.call('HSET', key, 'paused_until_ms', untilMs, 'paused_by', instance)
  local due = deadline('next_due_ms')
  if due == nil or due < untilMs then redis.call('HSET', key, 'next_due_ms', untilMs) end
  touch()
  return {untilMs, now, table.concat(repaired, '; ')}
elseif op == 'finish' then
  local result = ARGV[3] or 'unknown'
  redis.call('HSET', key, 'last_result', result, 'last_result_at_ms', now, 'last_result_by', instance)
  if result == 'ok' then redis.call('HSET', key, 'last_ok_ms', now) end
  touch()
  return {now, table.concat(repaired, '; ')}
end
return redis.error_reply('schedule.lua: unknown op ' .. tostring(op))
