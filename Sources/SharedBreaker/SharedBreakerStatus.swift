import BreakerSchema
import BreakerCore
import BreakerSchema

/// A shared breaker's status on one instance: the shared view and the local breaker.
///
/// The `/breakers` JSON shape: name, state, failure_count,
/// open timeout, `statistics`, `health_score`, `half_open`, `thresholds`, `last_failure_time`,
/// `last_state_change`, `version`, `instance`, `store_available`, `mode`, `local` and `stored`
/// (the one operator view, ``BreakerView``).
/// The fleet fields are top-level keys (from ``fleet``), absent when Redis could not be read.
public struct SharedBreakerStatus: Sendable, Equatable, Encodable {
    public var name: String
    public var instance: String
    public var state: BreakerState
    public var version: Int
    public var failureCount: Int
    public var openTimeoutMilliseconds: Int64
    public var openedAtMilliseconds: Int64?
    public var retryAfterMilliseconds: Int64?
    public var failedRecoveries: Int
    public var forced: ForcedState?
    public var updatedBy: String
    public var tripQuorum: Int
    public var onStoreFailure: StoreFailurePolicy
    /// Whether Redis answered the last attempt.
    public var storeAvailable: Bool
    /// This instance's own breaker (self-protection below quorum, and fallback while Redis is away).
    public var local: BreakerStatus
    /// `enforce` or `shadow`.
    public var mode: BreakerMode
    /// The policy this instance runs the breaker with (`thresholds`).
    public var thresholds: Thresholds
    /// Fleet-wide lifetime statistics and probe accounting, from `cb_state:<name>` when it
    /// was last read (`nil` if Redis could not be read).
    public var fleet: FleetStatistics?
    /// The stored breaker as every operator view shows it (``BreakerView``), when Redis was read.
    public var stored: BreakerView?

    /// The policy, as `/breakers` shows it.
    public struct Thresholds: Sendable, Equatable, Codable {
        public var failureThreshold: Int
        public var openTimeoutMilliseconds: Int64
        public var maxOpenTimeoutMilliseconds: Int64
        public var backoffMultiplier: Double
        public var halfOpenMaxCalls: Int
        public var halfOpenSuccessThreshold: Int
        public var tripQuorum: Int

        enum CodingKeys: String, CodingKey {
            case failureThreshold = "failure_threshold"
            case openTimeoutMilliseconds = "open_timeout_ms"
            case maxOpenTimeoutMilliseconds = "max_open_timeout_ms"
            case backoffMultiplier = "backoff_multiplier"
            case halfOpenMaxCalls = "half_open_max_calls"
            case halfOpenSuccessThreshold = "half_open_success_threshold"
            case tripQuorum = "trip_quorum"
        }
    }

    /// Fleet statistics as top-level keys of a `/breakers` entry.
    public struct FleetStatistics: Sendable, Equatable, Codable {
        public var statistics: [String: Int64]
        public var healthScore: Double?
        public var halfOpen: [String: Int]
        public var lastFailureTime: Int64?
        public var lastStateChange: Int64?
        public var forcedUntilMilliseconds: Int64?
        public var forcedNote: String?
        public var forcedActor: String?

        enum CodingKeys: String, CodingKey {
            case statistics
            case healthScore = "health_score"
            case halfOpen = "half_open"
            case lastFailureTime = "last_failure_time"
            case lastStateChange = "last_state_change"
            case forcedUntilMilliseconds = "forced_until_ms"
            case forcedNote = "forced_note"
            case forcedActor = "forced_actor"
        }

        /// - Parameters:
        ///   - stored: the hash as read.
        ///   - nowMilliseconds: Redis server time, to include the current open period.
        ///   - halfOpenMaxCalls: the policy's probe cap.
        public init(stored: StoredBreakerState, nowMilliseconds: Int64, halfOpenMaxCalls: Int) {
            // Every lifetime counter of the stored layout; time in open includes the current open period.
            var counters: [String: Int64] = [:]
            for field in StoredField.allCases where field.group == .statistics && field.kind != .time {
                counters[field.name] = field == .timeInOpen ? stored.timeInOpen(at: nowMilliseconds) : stored[integer: field]
            }
            statistics = counters
            healthScore = stored.healthScore
            halfOpen = ["attempts": stored.halfOpenAttempts, "successes": stored.halfOpenSuccesses, "max_calls": halfOpenMaxCalls]
            lastFailureTime = stored.lastFailureAtMilliseconds > 0 ? stored.lastFailureAtMilliseconds : nil
            lastStateChange = stored.lastTransitionAtMilliseconds > 0 ? stored.lastTransitionAtMilliseconds : nil
            forcedUntilMilliseconds = stored.forcedUntilMilliseconds > 0 ? stored.forcedUntilMilliseconds : nil
            forcedNote = stored.forcedNote.isEmpty ? nil : stored.forcedNote
            forcedActor = stored.forcedActor.isEmpty ? nil : stored.forcedActor
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, instance, state, version, forced, local
        case failureCount = "failure_count"
        case openTimeoutMilliseconds = "open_timeout_ms"
        case openedAtMilliseconds = "opened_at_ms"
        case retryAfterMilliseconds = "retry_after_ms"
        case failedRecoveries = "failed_recoveries"
        case updatedBy = "updated_by"
        case tripQuorum = "trip_quorum"
        case onStoreFailure = "on_store_failure"
        case storeAvailable = "store_available"
        case mode, thresholds, stored
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(instance, forKey: .instance)
        try container.encode(state, forKey: .state)
        try container.encode(version, forKey: .version)
        try container.encodeIfPresent(forced, forKey: .forced)
        try container.encode(local, forKey: .local)
        try container.encode(failureCount, forKey: .failureCount)
        try container.encode(openTimeoutMilliseconds, forKey: .openTimeoutMilliseconds)
        try container.encodeIfPresent(openedAtMilliseconds, forKey: .openedAtMilliseconds)
        try container.encodeIfPresent(retryAfterMilliseconds, forKey: .retryAfterMilliseconds)
        try container.encode(failedRecoveries, forKey: .failedRecoveries)
        try container.encode(updatedBy, forKey: .updatedBy)
        try container.encode(tripQuorum, forKey: .tripQuorum)
        try container.encode(onStoreFailure, forKey: .onStoreFailure)
        try container.encode(storeAvailable, forKey: .storeAvailable)
        try container.encode(mode, forKey: .mode)
        try container.encode(thresholds, forKey: .thresholds)
        try container.encodeIfPresent(stored, forKey: .stored)
        // The fleet statistics sit beside the other keys, as top-level keys.
        try fleet?.encode(to: encoder)
    }
}
