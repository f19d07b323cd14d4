import SafeNumbers
import BreakerSchema
import BreakerCore
import SharedBreaker

/// The breaker policy of one seed, drawn from the seed.
///
/// Timeouts are powers of two in ms with multiplier 1.5 or 2, so every backed-off timeout is
/// a whole number of ms both in the machine (ns) and in the script (ms, rounded): the model
/// compares exact values. They are seconds long, so the real time a seed takes (well under a
/// second) rarely decides a deadline: clock jumps do.
struct ModelCheckPolicy: CustomStringConvertible {
    let config: BreakerConfig
    let options: SharedBreakerOptions

    init(using rng: inout SeededGenerator) throws {
        let base = Int64([4096, 8192, 16384].randomElement(using: &rng)!)
        let halfOpenMax = Int.random(in: 1...3, using: &rng)
        var config = BreakerConfig(
            failureThreshold: Int.random(in: 1...5, using: &rng),
            openTimeout: .milliseconds(base),
            halfOpenMaxCalls: halfOpenMax,
            halfOpenSuccessThreshold: Int.random(in: 1...halfOpenMax, using: &rng),
            backoffMultiplier: rng.chance(0.5) ? 1.5 : 2,
            maxOpenTimeout: .milliseconds(base * 8)
        )
        if rng.chance(0.3) { config.minimumOpenDuration = .milliseconds(base * 2) }
        if rng.chance(0.3) { config.halfOpenMaxWait = .milliseconds(base * 3) }
        try config.validate()
        self.config = config
        self.options = SharedBreakerOptions(breaker: config, tripQuorum: 1, probeLease: .milliseconds(base))
    }

    /// Base open timeout in ms.
    var baseMilliseconds: Int64 { config.openTimeout.millisecondsClamped }

    var description: String {
        let c = config
        return "threshold=\(c.failureThreshold) base_ms=\(baseMilliseconds) mult=\(c.backoffMultiplier) "
            + "ho_max=\(c.halfOpenMaxCalls) ho_success=\(c.halfOpenSuccessThreshold) "
            + "min_open_ms=\(c.minimumOpenDuration.millisecondsClamped) "
            + "ho_max_wait_ms=\(c.halfOpenMaxWait.map { "\($0.millisecondsClamped)" } ?? "-")"
    }
}
