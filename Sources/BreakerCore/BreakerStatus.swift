/// A point-in-time snapshot of a breaker, in the `/breakers` JSON shape (snake_case).
public struct BreakerStatus: Sendable, Equatable, Codable {
    /// The breaker's name.
    public var name: String
    /// The current state (`"closed"`, `"open"` or `"half-open"` in JSON).
    public var state: BreakerState
    /// Increments on every transition or manual action.
    public var version: Int
    /// Consecutive failures counted toward the trip threshold while closed.
    public var failureCount: Int
    /// The current open duration in milliseconds (base × multiplier^failed recoveries, capped).
    public var openTimeoutMilliseconds: Int64
    /// Consecutive half-open → open transitions since the last close.
    public var failedRecoveries: Int
    /// Probes admitted in the current half-open episode.
    public var halfOpenAttempts: Int
    /// Probe successes in the current half-open episode.
    public var halfOpenSuccesses: Int
    /// Probes admitted and not yet recorded in the current half-open episode.
    public var halfOpenInFlight: Int
    /// The manual override in force, if any.
    public var forced: ForcedState?
    /// When the breaker last opened (milliseconds in the machine's time base), if it
    /// has ever opened.
    public var openedAtMilliseconds: Int64?
    /// Milliseconds until half-open may be entered; `nil` unless open and not forced.
    public var retryAfterMilliseconds: Int64?
    /// Lifetime counters; `time_in_open_ms` includes the current open period.
    public var statistics: BreakerStatistics

    /// Creates a snapshot (normally done by ``BreakerMachine/status(name:at:)``).
    ///
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - state: The current state.
    ///   - version: The current version.
    ///   - failureCount: Consecutive failures while closed.
    ///   - openTimeoutMilliseconds: The current open duration.
    ///   - failedRecoveries: Consecutive failed recoveries.
    ///   - halfOpenAttempts: Probes admitted this episode.
    ///   - halfOpenSuccesses: Probe successes this episode.
    ///   - halfOpenInFlight: Probes outstanding this episode.
    ///   - forced: The manual override, if any.
    ///   - openedAtMilliseconds: When it last opened.
    ///   - retryAfterMilliseconds: Time until half-open may be entered.
    ///   - statistics: Lifetime counters.
    public init(
        name: String, state: BreakerState, version: Int, failureCount: Int,
        openTimeoutMilliseconds: Int64, failedRecoveries: Int, halfOpenAttempts: Int,
        halfOpenSuccesses: Int, halfOpenInFlight: Int, forced: ForcedState?,
        openedAtMilliseconds: Int64?, retryAfterMilliseconds: Int64?, statistics: BreakerStatistics
    ) {
        self.name = name
        self.state = state
        self.version = version
        self.failureCount = failureCount
        self.openTimeoutMilliseconds = openTimeoutMilliseconds
        self.failedRecoveries = failedRecoveries
        self.halfOpenAttempts = halfOpenAttempts
        self.halfOpenSuccesses = halfOpenSuccesses
        self.halfOpenInFlight = halfOpenInFlight
        self.forced = forced
        self.openedAtMilliseconds = openedAtMilliseconds
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.statistics = statistics
    }

    enum CodingKeys: String, CodingKey {
        case name, state, version, forced, statistics
        case failureCount = "failure_count"
        case openTimeoutMilliseconds = "open_timeout_ms"
        case failedRecoveries = "failed_recoveries"
        case halfOpenAttempts = "half_open_attempts"
        case halfOpenSuccesses = "half_open_successes"
        case halfOpenInFlight = "half_open_in_flight"
        case openedAtMilliseconds = "opened_at_ms"
        case retryAfterMilliseconds = "retry_after_ms"
    }

    /// Encodes every field; absent optionals are written as JSON `null`.
    ///
    /// - Parameter encoder: The encoder.
    /// - Throws: Whatever the encoder throws.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(state, forKey: .state)
        try c.encode(version, forKey: .version)
        try c.encode(failureCount, forKey: .failureCount)
        try c.encode(openTimeoutMilliseconds, forKey: .openTimeoutMilliseconds)
        try c.encode(failedRecoveries, forKey: .failedRecoveries)
        try c.encode(halfOpenAttempts, forKey: .halfOpenAttempts)
        try c.encode(halfOpenSuccesses, forKey: .halfOpenSuccesses)
        try c.encode(halfOpenInFlight, forKey: .halfOpenInFlight)
        try c.encode(forced, forKey: .forced)
        try c.encode(openedAtMilliseconds, forKey: .openedAtMilliseconds)
        try c.encode(retryAfterMilliseconds, forKey: .retryAfterMilliseconds)
        try c.encode(statistics, forKey: .statistics)
    }
}
