/// Thrown by ``CircuitBreaker/run(timeout:_:)`` when the call exceeds its timeout.
/// The default ``OutcomeClassifier`` counts it as a failure.
public struct CallTimeoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The breaker's name.
    public var name: String
    /// The timeout that was exceeded.
    public var timeout: Duration

    /// Creates the error.
    ///
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - timeout: The exceeded timeout.
    public init(name: String, timeout: Duration) {
        self.name = name
        self.timeout = timeout
    }

    /// E.g. `call through circuit breaker 'moralis' timed out after 10.0 s`.
    public var description: String {
        "call through circuit breaker '\(name)' timed out after \(timeout.secondsDouble) s"
    }
}
