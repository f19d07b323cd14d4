import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Trip policies at their edges: a rate is checked on the success that brings the window up to
/// `minimum_calls`, and a call exactly at the slow-call threshold is not slow (`>`, as documented).
@Suite("Trip policies at their edges", .tags(.integration))
struct TripPolicyEdgeTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("failure rate is checked when a success brings the count window up to minimum_calls", arguments: [
        "threshold=0;rate=50;min_calls=10;cw=10;base_ms=60000",
        "threshold=0;rate=50;min_calls=10;tw_ms=60000;base_ms=60000",
    ])
    func rateCheckedOnSuccess(config: String) async throws {
        let name = try uniqueName("rate-success")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let first = try await op(name, "record", config: config, "F5")
            #expect(first.state == .closed)
            let reply = try await op(name, "record", config: config, "S5")
            #expect(reply.state == .open, "50 % of 10 calls did not trip")
            #expect(reply.reason == "failure_rate")
        }
    }

    @Test("a call exactly at the slow-call threshold is not slow (> as documented)")
    func slowThresholdIsStrict() async throws {
        let name = try uniqueName("slow")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withGroup(idleGroup("A")) { group in
                var config = BreakerConfig(failureThreshold: 5, openTimeout: .seconds(60))
                config.tripPolicies.append(.slowCallRate(percent: 50, slowerThan: .milliseconds(100), window: .count(10), minimumCalls: 10))
                let a = try await group.breaker(named: name, options: SharedBreakerOptions(breaker: config))
                for duration in [Duration.milliseconds(100), .milliseconds(101)] {
                    let ticket = try await a.acquire()
                    await a.record(.success, duration: duration, ticket: ticket)
                }
                await a.drain()
                #expect(try await storedFields(name, pool)["slow_calls"] == "1")
            }
        }
    }
}
