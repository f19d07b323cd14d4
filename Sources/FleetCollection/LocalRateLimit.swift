/// The same ring of tokens as `cb_quota:<group>`, kept in memory: what an instance enforces
/// on its own while Redis is unreachable (the group limit then holds per instance only).
/// Pure: time is an argument.
public struct LocalRateLimit: Sendable, Equatable {
    private var taken: [Duration]
    private var next = 0
    /// How long a token stays out.
    public let hold: Duration

    /// Creates a full bucket.
    ///
    /// - Parameters:
    ///   - requests: Tokens.
    ///   - hold: How long a taken token stays out (the period plus its guard).
    public init(requests: Int, hold: Duration) {
        taken = Array(repeating: .zero, count: Swift.max(1, requests))
        self.hold = hold
    }

    /// Takes a token at `now` (time since any fixed origin), or says how long until one is free.
    ///
    /// - Parameter now: The current time; must not go backwards.
    /// - Returns: `nil` when a token was taken, else the wait.
    public mutating func take(now: Duration) -> Duration? {
        let oldest = taken[next]
        if oldest != .zero, oldest + hold > now { return oldest + hold - now }
        taken[next] = Swift.max(now, .nanoseconds(1))
        next = (next + 1) % taken.count
        return nil
    }
}
