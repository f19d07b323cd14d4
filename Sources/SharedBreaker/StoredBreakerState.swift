import BreakerCore
import RedisClient
import SafeNumbers

/// The shared state of one breaker as stored in `cb_state:<name>` (SPEC.md §3).
///
/// Decoding is tolerant: a missing or malformed field falls back to a safe default and is
/// listed in ``problems`` so the caller can log it with the key; the Lua script repairs the
/// stored hash on its next write.
public struct StoredBreakerState: Sendable, Equatable {
    public var state: BreakerState = .closed
    public var version: Int = 0
    public var openedAtMilliseconds: Int64 = 0
    public var openTimeoutMilliseconds: Int64 = 0
    public var failedRecoveries: Int = 0
    public var failureCount: Int = 0
    public var halfOpenAttempts: Int = 0
    public var halfOpenSuccesses: Int = 0
    public var forced: ForcedState?
    public var updatedBy: String = ""
    public var updatedAtMilliseconds: Int64 = 0
    public var circuitOpens: Int = 0
    public var successfulRecoveries: Int = 0
    public var totalSuccesses: Int = 0
    public var totalFailures: Int = 0
    public var timeInOpenMilliseconds: Int64 = 0
    /// Fleet statistics (SPEC §10): failed recoveries over the breaker's lifetime.
    public var failedRecoveriesTotal: Int = 0
    /// Server time of the last recorded failure (0: none).
    public var lastFailureAtMilliseconds: Int64 = 0
    /// Server time of the last transition or manual action (0: none).
    public var lastTransitionAtMilliseconds: Int64 = 0
    /// When a manual override lapses (server time; 0: held until reset).
    public var forcedUntilMilliseconds: Int64 = 0
    /// The operator's note on the override in force.
    public var forcedNote: String = ""
    /// Who set the override in force.
    public var forcedActor: String = ""
    /// `enforce`, or `shadow` (evaluated, never rejects).
    public var mode: String = "enforce"
    /// Why the version last moved (`last_reason`, e.g. `failure_threshold`, `reset`).
    public var lastReason: String = ""
    /// Fields that were present but unusable, e.g. `"version=abc"`.
    public var problems: [String] = []

    /// An empty (closed, version 0) state.
    public init() {}

    /// Decodes an HGETALL reply's fields.
    public init(fields: [String: String]) {
        // Integers in plain digits within 0...2^53, as the script writes them; anything else
        // (1e19, 3.5, inf, abc) is a problem, never a trap.
        func int(_ name: String) -> Int64? {
            guard let raw = fields[name], !raw.isEmpty else { return nil }
            guard let value = Int64(raw), value >= 0, value <= Self.maximumInteger else {
                problems.append("\(name)=\(raw.prefix(32))")
                return nil
            }
            return value
        }
        if let raw = fields["state"] {
            if let parsed = BreakerState(rawValue: raw) { state = parsed } else { problems.append("state=\(raw.prefix(32))") }
        }
        if let raw = fields["forced"], !raw.isEmpty {
            if let parsed = ForcedState(rawValue: raw) { forced = parsed } else { problems.append("forced=\(raw.prefix(32))") }
        }
        version = Int(int("version") ?? 0)
        openedAtMilliseconds = int("opened_at_ms") ?? 0
        openTimeoutMilliseconds = int("open_timeout_ms") ?? 0
        failedRecoveries = Int(int("failed_recoveries") ?? 0)
        failureCount = Int(int("failure_count") ?? 0)
        halfOpenAttempts = Int(int("half_open_attempts") ?? 0)
        halfOpenSuccesses = Int(int("half_open_successes") ?? 0)
        updatedBy = fields["updated_by"] ?? ""
        lastReason = fields["last_reason"] ?? ""
        failedRecoveriesTotal = Int(int("failed_recoveries_total") ?? 0)
        lastFailureAtMilliseconds = int("last_failure_at_ms") ?? 0
        lastTransitionAtMilliseconds = int("last_transition_at_ms") ?? 0
        forcedUntilMilliseconds = int("forced_until_ms") ?? 0
        forcedNote = fields["forced_note"] ?? ""
        forcedActor = fields["forced_actor"] ?? ""
        mode = fields["mode"].flatMap { $0.isEmpty ? nil : $0 } ?? "enforce"
        updatedAtMilliseconds = int("updated_at_ms") ?? 0
        circuitOpens = Int(int("circuit_opens") ?? 0)
        successfulRecoveries = Int(int("successful_recoveries") ?? 0)
        totalSuccesses = Int(int("total_successes") ?? 0)
        totalFailures = Int(int("total_failures") ?? 0)
        timeInOpenMilliseconds = int("time_in_open_ms") ?? 0
    }

    /// When an open breaker may move to half-open, in Redis server milliseconds.
    public var openUntilMilliseconds: Int64 { openedAtMilliseconds + openTimeoutMilliseconds }

    /// successes / (successes + failures) over the breaker's lifetime, or `nil` before any call.
    public var healthScore: Double? {
        Self.healthScore(successes: Int64(totalSuccesses), failures: Int64(totalFailures))
    }

    /// successes / (successes + failures), or `nil` before any call.
    public static func healthScore(successes: Int64, failures: Int64) -> Double? {
        successes + failures > 0 ? Double(successes) / Double(successes + failures) : nil
    }

    /// Time spent open, including the current open period up to `now` (server milliseconds).
    public func timeInOpen(at nowMilliseconds: Int64) -> Int64 {
        guard state == .open, openedAtMilliseconds > 0 else { return timeInOpenMilliseconds }
        return timeInOpenMilliseconds + max(0, nowMilliseconds - openedAtMilliseconds)
    }

    /// 2^53: the largest integer the script (Lua numbers are doubles) stores exactly.
    public static let maximumInteger: Int64 = 9_007_199_254_740_992
}

/// The reply every breaker script call returns: the state after the call, plus what happened.
struct ScriptReply: Sendable, Equatable {
    var state: BreakerState
    var version: Int
    var openedAtMilliseconds: Int64
    var openTimeoutMilliseconds: Int64
    var forced: ForcedState?
    var serverNowMilliseconds: Int64
    var result: String
    var transitioned: Bool
    var failedRecoveries: Int
    var failureCount: Int
    var halfOpenAttempts: Int
    var halfOpenSuccesses: Int
    var repairs: String
    var reason: String

    init(_ value: RedisValue) throws(RedisError) {
        guard let parts = value.array, parts.count >= 14,
              let state = parts[0].string.flatMap(BreakerState.init(rawValue:)),
              let version = parts[1].int, let openedAt = parts[2].int, let timeout = parts[3].int,
              let now = parts[5].int else {
            throw RedisError(.protocolError, "breaker script returned an unexpected reply: \(value)")
        }
        // Numbers as a stored state bounds them: the reply comes from Redis, which anything may run.
        let range = 0...StoredBreakerState.maximumInteger
        self.state = state
        self.version = Int(version.clamped(to: range))
        self.openedAtMilliseconds = openedAt.clamped(to: range)
        self.openTimeoutMilliseconds = timeout.clamped(to: range)
        self.forced = parts[4].string.flatMap { $0.isEmpty ? nil : ForcedState(rawValue: $0) }
        self.serverNowMilliseconds = now.clamped(to: range)
        self.result = parts[6].string ?? ""
        self.transitioned = parts[7].int == 1
        self.failedRecoveries = Int((parts[8].int ?? 0).clamped(to: range))
        self.failureCount = Int((parts[9].int ?? 0).clamped(to: range))
        self.halfOpenAttempts = Int((parts[10].int ?? 0).clamped(to: range))
        self.halfOpenSuccesses = Int((parts[11].int ?? 0).clamped(to: range))
        self.repairs = parts[12].string ?? ""
        self.reason = parts[13].string ?? ""
    }
}
