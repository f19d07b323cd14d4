/// The answer to "may this call go to the upstream now?".
public enum Admission: Sendable, Equatable {
    /// The call may proceed. In half-open it carries the probe permit that must be
    /// handed back to ``BreakerMachine/record(_:duration:permit:at:)``; otherwise `nil`.
    case allowed(permit: ProbePermit?)
    /// The call must not proceed. `retryAfter` is the time until half-open may be
    /// entered, or `nil` when unknown (forced open, or half-open with all probes taken).
    case rejected(retryAfter: Duration?)

    /// Whether the call may proceed.
    @inlinable
    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }
}

/// Identifies a half-open probe; only permits from the current half-open episode count
/// as probe results. A stale permit is treated as an ordinary call.
public struct ProbePermit: Sendable, Hashable {
    /// The half-open episode this permit belongs to (increments on every entry into half-open).
    public let episode: UInt64

    /// Creates a permit (normally done by ``BreakerMachine``).
    ///
    /// - Parameter episode: The half-open episode.
    public init(episode: UInt64) {
        self.episode = episode
    }
}
