import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Instance ids end up in lease and quorum lists: ids that would break them are rejected, and a
/// restarted instance with a fixed id never reuses a probe token.
@Suite("Instance ids are validated and probe tokens never reused", .tags(.integration))
struct InstanceIdentityTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("the library rejects instance ids that break lease and quorum lists", arguments: ["a:b", "a,b", "", "a b", "a#b", "tab\there"])
    func instanceIDValidated(id: String) async throws {
        try await withGroup(SharedBreakerGroup(instanceID: id, redis: redis, pollInterval: .seconds(3600))) { group async throws in
            do {
                _ = try await group.breaker(named: try uniqueName("id"), options: fastOptions())
                Issue.record("instance id \(id.debugDescription) accepted")
            } catch let error as BreakerConfigError {
                #expect(error.problems.first?.field == "instance_id")
            }
        }
    }

    @Test("a restarted instance with a fixed id never reuses probe tokens")
    func probeTokensUniqueAcrossRestarts() async throws {
        let name = try uniqueName("tokens")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            _ = try await BreakerScript.call(pool, name: name, operation: "force_open", instanceID: "op", configuration: "base_ms=1")
            _ = try await BreakerScript.call(pool, name: name, operation: "reset", instanceID: "op", configuration: "base_ms=1")
            _ = try await pool.execute("HSET", name.stateKey, "state", "open", "opened_at_ms", "1", "open_timeout_ms", "1")
            for _ in 0..<2 {
                let group = idleGroup("fixed-id")
                let breaker = try await group.breaker(named: name, options: fastOptions(openTimeout: .milliseconds(1), halfOpenMax: 3))
                _ = try await breaker.acquire()
                await group.shutdown()
            }
            let leases = (try await storedFields(name, pool)["leases"] ?? "").split(separator: ",").map { $0.split(separator: ":")[0] }
            #expect(leases.count == 2 && Set(leases).count == 2, "leases \(leases)")
        }
    }
}
