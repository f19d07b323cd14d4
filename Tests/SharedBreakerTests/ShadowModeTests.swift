import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// A shadow breaker (`mode: shadow`) is evaluated and recorded fleet-wide but never rejects.
@Suite("Shadow mode: evaluated fleet-wide, never rejects", .tags(.integration))
struct ShadowModeTests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    @Test("a shadow breaker stores its mode and still trips fleet-wide")
    func shadowModeStored() async throws {
        let name = try uniqueName("shadow-script")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let reply = try ScriptReply(try await BreakerScript.call(pool, name: name, operation: "record", instanceID: "A", configuration: "threshold=2;mode=shadow", argument: "F2"))
            #expect(reply.state == .open)
            #expect(try await storedFields(name, pool)["mode"] == "shadow")
        }
    }

    @Test("a shadow breaker opens in Redis but admits every call and counts what it would have rejected")
    func shadowNeverRejects() async throws {
        let redis = try TestRedis.configuration()
        try await withPool(redis, size: 1) { pool in
            let name = try uniqueName("shadow")
            try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
                try await withFleet(count: 2, redis: redis) { fleet in
                    var options = fastOptions(threshold: 2, openTimeout: .seconds(60))
                    options.mode = .shadow
                    let breakers = try await fleet.breakers(name, options: options)
                    await record(breakers[0], .failure, count: 2)
                    await fleet.groups[0].flush()
                    #expect(try await storedFields(name, pool)["state"] == "open")
                    #expect(await eventually { breakers[1].view.state == .open })
                    for breaker in breakers {
                        for _ in 0..<3 {
                            let ticket = try await breaker.acquire()
                            await breaker.record(.success, duration: .milliseconds(1), ticket: ticket)
                        }
                        #expect(breaker.status().mode == .shadow)
                        #expect(breaker.wouldRejectedCalls == 3)
                    }
                    await fleet.groups[1].flush()
                    // Outcomes while (shadow-)open still count in the fleet statistics.
                    #expect(await eventually { (try? await storedFields(name, pool)["total_successes"]) == "6" })
                    await pool.shutdown()
                }
            }
        }
    }
}
