import BreakerCore
import BreakerSchema
import BreakwaterTestSupport
import Foundation
import RedisClient
import SharedBreaker
import Testing

/// The limits of a policy are defined once: whatever the Swift side accepts, the script
/// accepts, and the script's ranges are the ones the schema publishes.
@Suite("The policy contract: what validates in Swift runs in the script", .tags(.integration))
struct PolicyContractTests {
    /// A policy drawn at and around every limit (the edges are where layers used to disagree).
    static func randomOptions(_ random: inout SystemRandomNumberGenerator) -> SharedBreakerOptions {
        // Mostly valid values at and inside the limits, sometimes one just outside.
        func edge(_ limit: Int) -> Int {
            Int.random(in: 0..<10, using: &random) == 0 ? [0, limit + 1].randomElement(using: &random)!
                : [1, 2, limit - 1, limit, Int.random(in: 1...max(1, limit), using: &random)].randomElement(using: &random)!
        }
        func seconds(_ choices: [Double]) -> Duration { .seconds(choices.randomElement(using: &random)!) }
        let year = 31_536_000.0
        var policies: [TripPolicy] = [.consecutiveFailures(edge(BreakerConfig.maximumCount))]
        if Bool.random(using: &random) {
            policies.append(.failuresInWindow(count: edge(BreakerConfig.maximumCount), window: seconds([0.001, 1, 60, year, year + 1])))
        }
        if Bool.random(using: &random) {
            let window: SlidingWindow = Bool.random(using: &random)
                ? .count(edge(SharedBreakerLimits.maximumCountWindow)) : .time(seconds([0.001, 10, year]))
            policies.append(.failureRate(percent: [0.001, 50, 100, 100.5].randomElement(using: &random)!, window: window, minimumCalls: edge(10)))
        }
        let base = seconds([0.001, 1, 300, 3600, year])
        let probes = edge(BreakerConfig.maximumProbes)
        let config = BreakerConfig(
            failureThreshold: edge(BreakerConfig.maximumCount),
            openTimeout: base,
            halfOpenMaxCalls: probes,
            halfOpenSuccessThreshold: Int.random(in: 1...max(1, probes), using: &random),
            backoffMultiplier: [1, 1.5, 999.9, BreakerConfig.maximumBackoffMultiplier, 1000.5, 5000].randomElement(using: &random)!,
            maxOpenTimeout: max(base, seconds([300, 3600, year, year + 1])),
            minimumOpenDuration: seconds([0, 1, year]),
            halfOpenMaxWait: Bool.random(using: &random) ? seconds([0.001, 30, year]) : nil,
            tripPolicies: policies
        )
        return SharedBreakerOptions(breaker: config, tripQuorum: edge(SharedBreakerLimits.maximumTripQuorum))
    }

    @Test("every policy that validates is accepted by the breaker script (500 random policies at the limits)")
    func validatedPoliciesRun() async throws {
        let pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
        let name = try BreakerName("policy-contract-\(UUID().uuidString.prefix(8))")
        var random = SystemRandomNumberGenerator()
        var accepted = 0
        do {
            for _ in 0..<500 {
                let options = Self.randomOptions(&random)
                guard (try? options.validate()) != nil else { continue }
                accepted += 1
                let policy = PolicyEncoding.encode(options.breaker, tripQuorum: options.tripQuorum, mode: options.mode)
                do {
                    _ = try await BreakerScriptCall(.touch, name: name, instanceID: "contract-1", policy: policy).run(on: pool)
                } catch {
                    Issue.record("a validated policy was refused by the script: \(policy): \(error)")
                }
            }
        }
        _ = try? await pool.execute("DEL", name.stateKey, name.logKey)
        await pool.shutdown()
        #expect(accepted >= 50, "the generator must reach valid policies (got \(accepted))")
    }

    @Test("the script's policy ranges are the schema's: an out-of-range value is refused, naming the key")
    func outOfRangeRefused() async throws {
        let pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
        let name = try BreakerName("policy-range-\(UUID().uuidString.prefix(8))")
        for key in PolicyKey.allCases {
            let bad: String
            switch key.range {
            case .integer(let range): bad = "\(range.upperBound + 1)"
            case .number(let range): bad = "\(range.upperBound + 1)"
            case .words: bad = "nonsense"
            }
            do {
                _ = try await BreakerScriptCall(.touch, name: name, instanceID: "contract-1", policy: "\(key.rawValue)=\(bad)").run(on: pool)
                Issue.record("\(key.rawValue)=\(bad) was accepted")
            } catch let error as RedisError {
                #expect(error.message.contains("policy \(key.rawValue)"), "\(error.message)")
            }
        }
        _ = try? await pool.execute("DEL", name.stateKey, name.logKey)
        await pool.shutdown()
    }
}
