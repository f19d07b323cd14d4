/// Capped, jittered backoff between the tries of one slot (docs/semantics.md). Pure: the random
/// source is an argument, so tests can pin it.
public struct RetryBackoff: Sendable, Equatable {
    /// Retries after the first try (`retries:` in the config; default 2).
    public var retries: Int
    /// The delay before the first retry, before jitter.
    public var base: Duration
    /// No delay exceeds this.
    public var cap: Duration

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - retries: Retries after the first try.
    ///   - base: Delay before the first retry (doubles each time).
    ///   - cap: Upper bound of every delay.
    public init(retries: Int = 2, base: Duration = .milliseconds(200), cap: Duration = .seconds(2)) {
        self.retries = Swift.max(0, retries)
        self.base = base
        self.cap = cap
    }

    /// The delay before retry number `retry` (1-based): "equal jitter", half fixed and half
    /// random, of `min(cap, base × 2^(retry-1))`, so replicas retrying together spread out.
    ///
    /// - Parameters:
    ///   - retry: Which retry (1 for the first).
    ///   - unit: A random number in [0, 1).
    /// - Returns: The delay.
    public func delay(beforeRetry retry: Int, unit: Double) -> Duration {
        let exponent = Swift.min(Swift.max(0, retry - 1), 30)
        let full = Swift.min(cap, base * (1 << exponent))
        let jitter = Swift.min(Swift.max(unit, 0), 1)
        return full / 2 + full / 2 * jitter
    }
}

/// How long a replica waits past a slot's due time before claiming it: a random share of
/// the interval (at most 10 %, at most 250 ms), so replicas do not wake in lockstep.
///
/// - Parameters:
///   - interval: The collector's interval.
///   - unit: A random number in [0, 1).
/// - Returns: The extra wait.
public func wakeJitter(interval: Duration, unit: Double) -> Duration {
    let span = Swift.min(interval / 10, .milliseconds(250))
    return span * Swift.min(Swift.max(unit, 0), 1)
}
