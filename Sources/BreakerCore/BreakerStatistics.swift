/// Lifetime counters of one breaker; kept across ``BreakerMachine/reset(at:)``.
///
/// Encoded with the snake_case names of the stored fields (docs/protocol.md#statistics-lifetime-fleet-wide).
public struct BreakerStatistics: Sendable, Equatable, Codable {
    /// Entries into open (trips, failed recoveries and forced opens).
    public var circuitOpens: Int = 0
    /// half-open → closed transitions by successful probes.
    public var successfulRecoveries: Int = 0
    /// half-open → open transitions (probe failure or half-open max wait), all time.
    public var failedRecoveries: Int = 0
    /// Total time spent open, in milliseconds (completed open periods only; see
    /// ``BreakerStatus/statistics`` for the figure including the current one).
    public var timeInOpenMilliseconds: Int64 = 0
    /// Recorded successes.
    public var totalSuccesses: Int = 0
    /// Recorded failures.
    public var totalFailures: Int = 0
    /// Recorded ignored outcomes.
    public var totalIgnored: Int = 0
    /// Recorded calls slower than ``BreakerConfig/slowCallDuration`` (when set).
    public var slowCalls: Int = 0
    /// Calls rejected by admission.
    public var rejectedCalls: Int = 0

    /// Creates empty statistics.
    public init() {}

    /// `totalSuccesses / (totalSuccesses + totalFailures)`, or 1.0 before any call.
    public var healthScore: Double {
        let total = totalSuccesses + totalFailures
        return total == 0 ? 1.0 : Double(totalSuccesses) / Double(total)
    }

    /// Recorded successes plus failures (ignored outcomes excluded).
    public var totalCalls: Int { totalSuccesses + totalFailures }

    enum CodingKeys: String, CodingKey {
        case circuitOpens = "circuit_opens"
        case successfulRecoveries = "successful_recoveries"
        case failedRecoveries = "failed_recoveries"
        case timeInOpenMilliseconds = "time_in_open_ms"
        case totalSuccesses = "total_successes"
        case totalFailures = "total_failures"
        case totalIgnored = "total_ignored"
        case slowCalls = "slow_calls"
        case rejectedCalls = "rejected_calls"
        case healthScore = "health_score"
    }

    /// Decodes statistics; `health_score` is derived and ignored on input.
    ///
    /// - Parameter decoder: The decoder.
    /// - Throws: `DecodingError` when a counter is missing or has the wrong type.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        circuitOpens = try c.decode(Int.self, forKey: .circuitOpens)
        successfulRecoveries = try c.decode(Int.self, forKey: .successfulRecoveries)
        failedRecoveries = try c.decode(Int.self, forKey: .failedRecoveries)
        timeInOpenMilliseconds = try c.decode(Int64.self, forKey: .timeInOpenMilliseconds)
        totalSuccesses = try c.decode(Int.self, forKey: .totalSuccesses)
        totalFailures = try c.decode(Int.self, forKey: .totalFailures)
        totalIgnored = try c.decodeIfPresent(Int.self, forKey: .totalIgnored) ?? 0
        slowCalls = try c.decodeIfPresent(Int.self, forKey: .slowCalls) ?? 0
        rejectedCalls = try c.decodeIfPresent(Int.self, forKey: .rejectedCalls) ?? 0
    }

    /// Encodes every counter plus the derived `health_score`.
    ///
    /// - Parameter encoder: The encoder.
    /// - Throws: Whatever the encoder throws.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(circuitOpens, forKey: .circuitOpens)
        try c.encode(successfulRecoveries, forKey: .successfulRecoveries)
        try c.encode(failedRecoveries, forKey: .failedRecoveries)
        try c.encode(timeInOpenMilliseconds, forKey: .timeInOpenMilliseconds)
        try c.encode(totalSuccesses, forKey: .totalSuccesses)
        try c.encode(totalFailures, forKey: .totalFailures)
        try c.encode(totalIgnored, forKey: .totalIgnored)
        try c.encode(slowCalls, forKey: .slowCalls)
        try c.encode(rejectedCalls, forKey: .rejectedCalls)
        try c.encode(healthScore, forKey: .healthScore)
    }
}
