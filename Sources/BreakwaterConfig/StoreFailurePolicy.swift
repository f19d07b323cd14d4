/// What a breaker does while the shared store (Redis) is unreachable (SPEC §4).
public enum StoreFailurePolicy: String, Sendable, Equatable, Hashable, CaseIterable {
    /// Keep working on the local breaker with the same policy (the default).
    case local
    /// Reject every call until the store is back.
    case failClosed = "fail_closed"
    /// Allow every call until the store is back.
    case failOpen = "fail_open"
}
