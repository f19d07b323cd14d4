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

/// Runs `operation`, throwing ``CallTimeoutError`` if it has not finished after `timeout`
/// (the operation is then cancelled).
///
/// - Parameters:
///   - timeout: how long the operation may take.
///   - name: the breaker name reported in the error.
///   - operation: the call to run.
/// - Returns: the operation's result.
/// - Throws: ``CallTimeoutError``, or whatever the operation throws.
public func withCallTimeout<T: Sendable>(
    _ timeout: Duration, name: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw CallTimeoutError(name: name, timeout: timeout)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
