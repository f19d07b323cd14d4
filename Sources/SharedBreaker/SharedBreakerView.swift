import BreakerSchema
import BreakerCore

/// This instance's picture of a shared breaker: what admission decides on, without Redis.
///
/// Updated from the replies to this instance's own script calls, from `cb_events:<name>`
/// messages, and from periodic reads; a newer `version` always wins.
public struct SharedBreakerView: Sendable, Equatable {
    /// The shared state as last seen.
    public var state: BreakerState = .closed
    /// The stored `version` as last seen.
    public var version: Int = 0
    /// Redis server time (ms) of the last transition to open.
    public var openedAtMilliseconds: Int64 = 0
    /// The current open duration (ms).
    public var openTimeoutMilliseconds: Int64 = 0
    /// A manual override in force.
    public var forced: ForcedState?
    /// Consecutive failed recoveries (drives the backoff).
    public var failedRecoveries: Int = 0
    /// Failures counted toward the trip, cluster-wide, as last seen.
    public var failureCount: Int = 0
    /// Which instance made the last change.
    public var updatedBy: String = ""
    /// The newest version the store itself reported (a script reply or a read). Events are
    /// hints and never raise it: only a store that went back from this version lost the key.
    public var confirmedVersion: Int = 0

    /// When an open breaker may move to half-open, in Redis server milliseconds.
    public var openUntilMilliseconds: Int64 { openedAtMilliseconds + openTimeoutMilliseconds }

    init() {}

    init(stored: StoredBreakerState) {
        state = stored.state
        version = stored.version
        openedAtMilliseconds = stored.openedAtMilliseconds
        openTimeoutMilliseconds = stored.openTimeoutMilliseconds
        forced = stored.forced
        failedRecoveries = stored.failedRecoveries
        failureCount = stored.failureCount
        updatedBy = stored.updatedBy
        confirmedVersion = stored.version
    }

    mutating func apply(_ reply: BreakerReply, by instance: String) {
        state = reply.state
        version = reply.version
        openedAtMilliseconds = reply.openedAtMilliseconds
        openTimeoutMilliseconds = reply.openTimeoutMilliseconds
        forced = reply.forced
        failedRecoveries = reply.failedRecoveries
        failureCount = reply.failureCount
        if reply.transitioned { updatedBy = instance }
        confirmedVersion = max(confirmedVersion, reply.version)
    }
}

/// A transition of a shared breaker as one instance observed it (for logs and metrics).
public struct SharedTransition: Sendable, Equatable, CustomStringConvertible {
    /// The breaker.
    public var name: BreakerName
    /// The state before.
    public var from: BreakerState
    /// The state after.
    public var to: BreakerState
    /// The stored version after the transition.
    public var version: Int
    /// Why, e.g. `failure_threshold`, `probe_failed`, `forced_open` (empty when unknown).
    public var reason: String
    /// The instance that made it.
    public var by: String

    public var description: String {
        "\(name) \(from.rawValue) -> \(to.rawValue) v\(version) reason=\(reason.isEmpty ? "-" : reason) by=\(by)"
    }
}
