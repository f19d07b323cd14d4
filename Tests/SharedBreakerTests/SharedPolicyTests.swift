import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// The trip policies as the Lua script applies them, cluster-wide.
@Suite("Shared trip policies", .tags(.integration))
struct SharedPolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var policies: [TripPolicy]
        /// Outcomes in order: "F" failure, "S" success, "s" slow success.
        var outcomes: String
        /// How many outcomes may be recorded before the breaker must still be closed.
        var closedAfter: Int
        var reason: String
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "failures in a time window", policies: [.failuresInWindow(count: 3, window: .seconds(60))],
             outcomes: "FSFSF", closedAfter: 4, reason: "failures_in_window"),
        Case(label: "failure rate over the last 10 calls, minimum 10", policies: [.failureRate(percent: 50, window: .count(10), minimumCalls: 10)],
             outcomes: "FSFSFSFSSF", closedAfter: 9, reason: "failure_rate"),
        Case(label: "failure rate over a time window, minimum 4", policies: [.failureRate(percent: 50, window: .time(.seconds(60)), minimumCalls: 4)],
             outcomes: "SFSF", closedAfter: 3, reason: "failure_rate"),
        Case(label: "slow-call rate over the last 4 calls", policies: [.slowCallRate(percent: 75, slowerThan: .milliseconds(100), window: .count(4), minimumCalls: 4)],
             outcomes: "sSss", closedAfter: 3, reason: "slow_call_rate"),
    ]

    @Test("each policy trips at exactly the call that crosses it, across two instances", arguments: cases)
    func policyTrips(_ testCase: Case) async throws {
        let redis = try TestRedis.configuration()
        try await withPool(redis, size: 1) { pool in
            let name = try uniqueName("policy")
            try await withKeysDeleted([name.stateKey], pool: pool) {
                try await withFleet(count: 2, redis: redis, pollInterval: .seconds(600)) { fleet in
                    var config = BreakerConfig(openTimeout: .seconds(60), tripPolicies: testCase.policies)
                    config.maxOpenTimeout = .seconds(3600)
                    let breakers = try await fleet.breakers(name, options: SharedBreakerOptions(breaker: config))
                    let reasons = ReasonLog()
                    for breaker in breakers { breaker.onTransition { reasons.append($0.reason) } }
                    for (index, outcome) in testCase.outcomes.enumerated() {
                        // Alternate instances: the counting is cluster-wide.
                        let breaker = breakers[index % 2]
                        let ticket = try await breaker.acquire()
                        let slow = outcome == "s"
                        await breaker.record(outcome == "F" ? .failure : .success, duration: slow ? .milliseconds(200) : .milliseconds(1), ticket: ticket)
                        await fleet.groups[index % 2].flush()
                        let state = try await storedFields(name, pool)["state"]
                        if index + 1 <= testCase.closedAfter {
                            #expect(state == "closed", "\(testCase.label): open after \(index + 1) outcomes")
                        }
                    }
                    let fields = try await storedFields(name, pool)
                    #expect(fields["state"] == "open")
                    #expect(fields["version"] == "1")
                    #expect(reasons.all.contains(testCase.reason), "\(testCase.label): reasons \(reasons.all)")
                    await fleet.stop()
                }
            }
        }
    }
}

/// Transition reasons seen by observers (called from any thread).
final class ReasonLog: @unchecked Sendable {
    private let lock = NSLock()
    private var reasons: [String] = []
    func append(_ reason: String) { lock.withLock { reasons.append(reason) } }
    var all: [String] { lock.withLock { reasons } }
}
