/// What a shared breaker does while its store (Redis) is unreachable (see docs/semantics.md#when-redis-is-unreachable).
///
/// Defined here, with no I/O, so the config module and the shared breaker use one type.
public enum StoreFailurePolicy: String, Sendable, Codable, CaseIterable {
    /// Keep deciding on this instance's local breaker (same policy). The default.
    case local
    /// Reject every call until Redis is back.
    case failClosed = "fail_closed"
    /// Allow every call until Redis is back.
    case failOpen = "fail_open"
}
