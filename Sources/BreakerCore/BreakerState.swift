/// The state of a circuit breaker, with the wire names used in Redis and JSON.
public enum BreakerState: String, Sendable, Codable, CaseIterable {
    /// Calls flow; outcomes are counted toward the trip policies.
    case closed
    /// Calls are rejected until the open timeout elapses (or a manual action).
    case open
    /// A limited number of probe calls test whether the upstream recovered.
    case halfOpen = "half-open"
}

/// A manual override that holds until ``BreakerMachine/reset(at:)``.
public enum ForcedState: String, Sendable, Codable, CaseIterable {
    /// Held open: every call is rejected, no automatic half-open.
    case open
    /// Held closed: every call is admitted, trip policies never fire.
    case closed
}
