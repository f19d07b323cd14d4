-- Breakwater fleet schedule: one poll per interval across every instance running a collector
-- (docs/semantics.md). All times are Redis server time (TIME), so host clocks never matter.
--
-- KEYS[1] = cb_sched:<name>   (a hash; visible with HGETALL)
-- KEYS[2] = cb_quota:<group>  (optional: the collector's rate-limit group, which a 429 pauses too)
-- ARGV[1] = op: claim | pause | finish
-- claim:  ARGV[2] = instance, ARGV[3] = interval ms, ARGV[4] = fleet | per_instance,
--         ARGV[5] = rate-limit group ('' for none), ARGV[6] = collector kind,
--         ARGV[7] = max pause ms (optional, default a day: a stored pause beyond it is repaired)
--         -> {result, wait_ms, cursor, lag_ms, now_ms, repaired, last_poll_ms}
--            result: claimed (poll now) | wait (not due; sleep wait_ms) | paused (fleet pause)
--         In `fleet` mode the slot is claimed by moving next_due_ms forward by one interval in
--         the same atomic step, so exactly one instance gets each slot; a claimer that dies
--         mid-poll costs that one slot only. Missed slots (every instance down) are skipped,
--         not replayed. `per_instance` always polls (the old behaviour) but honours a pause.
-- pause:  ARGV[2] = instance, ARGV[3] = pause ms (a 429's Retry-After), ARGV[4] = max pause ms
--         (optional, default a day; a longer pause is clamped to it)
--         -> {paused_until_ms, now_ms, repaired}: no instance polls before paused_until_ms, for
--         this collector and, with KEYS[2], for every collector of its rate-limit group.
-- finish: ARGV[2] = instance, ARGV[3] = result (ok | failed | rejected | ...)
--         -> {now_ms, repaired}
--
-- Every stored number must be an integer within +-2^53; anything else (1e20, inf, abc, a
-- far-future deadline) is repaired and reported in `repaired`, never trusted. Every call keeps
-- the key alive for at least a day past its furthest deadline (next due, pause), so a long
-- interval or pause never outlives the cursor and the pause it needs.
local key, groupKey, op, instance = KEYS[1], KEYS[2], ARGV[1], ARGV[2]

if op ~= 'claim' and op ~= 'pause' and op ~= 'finish' then return argError('unknown op', op) end
if not validInstance(instance) then return argError(INSTANCE_ID_RULE, instance) end

local repaired = {}
for _, k in ipairs({key, groupKey}) do
  replaceWrongType(k, 'hash', k == key and 'key' or ('group key ' .. k), repaired)
end

-- A stored deadline, or nil when absent; garbage is dropped (and reported).
local function deadline(field, k)
  k = k or key
  local raw = redis.call('HGET', k, field)
  if not raw then return nil end
  local n = strictInt(raw)
  if n == nil or n < 0 then
    redis.call('HDEL', k, field)
    table.insert(repaired, field .. '=' .. string.sub(raw, 1, 32) .. ' is invalid; dropped')
    return nil
  end
  return n
end

-- The pause in force (this collector's or its group's), with a stored deadline further ahead
-- than the longest pause allowed pulled in to it (it was not a Retry-After anyone sent).
local function pausedUntil(maxPause)
  local untilMs = nil
  for _, k in ipairs({key, groupKey}) do
    local paused = deadline('paused_until_ms', k)
    if paused ~= nil and paused > now + maxPause then
      table.insert(repaired, 'paused_until_ms=' .. paused .. ' is more than the max pause ahead; pulled in')
      paused = now + maxPause
      redis.call('HSET', k, 'paused_until_ms', paused)
    end
    if paused ~= nil and (untilMs == nil or paused > untilMs) then untilMs = paused end
  end
  return untilMs
end

-- Keeps the hash alive a day past its furthest deadline: every call, whatever it returns.
local function keepAlive()
  local furthest = now
  for _, field in ipairs({'next_due_ms', 'paused_until_ms'}) do
    local v = deadline(field) -- garbage is dropped (and reported) whatever the op
    if v ~= nil and v > furthest then furthest = v end
  end
  redis.call('PEXPIRE', key, (furthest - now) + TTL_MS)
end

local function touch()
  redis.call('HSET', key, 'updated_by', instance, 'updated_at_ms', now)
end

if op == 'claim' then
  local interval, err = intArg(ARGV[3], 1, YEAR_MS, 1000, 'interval ms')
  if err then return err end
  local maxPause, err2 = intArg(ARGV[7], 1, YEAR_MS, TTL_MS, 'max pause ms')
  if err2 then return err2 end
  if ARGV[4] ~= nil and ARGV[4] ~= '' and ARGV[4] ~= 'fleet' and ARGV[4] ~= 'per_instance' then return argError('mode must be fleet or per_instance', ARGV[4]) end
  if string.len(ARGV[5] or '') > 128 or string.len(ARGV[6] or '') > 64 then return argError('group or kind too long', ARGV[5]) end
  local fleet = (ARGV[4] ~= 'per_instance')
  local cursor = redis.call('HGET', key, 'cursor') or ''
  local lastPoll = deadline('last_poll_ms') or 0
  local paused = pausedUntil(maxPause)
  if paused ~= nil and paused > now then
    keepAlive()
    return {'paused', paused - now, cursor, 0, now, table.concat(repaired, '; '), lastPoll}
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
      keepAlive()
      return {'wait', due - now, cursor, 0, now, table.concat(repaired, '; '), lastPoll}
    end
    due = due or now
    lag = now - due
    local nextDue = due + interval
    if nextDue <= now then nextDue = now + interval end -- slots missed while nobody ran: skipped
    redis.call('HSET', key, 'next_due_ms', nextDue)
  end
  redis.call('HSET', key, 'claimed_by', instance, 'last_poll_ms', now, 'last_poll_by', instance)
  local polls = redis.call('HGET', key, 'polls')
  if polls and (strictInt(polls) == nil or strictInt(polls) < 0) then
    table.insert(repaired, 'polls=' .. string.sub(polls, 1, 32) .. ' is invalid; reset to 0')
    redis.call('HSET', key, 'polls', 0)
  end
  redis.call('HINCRBY', key, 'polls', 1)
  touch()
  keepAlive()
  return {'claimed', 0, cursor, lag, now, table.concat(repaired, '; '), now}
elseif op == 'pause' then
  local maxPause, err = intArg(ARGV[4], 1, YEAR_MS, TTL_MS, 'max pause ms')
  if err then return err end
  local pauseMs = strictInt(ARGV[3] or '')
  if pauseMs == nil or pauseMs < 0 then return argError('pause ms must be a non-negative integer', ARGV[3]) end
  if pauseMs > maxPause then
    table.insert(repaired, 'pause of ' .. pauseMs .. ' ms is longer than the max pause; clamped to ' .. maxPause)
    pauseMs = maxPause
  end
  local untilMs = now + pauseMs
  local existing = pausedUntil(maxPause)
  if existing ~= nil and existing > untilMs then untilMs = existing end
  redis.call('HSET', key, 'paused_until_ms', untilMs, 'paused_by', instance)
  local due = deadline('next_due_ms')
  if due == nil or due < untilMs then redis.call('HSET', key, 'next_due_ms', untilMs) end
  if groupKey ~= nil and groupKey ~= '' then
    redis.call('HSET', groupKey, 'paused_until_ms', untilMs, 'paused_by', instance, 'paused_source', key)
    local pttl = redis.call('PTTL', groupKey)
    if pttl < (untilMs - now) + TTL_MS then redis.call('PEXPIRE', groupKey, (untilMs - now) + TTL_MS) end
  end
  touch()
  keepAlive()
  return {untilMs, now, table.concat(repaired, '; ')}
else -- finish
  local result = ARGV[3] or 'unknown'
  if string.len(result) > 64 then return argError('result longer than 64 bytes', result) end
  redis.call('HSET', key, 'last_result', result, 'last_result_at_ms', now, 'last_result_by', instance)
  if result == 'ok' then redis.call('HSET', key, 'last_ok_ms', now) end
  touch()
  keepAlive()
  return {now, table.concat(repaired, '; ')}
end
