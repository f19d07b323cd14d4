/// The operations of `Lua/schedule.lua` on `cb_sched:<name>`.
public enum ScheduleOperation: String, CaseIterable, Sendable {
    /// Asks for the next poll slot → `{result, wait_ms, cursor, lag_ms, now_ms, repaired, last_poll_ms}`.
    case claim
    /// Pauses the collector (and its rate-limit group) fleet-wide → `{paused_until_ms, now_ms, repaired}`.
    case pause
    /// Records how a slot ended → `{now_ms, repaired}`.
    case finish
}

/// What `schedule.lua claim` answers in its first slot.
public enum ClaimResult: String, CaseIterable, Sendable {
    /// Poll now: this instance holds the slot.
    case claimed
    /// Not due: sleep `wait_ms`.
    case wait
    /// A fleet pause is in force: sleep `wait_ms`.
    case paused
}

/// The operations of `Lua/quota.lua` on `cb_quota:<group>`.
public enum QuotaOperation: String, CaseIterable, Sendable {
    /// Takes a token → `{result, wait_ms, slot, repaired, now_ms}`.
    case take
    /// Returns a granted token once its request completed → `{released, now_ms}`.
    case release
    /// Tokens left → `{tokens_left, requests, per_ms, kind}`.
    case peek
}

/// What `quota.lua take` answers in its first slot.
public enum TakeResult: String, CaseIterable, Sendable {
    /// A token is yours (`slot` and `now_ms` identify the grant for `release`).
    case granted
    /// No token free; try again in `wait_ms`.
    case wait
    /// The group is used by collectors of another kind (`slot` names it).
    case conflict
}
