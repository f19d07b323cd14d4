import BreakerCore
import Testing

@Suite("Config validation")
struct BreakerConfigTests {
    @Test("the defaults are the documented ones and are valid")
    func defaults() throws {
        let config = BreakerConfig()
        #expect(config.failureThreshold == 5)
        #expect(config.openTimeout == .seconds(300))
        #expect(config.halfOpenMaxCalls == 3)
        #expect(config.halfOpenSuccessThreshold == 2)
        #expect(config.backoffMultiplier == 1.5)
        #expect(config.maxOpenTimeout == .seconds(3600))
        #expect(config.minimumOpenDuration == .zero)
        #expect(config.halfOpenMaxWait == nil)
        #expect(config.tripPolicies == [.consecutiveFailures(5)])
        try config.validate()
    }

    @Test("derived trip policies follow failureThreshold; explicit ones stick")
    func derivedPolicies() {
        var config = BreakerConfig()
        config.failureThreshold = 3
        #expect(config.tripPolicies == [.consecutiveFailures(3)])
        config.tripPolicies = [.failuresInWindow(count: 5, window: .seconds(60))]
        config.failureThreshold = 9
        #expect(config.tripPolicies == [.failuresInWindow(count: 5, window: .seconds(60))])
        #expect(BreakerConfig(failureThreshold: 5) == BreakerConfig(tripPolicies: [.consecutiveFailures(5)]))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let config: BreakerConfig
        let field: String
        let reason: String
        var testDescription: String { "\(field) \(reason)" }
    }

    static let cases: [Case] = [
        Case(config: BreakerConfig(failureThreshold: 0), field: "failure_threshold", reason: "must be >= 1, got 0"),
        Case(config: BreakerConfig(openTimeout: .zero), field: "open_timeout_seconds", reason: "must be >= 0.001 (1 ms), got 0.0"),
        // A sub-millisecond timeout would be 0 ms in the shared store (half-opens at once).
        Case(config: BreakerConfig(openTimeout: .microseconds(100)), field: "open_timeout_seconds", reason: "must be >= 0.001 (1 ms), got 0.0001"),
        Case(config: BreakerConfig(halfOpenMaxCalls: 0, halfOpenSuccessThreshold: 1),
             field: "half_open_max_calls", reason: "must be >= 1, got 0"),
        Case(config: BreakerConfig(halfOpenSuccessThreshold: 0),
             field: "half_open_success_threshold", reason: "must be >= 1, got 0"),
        Case(config: BreakerConfig(halfOpenMaxCalls: 3, halfOpenSuccessThreshold: 4),
             field: "half_open_success_threshold", reason: "must be <= half_open_max_calls (3), got 4"),
        Case(config: BreakerConfig(backoffMultiplier: 0.5),
             field: "backoff_multiplier", reason: "must be a finite number >= 1, got 0.5"),
        Case(config: BreakerConfig(backoffMultiplier: .nan),
             field: "backoff_multiplier", reason: "must be a finite number >= 1, got nan"),
        Case(config: BreakerConfig(maxOpenTimeout: .seconds(100)),
             field: "max_open_timeout_seconds", reason: "must be >= open_timeout_seconds (300.0), got 100.0"),
        Case(config: BreakerConfig(minimumOpenDuration: .seconds(-1)),
             field: "minimum_open_duration_seconds", reason: "must be >= 0, got -1.0"),
        Case(config: BreakerConfig(halfOpenMaxWait: .zero),
             field: "half_open_max_wait_seconds", reason: "must be >= 0.001 (1 ms) when set, got 0.0"),
        Case(config: BreakerConfig(slowCallDuration: .seconds(-2)),
             field: "slow_call_duration_seconds", reason: "must be > 0 when set, got -2.0"),
        Case(config: BreakerConfig(tripPolicies: []), field: "trip_policies", reason: "must contain at least one policy, got none"),
        Case(config: BreakerConfig(tripPolicies: [.consecutiveFailures(0)]),
             field: "trip_policies[0].failure_threshold", reason: "must be >= 1, got 0"),
        Case(config: BreakerConfig(tripPolicies: [.failuresInWindow(count: 5, window: .zero)]),
             field: "trip_policies[0].window_seconds", reason: "must be > 0, got 0.0"),
        Case(config: BreakerConfig(tripPolicies: [.failureRate(percent: 101, window: .count(10), minimumCalls: 5)]),
             field: "trip_policies[0].percent", reason: "must be > 0 and <= 100, got 101.0"),
        Case(config: BreakerConfig(tripPolicies: [.failureRate(percent: -1, window: .count(10), minimumCalls: 5)]),
             field: "trip_policies[0].percent", reason: "must be > 0 and <= 100, got -1.0"),
        Case(config: BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(0), minimumCalls: 1)]),
             field: "trip_policies[0].window_size", reason: "must be between 1 and 100000, got 0"),
        Case(config: BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(10), minimumCalls: 11)]),
             field: "trip_policies[0].minimum_calls", reason: "must be <= window_size (10), got 11"),
        Case(config: BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .time(.zero), minimumCalls: 1)]),
             field: "trip_policies[0].window_seconds", reason: "must be > 0, got 0.0"),
        Case(config: BreakerConfig(tripPolicies: [
                .slowCallRate(percent: 50, slowerThan: .zero, window: .count(10), minimumCalls: 0)]),
             field: "trip_policies[0].slow_call_duration_seconds", reason: "must be > 0, got 0.0"),
    ]

    @Test("each invalid field is named with its reason", arguments: cases)
    func namesTheField(_ c: Case) throws {
        let error = try #require(throws: BreakerConfigError.self) { try c.config.validate() }
        #expect(error.problems.contains(.init(field: c.field, reason: c.reason)), "got: \(error)")
        #expect(error.description.contains("\(c.field) \(c.reason)"))
    }

    @Test("every problem is listed at once, in field order")
    func listsEveryProblem() throws {
        let config = BreakerConfig(
            failureThreshold: 0, openTimeout: .seconds(300), halfOpenMaxCalls: 2, halfOpenSuccessThreshold: 3,
            backoffMultiplier: 0.9, maxOpenTimeout: .seconds(10),
            tripPolicies: [
                .consecutiveFailures(5),
                .slowCallRate(percent: 0, slowerThan: .seconds(-1), window: .count(0), minimumCalls: 0),
            ])
        let error = try #require(throws: BreakerConfigError.self) { try config.validate() }
        #expect(error.fields == [
            "failure_threshold", "half_open_success_threshold", "backoff_multiplier", "max_open_timeout_seconds",
            "trip_policies[1].percent", "trip_policies[1].slow_call_duration_seconds",
            "trip_policies[1].minimum_calls", "trip_policies[1].window_size",
        ])
        #expect(error.description.split(separator: "\n").first == "failure_threshold must be >= 1, got 0")
    }

    @Test("the machine and the breaker refuse an invalid config")
    func constructorsValidate() {
        #expect(throws: BreakerConfigError.self) { try BreakerMachine(config: BreakerConfig(failureThreshold: 0)) }
        #expect(throws: BreakerConfigError.self) {
            try CircuitBreaker(name: "x", config: BreakerConfig(backoffMultiplier: 0))
        }
    }
}
