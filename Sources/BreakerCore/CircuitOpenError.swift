/// Thrown by ``CircuitBreaker`` when a call is rejected without reaching the upstream.
public struct CircuitOpenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The breaker's name.
    public var name: String
    /// The breaker's state at rejection (open, or half-open with every probe taken).
    public var state: BreakerState
    /// Time until half-open may be entered, or `nil` when unknown (forced open,
    /// half-open with all probes in flight).
    public var retryAfter: Duration?

    /// Creates the error.
    ///
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - state: The state at rejection.
    ///   - retryAfter: Time until a retry may be admitted, if known.
    public init(name: String, state: BreakerState, retryAfter: Duration?) {
        self.name = name
        self.state = state
        self.retryAfter = retryAfter
    }

    /// E.g. `circuit breaker 'moralis' is open (retry after 299.5 s)`.
    public var description: String {
        var text = "circuit breaker '\(name)' is \(state.rawValue)"
        if let retryAfter { text += " (retry after \(retryAfter.secondsDouble) s)" }
        return text
    }
}
