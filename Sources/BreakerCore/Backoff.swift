import SafeNumbers

/// The open duration after `n` consecutive failed recoveries:
/// `open_timeout × backoff_multiplier^n`, capped at `max_open_timeout`.
///
/// Pure and shared with the Redis-backed breaker. With the defaults:
/// 300 s → 450 → 675 → 1012.5 → 1518.75 → 2278.125 → 3417.1875 → 3600 (capped).
///
/// - Parameters:
///   - n: Consecutive half-open → open transitions since the last close (negative
///     values are treated as 0).
///   - config: Supplies `openTimeout`, `backoffMultiplier` and `maxOpenTimeout`.
/// - Returns: The open duration, never above `config.maxOpenTimeout` (nanosecond precision).
public func openTimeout(afterFailedRecoveries n: Int, config: BreakerConfig) -> Duration {
    .nanoseconds(openTimeoutNanoseconds(
        afterFailedRecoveries: n,
        base: config.openTimeout.nanosecondsClamped,
        multiplier: config.backoffMultiplier,
        cap: config.maxOpenTimeout.nanosecondsClamped
    ))
}

/// Nanosecond form of ``openTimeout(afterFailedRecoveries:config:)``.
func openTimeoutNanoseconds(afterFailedRecoveries n: Int, base: Int64, multiplier: Double, cap: Int64) -> Int64 {
    if base >= cap { return cap }
    if n <= 0 || !(multiplier > 1) { return base }
    var value = Double(base)
    let limit = Double(cap)
    for _ in 0..<n {
        value *= multiplier
        if value >= limit { return cap }
    }
    return Int64(value.rounded())
}
