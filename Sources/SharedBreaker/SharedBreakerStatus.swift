import BreakerCore

/// A shared breaker's status on one instance: the shared view and the local breaker.
///
/// The JSON shape is the seed service's `get_status` shape (name, state, failure_count,
/// open timeout, statistics …) plus `version`, `instance`, `store_available` and `local`.
public struct SharedBreakerStatus: Sendable, Equatable, Codable {
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
    }
}
