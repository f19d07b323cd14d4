/// How a finished call counts for the breaker.
public enum CallOutcome: Sendable, Hashable, CaseIterable {
    /// The call succeeded; it counts toward health and closing.
    case success
    /// The call failed; it counts toward tripping and reopens a half-open breaker.
    case failure
    /// The call is not counted (e.g. cancelled); a probe permit it held is released.
    case ignored
}
