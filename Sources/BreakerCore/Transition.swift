/// One state change or manual action, as delivered to observers.
///
/// Each transition carries the new ``version``; versions increase by exactly one per
/// transition, so observers called from different tasks can restore their order.
/// Manual actions always produce a transition, even when `from == to`.
public struct Transition: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The state before.
    public var from: BreakerState
    /// The state after.
    public var to: BreakerState
    /// Why it happened.
    public var reason: TransitionReason
    /// The breaker's version after this transition.
    public var version: Int
    /// When it happened (the instant passed to the machine).
    public var at: BreakerInstant

    /// Creates a transition.
    ///
    /// - Parameters:
    ///   - from: The state before.
    ///   - to: The state after.
    ///   - reason: Why it happened.
    ///   - version: The version after the transition.
    ///   - at: When it happened.
    public init(from: BreakerState, to: BreakerState, reason: TransitionReason, version: Int, at: BreakerInstant) {
        self.from = from
        self.to = to
        self.reason = reason
        self.version = version
        self.at = at
    }

    /// E.g. `closed -> open (failure_threshold) v3`.
    public var description: String {
        "\(from.rawValue) -> \(to.rawValue) (\(reason.rawValue)) v\(version)"
    }
}
