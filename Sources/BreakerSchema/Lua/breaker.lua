-- Breakwater shared circuit breaker: every state change of cb_state:<name> happens here,
-- atomically, using the Redis server clock (TIME), so instances never disagree.
--
-- KEYS[1] = cb_state:<name>      KEYS[2] = cb_log:<name> (the ledger stream; optional for old callers)
-- ARGV: the slots of ARG (BreakerScriptCall.Slot in the Swift schema), by name:
--   op       record | acquire | probe | force_open | force_close | reset | reconcile_open | touch (OPS)
--   instance the caller's instance id      name  the breaker name
--   policy   "k=v;k=v", the keys and ranges of POLICY (PolicyKey); empty: the policy the daemons stored
--   arg      run-length outcomes for record ("S" success, "F" failure, "s"/"f" slow; "S12F1"),
--            the token for acquire, "token:outcome:version" for probe (version = the stored
--            version when the lease was granted), the expected version for reconcile_open
--   extra    lease ms for acquire          channel  cb_events:<name> (a channel, not a key)
--   actor, note  manual actions: who (e.g. alice@ops-1) and why
--   for_ms   force_open / force_close: the override lapses after this, by server time; 0 = never
--
-- Every stored number is an integer within +-2^53; anything else (1e20, 3.5, inf, abc) is
-- repaired to a safe default, reported in `repaired` and saved. Each version bump publishes
-- exactly one event, encoded before anything is written. The hash holds exactly STORED_FIELDS.
--
-- Returns the slots of REPLY (BreakerReply.Slot): state, version, opened_at_ms, open_timeout_ms,
-- forced, now_ms, result, transitioned, failed_recoveries, failure_count, half_open_attempts,
-- half_open_successes, repaired, reason.
local key, logKey, channel = KEYS[1], KEYS[2], ARGV[ARG.channel]
local op, by, name = ARGV[ARG.op], ARGV[ARG.instance], ARGV[ARG.name]
local rawConfig, arg, arg2 = ARGV[ARG.policy] or '', ARGV[ARG.arg] or '', ARGV[ARG.extra]
local actor, note = ARGV[ARG.actor] or '', ARGV[ARG.note] or ''
local manual = (op == 'force_open' or op == 'force_close' or op == 'reset')
local LEDGER_MAXLEN = 1000
local TTL = TTL_MS / 1000
-- A stored counter, version or time beyond 2^50 is garbage (35,000 years in ms): the margin
-- to 2^53 keeps every sum exact.
local MAX_STORED = 1125899906842624
local MAX_FOR_MS = 10 * YEAR_MS     -- a timed override lasts at most ten years
local MAX_LEASE_MS = DAY_MS         -- a probe lease lasts at most a day
local MAX_LIST_BYTES = 65536        -- a stored list field (leases, contributors, window, buckets)
local CLOCK_SKEW_MS = 60000         -- stored times further ahead than this are garbage

if not OPS[op] then return argError('unknown breaker op', op) end
if not validInstance(by) then return argError(INSTANCE_ID_RULE, by) end
if type(name) ~= 'string' or name == '' or string.len(name) > 128 then return argError('breaker name must be 1-128 bytes', name) end
if string.len(rawConfig) > 4096 then return argError('policy string longer than 4096 bytes', string.len(rawConfig)) end
if string.len(actor) > 256 then return argError('actor longer than 256 bytes', string.len(actor)) end
if string.len(note) > 4096 then return argError('note longer than 4096 bytes', string.len(note)) end
local forMs = 0
local rawFor = ARGV[ARG.for_ms]
if rawFor ~= nil and rawFor ~= '' then
  forMs = strictInt(rawFor)
  if forMs == nil or forMs < 0 or forMs > MAX_FOR_MS then return argError('override duration must be 0..' .. MAX_FOR_MS .. ' ms', rawFor) end
end

-- The policy, "k=v;k=v", each value within its range in POLICY (PolicyKey in the Swift schema).
-- Keys this version does not know are ignored (a newer caller may send more).
local cfg = {}
for k, v in string.gmatch(rawConfig, '([%w_]+)=([^;]*)') do
  local range = POLICY[k]
  if range ~= nil and range.words ~= nil then
    if not range.words[v] then return argError('policy ' .. k .. ' must be one of the known words', v) end
    cfg[k] = v
  elseif range ~= nil then
    local n
    if range[3] then n = tonumber(v) else n = strictInt(v) end
    if n == nil or n ~= n or n < range[1] or n > range[2] then
      return argError('policy ' .. k .. ' must be ' .. (range[3] and 'a number' or 'an integer') .. ' in ' .. range[1] .. '..' .. range[2], v)
    end
    cfg[k] = n
  end
end
local threshold = cfg.threshold or 5
local halfOpenMax = cfg.ho_max or 3
local successThreshold = cfg.ho_success or 2
local quorum = cfg.quorum or 1

-- The operation's own argument.
local PROBE_TOKEN = '^[^:,%s%c]+$' -- '<instance>#<random>-<n>'
if op == 'record' then
  if string.len(arg) > 65536 or (string.gsub(arg, '[SFsf]%d+', '')) ~= '' then
    return argError('record takes runs like S12F1 (S, F, s or f, then a count; at most 65536 bytes)', arg)
  end
  for count in string.gmatch(arg, '[SFsf](%d+)') do
    local n = strictInt(count)
    if n == nil or n < 1 or n > 1000000000 then return argError('record run counts must be 1..1000000000', count) end
  end
elseif op == 'acquire' then
  if string.len(arg) > 300 or not string.match(arg, PROBE_TOKEN) then return argError('acquire takes a probe token of 1-300 bytes without : , or spaces', arg) end
  local lease = strictInt(arg2 or '')
  if arg2 ~= nil and arg2 ~= '' and (lease == nil or lease < 1 or lease > MAX_LEASE_MS) then
    return argError('lease must be 1..' .. MAX_LEASE_MS .. ' ms', arg2)
  end
elseif op == 'probe' then
  if string.len(arg) > 340 then return argError('probe argument longer than 340 bytes', string.len(arg)) end
end

-- Load and repair -------------------------------------------------------------------------
local repaired = {}
replaceWrongType(key, 'hash', 'key', repaired)
local hasLedger = logKey ~= nil and logKey ~= ''
if hasLedger then replaceWrongType(logKey, 'stream', 'ledger ' .. logKey, repaired) end
local h = {}
local flat = redis.call('HGETALL', key)
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
local isNew = (#flat == 0)

-- The ledger's newest entry with a valid version, read on every call: versions never fall behind
-- it (a lost hash, a version field that is missing, garbage or lowered by hand) and never reuse
-- it. Entries that are not ledger entries (no valid version, or a field over 8 KB: an outside
-- writer's garbage) are removed and reported, so they cost one call, not every call.
local ledgerLast, ledgerRead = false, false
local function readLedger()
  if ledgerRead or not hasLedger then return ledgerLast end
  ledgerRead = true
  local garbage, ids = {}, {}
  for _, count in ipairs({1, 16}) do
    for _, item in ipairs(redis.call('XREVRANGE', logKey, '+', '-', 'COUNT', count)) do
      local e, oversized = {}, false
      local fields = item[2]
      for i = 1, #fields, 2 do
        if string.len(fields[i + 1]) > 8192 then oversized = true end
        e[fields[i]] = fields[i + 1]
      end
      e.v = strictInt(e.version or '')
      if oversized or e.v == nil or e.v < 0 or e.v > MAX_STORED then
        if not garbage[item[1]] then garbage[item[1]] = true; table.insert(ids, item[1]) end
      elseif not ledgerLast or e.v > ledgerLast.v then
        ledgerLast = e
      end
    end
    if ledgerLast then break end
  end
  if #ids > 0 then
    redis.call('XDEL', logKey, unpack(ids))
    table.insert(repaired, 'ledger: ' .. #ids .. ' entr' .. (#ids == 1 and 'y' or 'ies') .. ' without a valid version removed')
  end
  return ledgerLast
end

local function int(field, default, minimum, maximum)
  local raw = h[field]
  if raw == nil or raw == '' then return default end
  local n = strictInt(raw)
  if n == nil or (minimum ~= nil and n < minimum) or n > (maximum or MAX_STORED) then
    table.insert(repaired, field .. '=' .. string.sub(raw, 1, 32) .. ' is invalid; reset to ' .. tostring(default))
    return default
  end
  return n
end
-- A stored server time: further ahead than the clock skew allows is garbage (it would hold a
-- breaker open or half-open for years); repaired to now.
local function timeField(field)
  local n = int(field, 0, 0)
  if n > now + CLOCK_SKEW_MS then
    table.insert(repaired, field .. '=' .. n .. ' is in the future; set to now')
    return now
  end
  return n
end
-- Free text kept in the hash: bounded, so no call copies megabytes.
local function text(field, limit)
  local raw = h[field] or ''
  if string.len(raw) > limit then
    table.insert(repaired, field .. ' was ' .. string.len(raw) .. ' bytes; truncated to ' .. limit)
    return string.sub(raw, 1, limit)
  end
  return raw
end
-- A stored list of items: each must match `pattern`; `check`, when given, takes the captures
-- and answers false (drop the item), true (keep it) or a replacement item. Both are reported.
local function list(field, pattern, check)
  local raw = h[field] or ''
  if raw == '' then return '' end
  if string.len(raw) > MAX_LIST_BYTES then
    table.insert(repaired, field .. ' was ' .. string.len(raw) .. ' bytes; cleared')
    return ''
  end
  local kept, bad, replaced = {}, 0, 0
  for item in string.gmatch(raw, '[^,]+') do
    local captures = {string.match(item, pattern)}
    local verdict = #captures > 0 and (check == nil or check(unpack(captures)))
    if type(verdict) == 'string' then
      table.insert(kept, verdict); replaced = replaced + 1
    elseif verdict then
      table.insert(kept, item)
    else
      bad = bad + 1
    end
  end
  if bad > 0 or string.find(raw, ',,') or string.sub(raw, 1, 1) == ',' or string.sub(raw, -1) == ',' then
    table.insert(repaired, field .. ': ' .. bad .. ' invalid item(s) dropped')
  end
  if replaced > 0 then table.insert(repaired, field .. ': ' .. replaced .. ' item(s) out of range shortened') end
  return table.concat(kept, ',')
end
local function storedTime(raw) local n = strictInt(raw); return n ~= nil and n >= 0 and n <= now + CLOCK_SKEW_MS end

-- Callers without a policy (the CLI's manual actions) use the one the daemons stored.
-- Timeouts are whole milliseconds, at least 1 (a 0 ms timeout would half-open at once).
-- The stored policy is checked (and repaired) even when the caller sends its own, so garbage
-- in it never outlives a write.
-- The layout marker: garbage in it is repaired (every save writes this script's SCHEMA).
int('schema', SCHEMA, 0)
local storedBase = int('base_open_timeout_ms', 300000, 1, YEAR_MS)
local storedMax = int('max_open_timeout_ms', 3600000, 1, YEAR_MS)
local storedMult = 1.5
if h.backoff_multiplier ~= nil and h.backoff_multiplier ~= '' then
  local n = string.len(h.backoff_multiplier) <= 32 and tonumber(h.backoff_multiplier)
  if type(n) == 'number' and n == n and n >= 1 and n <= 1000 then
    storedMult = n
  else
    table.insert(repaired, 'backoff_multiplier=' .. string.sub(h.backoff_multiplier, 1, 32) .. ' is invalid; reset to 1.5')
  end
end
local base = math.max(1, math.floor(cfg.base_ms or storedBase))
local mult = cfg.mult or storedMult
local maxTimeout = math.max(base, math.floor(cfg.max_ms or storedMax))

local s = {}
s.state = h.state or 'closed'
if not isNew and h.state == nil then table.insert(repaired, 'state is missing; closed') end
if s.state ~= 'closed' and s.state ~= 'open' and s.state ~= 'half-open' then
  table.insert(repaired, 'state=' .. string.sub(s.state, 1, 32) .. ' is invalid; reset to closed')
  s.state = 'closed'
  h.failure_count = nil
end
s.version = int('version', 0, 0)
readLedger() -- one XREVRANGE COUNT 1 when the newest entry is a ledger entry
if not isNew and (h.version == nil or h.version == '') and not ledgerLast then table.insert(repaired, 'version is missing; 0') end
if ledgerLast and s.version < ledgerLast.v then
  -- Versions never go backwards and never reuse a ledger version, whatever happened to the
  -- hash (a lapsed TTL, eviction, a DEL, a version field that is missing or garbage).
  if not isNew then
    table.insert(repaired, 'version=' .. string.sub(tostring(h.version), 1, 32) .. ' is behind the ledger (' .. ledgerLast.v .. '); continued from it')
  end
  s.version = ledgerLast.v
end
s.opened_at_ms = timeField('opened_at_ms')
s.open_timeout_ms = int('open_timeout_ms', base, 1)
if s.open_timeout_ms > maxTimeout then s.open_timeout_ms = maxTimeout end
s.failed_recoveries = int('failed_recoveries', 0, 0, 100000)
s.failure_count = int('failure_count', 0, 0)
s.half_open_attempts = int('half_open_attempts', 0, 0)
s.half_open_successes = int('half_open_successes', 0, 0)
s.forced = h.forced or ''
if s.forced ~= '' and s.forced ~= 'open' and s.forced ~= 'closed' then
  table.insert(repaired, 'forced=' .. string.sub(s.forced, 1, 32) .. ' is invalid; cleared')
  s.forced = ''
end
-- The lifetime statistics: counters and times, loaded (and repaired) by their kind.
for _, field in ipairs(STORED_FIELDS) do
  if field[3] == 'statistics' then
    if field[2] == 'time' then s[field[1]] = timeField(field[1]) else s[field[1]] = int(field[1], 0, 0) end
  end
end
timeField('updated_at_ms') -- rewritten on every save; read only so garbage is repaired (and saved)
s.forced_until_ms = int('forced_until_ms', 0, 0)
s.forced_note = text('forced_note', 4096)
s.forced_actor = text('forced_actor', 256)
s.mode = cfg.mode or h.mode or 'enforce'
if s.mode ~= 'enforce' and s.mode ~= 'shadow' then s.mode = 'enforce' end
s.half_open_at_ms = timeField('half_open_at_ms')
-- A lease lasts at most a day: one further ahead is shortened to that (it cannot wedge half-open).
s.leases = list('leases', '^([^:,%s%c]+):(%d+)$', function(token, expiry)
  local n = strictInt(expiry)
  if n == nil then return false end
  if n > now + MAX_LEASE_MS then return token .. ':' .. (now + MAX_LEASE_MS) end
  return true
end)
s.contributors = list('contributors', '^([^:,#%s%c]+)$')
s.window_contributors = list('window_contributors', '^([^:,#%s%c]+):(%d+):(%d+)$', function(_, at, seq)
  return storedTime(at) and strictInt(seq) ~= nil end)
s.window = h.window or ''
if string.len(s.window) > 1000 or not string.match(s.window, '^[SFsf]*$') then
  table.insert(repaired, 'window=' .. string.sub(s.window, 1, 32) .. ' is invalid; cleared')
  s.window = ''
end
s.buckets = list('buckets', '^(%d+):(%d+):(%d+):(%d+)$', function(b, c, f, sl)
  return storedTime(b) and strictInt(c) ~= nil and strictInt(f) ~= nil and strictInt(sl) ~= nil end)
-- Why the stored version last moved: returned with every reply, so an instance that learns of
-- another's transition from a reply knows why (e.g. a reset must also reset its local breaker).
local lastReason = h.last_reason or ''
if string.len(lastReason) > 64 or not string.match(lastReason, '^[%w_]*$') then
  table.insert(repaired, 'last_reason=' .. string.sub(lastReason, 1, 32) .. ' is invalid; cleared')
  lastReason = ''
end
-- A hash that is gone while its ledger is not (a lapsed TTL, eviction, a manual DEL): it comes
-- back as the fleet last agreed, from the ledger's newest entry, under the next version.
local restoredFromLedger = nil
if isNew and ledgerLast and (ledgerLast.to == 'open' or ledgerLast.to == 'half-open' or ledgerLast.to == 'closed') then
  restoredFromLedger = ledgerLast
  s.state = ledgerLast.to
  if s.state == 'open' then
    local at = strictInt(ledgerLast.at_ms or '')
    if at == nil or at < 0 or at > now then at = now end
    s.opened_at_ms = at
  elseif s.state == 'half-open' then
    s.half_open_at_ms = now
  end
  if ledgerLast.reason == 'forced_open' or ledgerLast.reason == 'forced_closed' then
    s.forced = (ledgerLast.reason == 'forced_open') and 'open' or 'closed'
    local untilMs = strictInt(ledgerLast.until_ms or '')
    if untilMs ~= nil and untilMs > 0 and untilMs <= now + MAX_FOR_MS then s.forced_until_ms = untilMs end
    s.forced_note = string.sub(ledgerLast.note or '', 1, 4096)
    s.forced_actor = string.sub(ledgerLast.actor or '', 1, 256)
  end
  table.insert(repaired, 'state hash was missing; restored ' .. s.state .. (s.forced ~= '' and (' (forced ' .. s.forced .. ')') or '')
    .. ' from ledger version ' .. ledgerLast.v)
end
if s.state == 'open' and s.opened_at_ms == 0 then
  -- Without a start the breaker would stay open until the TTL lapses: start it now, and save that.
  s.opened_at_ms = now
  table.insert(repaired, 'open without opened_at_ms; opened_at_ms set to now')
end
local dirty = isNew or #repaired > 0 or (cfg.mode ~= nil and h.mode ~= s.mode)
local transitioned = 0
local result = 'ok'

-- Trip-policy bookkeeping ----------------------------------------------------------------
-- Count window: last N outcome characters. Time window: buckets "start:calls:fails:slow,...".
local countWindow = cfg.cw or 0
local timeWindowMs = cfg.tw_ms or 0
local bucketMs = 1000
if timeWindowMs > 0 then bucketMs = math.max(100, math.floor(timeWindowMs / 20)) end

-- Every outcome of a run is applied in O(1): running totals for the buckets and the count
-- window, the window as a queue, quorum counts recomputed only when they can change. So the
-- work of a call is bounded by the policy's bounds, not by the square of them.
local buckets = {}
local bucketCalls, bucketFails, bucketSlow = 0, 0, 0
local function loadBuckets()
  buckets = {}
  bucketCalls, bucketFails, bucketSlow = 0, 0, 0
  if timeWindowMs <= 0 then return end
  for b, c, f, sl in string.gmatch(s.buckets, '(%d+):(%d+):(%d+):(%d+)') do
    local start = tonumber(b)
    if start > now - timeWindowMs then
      table.insert(buckets, {start, tonumber(c), tonumber(f), tonumber(sl)})
      bucketCalls = bucketCalls + tonumber(c); bucketFails = bucketFails + tonumber(f); bucketSlow = bucketSlow + tonumber(sl)
    end
  end
end
local function saveBuckets()
  local parts = {}
  for _, b in ipairs(buckets) do table.insert(parts, b[1] .. ':' .. b[2] .. ':' .. b[3] .. ':' .. b[4]) end
  s.buckets = table.concat(parts, ',')
end
local function addToBucket(failed, slow, n)
  if timeWindowMs <= 0 then return end
  local start = now - (now % bucketMs)
  local last = buckets[#buckets]
  if last == nil or last[1] ~= start then
    last = {start, 0, 0, 0}
    table.insert(buckets, last)
  end
  last[2] = last[2] + n
  bucketCalls = bucketCalls + n
  if failed then last[3] = last[3] + n; bucketFails = bucketFails + n end
  if slow then last[4] = last[4] + n; bucketSlow = bucketSlow + n end
end
local function bucketTotals() return bucketCalls, bucketFails, bucketSlow end

-- The count window: the last `countWindow` outcome characters, as a queue win[head..tail].
local win, winHead, winTail = {}, 1, 0
local winCalls, winFails, winSlow = 0, 0, 0
local function windowReset()
  win, winHead, winTail, winCalls, winFails, winSlow = {}, 1, 0, 0, 0, 0
end
local function windowPush(ch)
  winTail = winTail + 1
  win[winTail] = ch
  winCalls = winCalls + 1
  if ch == 'F' or ch == 'f' then winFails = winFails + 1 end
  if ch == 's' or ch == 'f' then winSlow = winSlow + 1 end
  if winCalls > countWindow then
    local old = win[winHead]
    win[winHead] = nil
    winHead = winHead + 1
    winCalls = winCalls - 1
    if old == 'F' or old == 'f' then winFails = winFails - 1 end
    if old == 's' or old == 'f' then winSlow = winSlow - 1 end
  end
end
local function loadWindow()
  windowReset()
  if countWindow <= 0 then return end
  for ch in string.gmatch(s.window, '[SFsf]') do windowPush(ch) end
end
local function saveWindow()
  if countWindow > 0 then s.window = table.concat(win, '', winHead, winTail) end
end
local function windowTotals() return winCalls, winFails, winSlow end

-- Quorum bookkeeping. `contributors`: instances with a failure in the current run of
-- consecutive failures (cleared when a success resets failure_count). `window_contributors`:
-- "id:at_ms:seq" per instance with a failure still inside a window policy's window (aged out by
-- time for time windows, by call count -- seq is total_calls at that failure -- for count windows).
local usesWindows = timeWindowMs > 0 or countWindow > 0
local contributedAt = nil -- total_calls when this call last added `by` (the entry is the same until it moves)
local quorumCache = nil
local function addContributor()
  if quorum <= 1 or contributedAt == s.total_calls then return end
  contributedAt = s.total_calls
  quorumCache = nil
  local known = false
  for id in string.gmatch(s.contributors, '[^,]+') do if id == by then known = true end end
  if not known then
    if s.contributors == '' then s.contributors = by else s.contributors = s.contributors .. ',' .. by end
  end
  if usesWindows then
    local kept = {by .. ':' .. now .. ':' .. s.total_calls}
    for id, at, seq in string.gmatch(s.window_contributors, '([^:,]+):(%d+):(%d+)') do
      if id ~= by then table.insert(kept, id .. ':' .. at .. ':' .. seq) end
    end
    s.window_contributors = table.concat(kept, ',')
  end
end
local function contributorCount()
  local n = 0
  for _ in string.gmatch(s.contributors, '[^,]+') do n = n + 1 end
  return n
end
-- Drops instances whose last failure has left every window, and counts the rest.
local function windowContributorCount()
  local kept, n = {}, 0
  for id, at, seq in string.gmatch(s.window_contributors, '([^:,]+):(%d+):(%d+)') do
    local inTime = timeWindowMs > 0 and tonumber(at) > now - timeWindowMs
    local inCount = countWindow > 0 and tonumber(seq) > s.total_calls - countWindow
    if inTime or inCount then
      table.insert(kept, id .. ':' .. at .. ':' .. seq)
      n = n + 1
    end
  end
  s.window_contributors = table.concat(kept, ',')
  return n
end
-- Both quorum conditions; they change only when a contributor is added or total_calls moves.
local function quorumReached()
  if quorum <= 1 then return true, true end
  if quorumCache == nil or quorumCache[3] ~= s.total_calls then
    quorumCache = {contributorCount() >= quorum, usesWindows and windowContributorCount() >= quorum, s.total_calls}
  end
  return quorumCache[1], quorumCache[2]
end

-- Which policy fires, or nil. With a quorum, each policy needs that many distinct instances
-- among the failures it counts.
local function tripReason()
  local consecutiveQuorum, windowQuorum = quorumReached()
  if consecutiveQuorum and threshold > 0 and s.failure_count >= threshold then return 'failure_threshold' end
  if not windowQuorum then return nil end
  local fwCount = cfg.fw_count or 0
  if fwCount > 0 and timeWindowMs > 0 then
    local _, f = bucketTotals()
    if f >= fwCount then return 'failures_in_window' end
  end
  local ratePct = cfg.rate or 0
  local slowPct = cfg.slow_rate or 0
  if ratePct > 0 or slowPct > 0 then
    local c, f, sl
    if countWindow > 0 then c, f, sl = windowTotals() else c, f, sl = bucketTotals() end
    if c >= (cfg.min_calls or 1) and c > 0 then
      if ratePct > 0 and (100 * f / c) >= ratePct then return 'failure_rate' end
      if slowPct > 0 and (100 * sl / c) >= slowPct then return 'slow_call_rate' end
    end
  end
  return nil
end

local function clearTripCounters()
  s.failure_count = 0
  s.contributors = ''
  s.window_contributors = ''
  s.window = ''
  s.buckets = ''
  buckets = {}
  bucketCalls, bucketFails, bucketSlow = 0, 0, 0
  windowReset()
  quorumCache = nil
  contributedAt = nil
end

-- Transitions -----------------------------------------------------------------------------
-- Every change other instances must see: version + 1 (the optimistic lock) and one event per
-- version, encoded now (before any write, so a value cjson cannot encode fails the call cleanly).
local events = {}
local ledger = {}
local function publishChange(from, reason)
  local last = readLedger()
  if last and last.v > s.version then
    table.insert(repaired, 'version=' .. s.version .. ' is behind the ledger (' .. last.v .. '); continued from it')
    s.version = last.v
  end
  s.version = s.version + 1
  transitioned = 1
  dirty = true
  lastReason = reason
  s.last_transition_at_ms = now
  local entry = {'version', tostring(s.version), 'from', from, 'to', s.state, 'reason', reason, 'by', by, 'at_ms', tostring(now)}
  if manual then
    table.insert(entry, 'actor'); table.insert(entry, actor)
    table.insert(entry, 'note'); table.insert(entry, note)
    if forMs > 0 then table.insert(entry, 'until_ms'); table.insert(entry, tostring(s.forced_until_ms)) end
  end
  table.insert(ledger, entry)
  table.insert(events, cjson.encode({name = name, from = from, to = s.state, version = s.version, by = by,
           at_ms = now, reason = reason, opened_at_ms = s.opened_at_ms, open_timeout_ms = s.open_timeout_ms,
           forced = s.forced, failed_recoveries = s.failed_recoveries, forced_until_ms = s.forced_until_ms,
           actor = manual and actor or nil, note = manual and note or nil}))
end

local function transition(to, reason)
  local from = s.state
  if from == 'open' and to ~= 'open' then
    s.time_in_open_ms = s.time_in_open_ms + math.max(0, now - s.opened_at_ms)
  end
  s.state = to
  -- Every transition ends the half-open period's probe accounting (as in BreakerCore); the
  -- leases of a reopened period are left to lapse (entering half-open clears them).
  s.half_open_attempts = 0
  s.half_open_successes = 0
  if to == 'open' then
    s.opened_at_ms = now
    s.circuit_opens = s.circuit_opens + 1
  end
  if to == 'half-open' then
    s.half_open_at_ms = now
    s.leases = ''
  end
  if to == 'closed' then
    s.failed_recoveries = 0
    s.open_timeout_ms = base
    s.leases = ''
  end
  clearTripCounters()
  publishChange(from, reason)
end

local function timeout(failedRecoveries)
  local value = base * (mult ^ failedRecoveries)
  if value > maxTimeout then value = maxTimeout end
  return math.max(1, math.floor(value + 0.5))
end

local function pruneLeases()
  local kept = {}
  local active = 0
  for token, expiry in string.gmatch(s.leases, '([^:,]+):(%d+)') do
    if tonumber(expiry) > now then
      table.insert(kept, token .. ':' .. expiry)
      active = active + 1
    end
  end
  local pruned = table.concat(kept, ',')
  if pruned ~= s.leases then dirty = true end
  s.leases = pruned
  return active
end
local function takeLease(token)
  local kept = {}
  local found = false
  for tok, expiry in string.gmatch(s.leases, '([^:,]+):(%d+)') do
    if tok == token then found = tonumber(expiry) > now else table.insert(kept, tok .. ':' .. expiry) end
  end
  s.leases = table.concat(kept, ',')
  return found
end

-- Open -> half-open once the stored deadline has passed (server clock), unless forced.
local function maybeHalfOpen()
  if s.state == 'open' and s.forced ~= 'open' then
    local minOpen = cfg.min_open_ms or 0
    local due = s.opened_at_ms + math.max(s.open_timeout_ms, minOpen)
    if now >= due then transition('half-open', 'open_timeout_elapsed') end
  end
end

-- Closed -> open when a trip policy fires (a trip from closed starts the backoff at base).
local function tripIfDue()
  local reason = tripReason()
  if reason == nil then return false end
  s.open_timeout_ms = timeout(0)
  s.failed_recoveries = 0
  transition('open', reason)
  return true
end

-- Half-open for longer than half_open_max_wait: reopen, counted as a failed recovery.
local function maybeReopenStaleHalfOpen()
  local maxWait = cfg.ho_max_wait_ms or 0
  if maxWait > 0 and s.state == 'half-open' and s.half_open_at_ms > 0 and now - s.half_open_at_ms >= maxWait then
    s.failed_recoveries = s.failed_recoveries + 1
    s.failed_recoveries_total = s.failed_recoveries_total + 1
    s.open_timeout_ms = timeout(s.failed_recoveries)
    transition('open', 'half_open_max_wait')
  end
end

-- Operations ------------------------------------------------------------------------------
-- Manual overrides -------------------------------------------------------------------------
local function clearOverride()
  s.forced = ''
  s.forced_until_ms = 0
  s.forced_note = ''
  s.forced_actor = ''
end
local function setOverride(kind)
  s.forced = kind
  s.forced_until_ms = 0
  if forMs > 0 then s.forced_until_ms = now + math.floor(forMs) end
  s.forced_note = note
  s.forced_actor = actor
end
-- A restored hash is a change the fleet must see: the next version, a ledger entry, an event.
if restoredFromLedger then
  local saveManual = manual
  manual = false
  publishChange(s.state, 'restored_from_ledger')
  manual = saveManual
end
-- An override with an expiry lapses by server time, whatever the op: a lapsed force-open goes
-- to half-open (probes decide), a lapsed force-close to closed with trip counters cleared.
if s.forced ~= '' and s.forced_until_ms > 0 and now >= s.forced_until_ms then
  local was = s.forced
  clearOverride()
  local saveManual = manual
  manual = false
  if was == 'open' then
    if s.state == 'open' then transition('half-open', 'override_expired') else publishChange(s.state, 'override_expired') end
  else
    if s.state ~= 'closed' then transition('closed', 'override_expired') else clearTripCounters(); publishChange('closed', 'override_expired') end
  end
  manual = saveManual
end

-- How many more failures of kind `c` can be applied before any policy could fire: a lower
-- bound per policy (its threshold, its minimum number of calls, the failures a rate needs),
-- so applying that many at once changes nothing but the work. With a quorum not reached a
-- policy cannot fire in this run at all (the contributors do not change within a run).
local function failuresBeforeAnyTrip(c)
  local INF = 1000000000
  local skip = INF
  local consecutiveQuorum, windowQuorum = quorumReached()
  local slowFailure = (c == 'f')
  if threshold > 0 and consecutiveQuorum then skip = math.min(skip, threshold - s.failure_count - 1) end
  local fwCount = cfg.fw_count or 0
  if windowQuorum and fwCount > 0 and timeWindowMs > 0 then skip = math.min(skip, fwCount - bucketFails - 1) end
  local ratePct, slowPct = cfg.rate or 0, cfg.slow_rate or 0
  if windowQuorum and (ratePct > 0 or slowPct > 0) then
    local minCalls = cfg.min_calls or 1
    if countWindow > 0 then
      if winCalls < minCalls then
        skip = math.min(skip, minCalls - winCalls - 1)
      else
        -- Once the window holds only outcomes like this one, its rates stop changing: they
        -- fired already or never will. Until then, one by one (at most the window's size).
        local saturated = winCalls == countWindow and winFails == winCalls and ((slowFailure and winSlow == winCalls) or (not slowFailure and winSlow == 0))
        if not saturated then skip = 0 end
      end
    else
      local calls, fails, slows = bucketCalls, bucketFails, bucketSlow
      if calls < minCalls then
        skip = math.min(skip, minCalls - calls - 1)
      else
        -- (x + k) / (calls + k) >= pct / 100 first holds at k = (pct * calls - 100 x) / (100 - pct).
        local function needed(x, pct)
          if pct >= 100 then if x >= calls then return 0 else return INF end end
          return math.max(0, math.ceil((pct * calls - 100 * x) / (100 - pct)) - 1)
        end
        if ratePct > 0 then skip = math.min(skip, needed(fails, ratePct)) end
        -- Slow failures raise the slow-call rate; other failures only lower it.
        if slowPct > 0 and slowFailure then skip = math.min(skip, needed(slows, slowPct)) end
      end
    end
  end
  return math.max(0, math.min(skip, INF))
end
-- Past this many failures in one run every policy has crossed its threshold or cannot (see record).
local stepwiseLimit = math.max(threshold, cfg.fw_count or 0, countWindow, cfg.min_calls or 0) + 2

if op == 'record' then
  -- arg is run-length encoded, in call order: "S120F3s2" = 120 successes, 3 failures, 2 slow successes.
  loadBuckets()
  loadWindow()
  local recorded = 0
  for c, count in string.gmatch(arg, '([SFsf])(%d+)') do
    local n = tonumber(count)
    local failed = (c == 'F' or c == 'f')
    local slow = (c == 's' or c == 'f')
    recorded = recorded + n
    s.total_calls = s.total_calls + n
    if failed then
      s.total_failures = s.total_failures + n
      s.last_failure_at_ms = now
    else
      s.total_successes = s.total_successes + n
      s.last_success_at_ms = now
    end
    if slow then s.slow_calls = s.slow_calls + n end
    if s.state == 'closed' and s.forced == '' then
      if failed then
        -- Failures that no policy can act on yet are applied at once; then one by one while a
        -- policy can still cross its threshold, so the trip happens at exactly the tripping
        -- failure; past every threshold the rest of the run is applied at once. The work per
        -- call stays bounded by the policy's bounds whatever the batch size: no BUSY Redis.
        addContributor()
        local remaining = n
        local single = 0
        while remaining > 0 and s.state == 'closed' do
          local skip = math.min(remaining, failuresBeforeAnyTrip(c))
          if skip == 0 and single >= stepwiseLimit then skip = remaining end
          if skip > 0 then
            s.failure_count = s.failure_count + skip
            for _ = 1, math.min(skip, countWindow) do windowPush(c) end
            addToBucket(true, slow, skip)
            remaining = remaining - skip
            if remaining == 0 then tripIfDue() end
          else
            single = single + 1
            s.failure_count = s.failure_count + 1
            if countWindow > 0 then windowPush(c) end
            addToBucket(true, slow, 1)
            remaining = remaining - 1
            if tripIfDue() then break end
          end
        end
      else
        s.failure_count = 0
        s.contributors = ''
        quorumCache = nil
        contributedAt = nil
        for _ = 1, math.min(n, countWindow) do windowPush(c) end
        addToBucket(false, slow, n)
        -- A success can bring the window up to its minimum number of calls: rate policies fire then too.
        tripIfDue()
      end
    end
  end
  saveBuckets()
  saveWindow()
  dirty = dirty or recorded > 0
elseif op == 'acquire' then
  maybeReopenStaleHalfOpen()
  maybeHalfOpen()
  if s.state == 'half-open' then
    local active = pruneLeases()
    if active < halfOpenMax then
      local lease = tonumber(arg2) or 15000
      if s.leases == '' then s.leases = arg .. ':' .. (now + lease) else s.leases = s.leases .. ',' .. arg .. ':' .. (now + lease) end
      s.half_open_attempts = s.half_open_attempts + 1
      dirty = true
      result = 'granted'
    else
      result = 'denied'
    end
  elseif s.state == 'closed' then
    result = 'closed'
  else
    result = 'denied'
  end
elseif op == 'probe' then
  -- A probe result counts in the statistics whenever it arrives. It decides the half-open
  -- period it was granted in (same stored version) even after its lease expired: a late
  -- failure still reopens with backoff. From an earlier period it only counts.
  local token, outcome, grantedVersion = string.match(arg, '^([^:,]+):([SFI]):?(%d*)$')
  if token == nil then
    return argError('probe takes token:S|F|I[:version]', arg)
  end
  local leasesBefore = s.leases
  local held = takeLease(token)
  -- A lapsed lease is dropped too, and that is saved even when nothing else changes (an
  -- ignored result): left stored, it would hold a probe slot again if the clock went back.
  if s.leases ~= leasesBefore then dirty = true end
  local samePeriod = s.state == 'half-open' and (held or tostring(s.version) == grantedVersion)
  if outcome ~= 'I' then
    s.total_calls = s.total_calls + 1
    if outcome == 'S' then
      s.total_successes = s.total_successes + 1
      s.last_success_at_ms = now
    else
      s.total_failures = s.total_failures + 1
      s.last_failure_at_ms = now
    end
    dirty = true
  end
  if held then dirty = true end
  if not samePeriod then
    result = 'stale'
  else
    if not held then result = 'late' end
    if outcome == 'S' then
      s.half_open_successes = s.half_open_successes + 1
      if s.half_open_successes >= successThreshold then
        s.successful_recoveries = s.successful_recoveries + 1
        transition('closed', 'probes_succeeded')
      end
    elseif outcome == 'F' then
      s.failed_recoveries = s.failed_recoveries + 1
      s.failed_recoveries_total = s.failed_recoveries_total + 1
      s.open_timeout_ms = timeout(s.failed_recoveries)
      transition('open', 'probe_failed')
    end
  end
elseif op == 'force_open' then
  setOverride('open')
  if s.state ~= 'open' then
    s.open_timeout_ms = timeout(s.failed_recoveries)
    transition('open', 'forced_open')
  else
    publishChange('open', 'forced_open')
  end
elseif op == 'force_close' or op == 'reset' then
  if op == 'force_close' then setOverride('closed') else clearOverride() end
  s.failed_recoveries = 0
  if s.state ~= 'closed' then
    transition('closed', op == 'reset' and 'reset' or 'forced_closed')
  else
    clearTripCounters()
    s.open_timeout_ms = base
    publishChange('closed', op == 'reset' and 'reset' or 'forced_closed')
  end
elseif op == 'reconcile_open' then
  -- An instance tripped its local breaker while Redis was away: the more cautious state wins,
  -- but only if nobody changed the stored breaker since the instance last saw it (CAS on version).
  if s.state == 'closed' and s.forced == '' and tostring(s.version) == arg then
    s.open_timeout_ms = timeout(s.failed_recoveries)
    transition('open', 'reconciled_after_outage')
  else
    result = 'kept'
  end
elseif op == 'touch' then
  maybeReopenStaleHalfOpen()
  maybeHalfOpen()
else
  return redis.error_reply('unknown breaker op ' .. tostring(op))
end

-- Save ------------------------------------------------------------------------------------
if dirty then
  -- Keep the window-contributor list to instances still inside a window (bounded size).
  if quorum > 1 and usesWindows and s.window_contributors ~= '' then windowContributorCount() end
  s.schema, s.updated_by, s.updated_at_ms, s.last_reason = SCHEMA, by, now, lastReason
  s.base_open_timeout_ms, s.backoff_multiplier, s.max_open_timeout_ms = base, mult, maxTimeout
  local fields = {}
  for _, field in ipairs(STORED_FIELDS) do
    local value = s[field[1]]
    if value == nil then return redis.error_reply('ERR breaker.lua: stored field ' .. field[1] .. ' has no value') end
    table.insert(fields, field[1]); table.insert(fields, value)
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('EXPIRE', key, TTL)
end
-- The ledger: one entry per version, in the same atomic step as the change.
if logKey ~= nil and logKey ~= '' then
  for _, entry in ipairs(ledger) do
    redis.call('XADD', logKey, 'MAXLEN', '~', LEDGER_MAXLEN, '*', unpack(entry))
  end
end
for _, payload in ipairs(events) do
  redis.call('PUBLISH', channel, payload)
end

local reply = {}
reply[REPLY.state], reply[REPLY.version], reply[REPLY.opened_at_ms] = s.state, s.version, s.opened_at_ms
reply[REPLY.open_timeout_ms], reply[REPLY.forced], reply[REPLY.now_ms] = s.open_timeout_ms, s.forced, now
reply[REPLY.result], reply[REPLY.transitioned] = result, transitioned
reply[REPLY.failed_recoveries], reply[REPLY.failure_count] = s.failed_recoveries, s.failure_count
reply[REPLY.half_open_attempts], reply[REPLY.half_open_successes] = s.half_open_attempts, s.half_open_successes
reply[REPLY.repaired], reply[REPLY.reason] = table.concat(repaired, '; '), lastReason
return reply
