/// Every field of the `cb_state:<name>` hash: its name, what kind of value it holds, which
/// part of the breaker it belongs to and what it means.
///
/// This table is the stored layout. The breaker script receives it when loaded (it saves
/// exactly these fields and loads the statistics generically), ``StoredBreakerState`` decodes
/// it, ``BreakerView`` shows it, and `breakwater schema --json` publishes it for tools. Adding a
/// statistic is one case here plus the line in `Lua/breaker.lua` that counts it.
public enum StoredField: String, CaseIterable, Sendable, Codable {
    case schema
    case state
    case version
    case openedAt = "opened_at_ms"
    case openTimeout = "open_timeout_ms"
    case failedRecoveries = "failed_recoveries"
    case failureCount = "failure_count"
    case halfOpenAttempts = "half_open_attempts"
    case halfOpenSuccesses = "half_open_successes"
    case halfOpenAt = "half_open_at_ms"
    case forced
    case forcedUntil = "forced_until_ms"
    case forcedNote = "forced_note"
    case forcedActor = "forced_actor"
    case mode
    case updatedBy = "updated_by"
    case updatedAt = "updated_at_ms"
    case lastReason = "last_reason"
    case circuitOpens = "circuit_opens"
    case successfulRecoveries = "successful_recoveries"
    case failedRecoveriesTotal = "failed_recoveries_total"
    case totalSuccesses = "total_successes"
    case totalFailures = "total_failures"
    case totalCalls = "total_calls"
    case slowCalls = "slow_calls"
    case timeInOpen = "time_in_open_ms"
    case lastFailureAt = "last_failure_at_ms"
    case lastSuccessAt = "last_success_at_ms"
    case lastTransitionAt = "last_transition_at_ms"
    case baseOpenTimeout = "base_open_timeout_ms"
    case backoffMultiplier = "backoff_multiplier"
    case maxOpenTimeout = "max_open_timeout_ms"
    case leases
    case contributors
    case windowContributors = "window_contributors"
    case window
    case buckets

    /// The stored layout these fields describe, written as the `schema` field. A change that
    /// older daemons cannot read bumps it (see docs/protocol.md, "Versioning").
    public static let layoutVersion = 1

    /// What a field holds, and so how it is checked and shown.
    public enum Kind: String, Sendable, Codable {
        /// `closed`, `open` or `half-open`.
        case state
        /// `open`, `closed`, or empty for no override.
        case forced
        /// `enforce` or `shadow`.
        case mode
        /// A non-negative integer (a counter or version).
        case count
        /// A non-negative duration in milliseconds.
        case milliseconds
        /// A Redis server time in milliseconds since the epoch (0: never).
        case time
        /// A decimal number.
        case number
        /// Free text, bounded.
        case text
        /// A comma-separated list of bookkeeping items (internal).
        case list
    }

    /// Which part of the breaker a field belongs to.
    public enum Group: String, Sendable, Codable {
        /// State and its version, the open period, half-open progress, who wrote last.
        case core
        /// Lifetime statistics, counted across the fleet.
        case statistics
        /// The manual override in force.
        case override
        /// The policy the daemons last stored (used by callers that send none, such as the CLI).
        case policy
        /// Probe leases, quorum contributors and windows: bookkeeping, not shown.
        case bookkeeping
    }

    /// The stored field name.
    public var name: String { rawValue }

    /// What the field holds.
    public var kind: Kind {
        switch self {
        case .state: .state
        case .forced: .forced
        case .mode: .mode
        case .updatedBy, .lastReason, .forcedNote, .forcedActor: .text
        case .openTimeout, .timeInOpen, .baseOpenTimeout, .maxOpenTimeout: .milliseconds
        case .openedAt, .halfOpenAt, .forcedUntil, .updatedAt, .lastFailureAt, .lastSuccessAt, .lastTransitionAt: .time
        case .backoffMultiplier: .number
        case .leases, .contributors, .windowContributors, .window, .buckets: .list
        case .schema, .version, .failedRecoveries, .failureCount, .halfOpenAttempts, .halfOpenSuccesses,
             .circuitOpens, .successfulRecoveries, .failedRecoveriesTotal, .totalSuccesses, .totalFailures,
             .totalCalls, .slowCalls: .count
        }
    }

    /// Which part of the breaker the field belongs to.
    public var group: Group {
        switch self {
        case .circuitOpens, .successfulRecoveries, .failedRecoveriesTotal, .totalSuccesses, .totalFailures,
             .totalCalls, .slowCalls, .timeInOpen, .lastFailureAt, .lastSuccessAt, .lastTransitionAt: .statistics
        case .forcedUntil, .forcedNote, .forcedActor: .override
        case .baseOpenTimeout, .backoffMultiplier, .maxOpenTimeout: .policy
        case .leases, .contributors, .windowContributors, .window, .buckets: .bookkeeping
        default: .core
        }
    }

    /// The longest value the script keeps for a text field (longer ones are truncated and reported).
    public var textLimit: Int? {
        switch self {
        case .forcedNote: 4096
        case .forcedActor: 256
        case .updatedBy: InstanceID.maximumBytes
        case .lastReason: 64
        default: nil
        }
    }

    /// What the field means, in one line (`breakwater schema`, docs/protocol.md).
    public var summary: String {
        switch self {
        case .schema: "the stored layout version (\(Self.layoutVersion)); absent in hashes written before it existed"
        case .state: "closed, open or half-open"
        case .version: "moves by one on every transition or manual action; never reused, never lowered"
        case .openedAt: "when the breaker last opened"
        case .openTimeout: "how long this open period lasts (backed off after failed recoveries)"
        case .failedRecoveries: "failed recoveries since the breaker last closed (drives the backoff)"
        case .failureCount: "consecutive failures while closed"
        case .halfOpenAttempts: "probes admitted in this half-open period"
        case .halfOpenSuccesses: "probes that succeeded in this half-open period"
        case .halfOpenAt: "when the breaker last moved to half-open"
        case .forced: "a manual override in force: open, closed, or empty"
        case .forcedUntil: "when a timed override lapses (0: held until reset)"
        case .forcedNote: "the operator's note on the override"
        case .forcedActor: "who set the override"
        case .mode: "enforce, or shadow (evaluated, never rejects)"
        case .updatedBy: "the instance that wrote last"
        case .updatedAt: "when it wrote"
        case .lastReason: "why the version last moved (failure_threshold, reset, ...)"
        case .circuitOpens: "times the breaker opened"
        case .successfulRecoveries: "half-open periods that closed the breaker"
        case .failedRecoveriesTotal: "half-open periods that reopened it"
        case .totalSuccesses: "successful calls"
        case .totalFailures: "failed calls"
        case .totalCalls: "calls recorded"
        case .slowCalls: "calls slower than the slow-call threshold"
        case .timeInOpen: "time spent open, up to the last close"
        case .lastFailureAt: "when the last failure was recorded"
        case .lastSuccessAt: "when the last success was recorded"
        case .lastTransitionAt: "when the last transition or manual action happened"
        case .baseOpenTimeout: "the policy's base open timeout"
        case .backoffMultiplier: "the policy's backoff factor per failed recovery"
        case .maxOpenTimeout: "the policy's cap on the open timeout"
        case .leases: "probe leases: token:expiry_ms, ..."
        case .contributors: "instances whose failures count toward the trip quorum"
        case .windowContributors: "instance:at_ms:seq of failures inside a window"
        case .window: "the last calls of a count window (S/F/s/f)"
        case .buckets: "time-window buckets: start_ms:calls:failures:slow"
        }
    }

    /// Whether views show the field (bookkeeping fields are not).
    public var isShown: Bool { group != .bookkeeping }
}
