import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

@Suite("Redis outages: local fallback, policies and reconciliation", .tags(.integration))
struct OutageTests {
    func quickRedis(_ server: RedisServerProcess) throws -> RedisConfiguration { try quickReconnecting(server) }

    @Test("keeps deciding on the local breaker while Redis is down, then the more cautious state wins")
    func localFallbackAndReconcile() async throws {
        try await withRedisServer { server in
            let redis = try quickRedis(server)
            let name = try uniqueName("outage")
            try await withFleet(count: 1, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))[0]
                await record(breaker, .success)
                await fleet.groups[0].flush()
                server.kill()
                #expect(await eventually { !breaker.status().storeAvailable })
                await record(breaker, .failure, count: 3)
                let during = breaker.status()
                #expect(during.local.state == .open)
                await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
                // Redis comes back empty (no persistence): the instance re-opens the shared breaker.
                try server.start()
                try await withPool(redis, size: 1) { pool async throws in
                    #expect(await eventually(timeout: .seconds(10)) { (try? await storedFields(name, pool)["state"]) == "open" })
                    #expect(await eventually { breaker.status().storeAvailable && breaker.view.state == .open })
                }
            }
        }
    }

    @Test("fail_closed rejects and fail_open allows every call while Redis is down")
    func storeFailurePolicies() async throws {
        try await withRedisServer { server in
            let redis = try quickRedis(server)
            try await withFleet(count: 1, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let closedName = try uniqueName("failclosed")
                let openName = try uniqueName("failopen")
                let failClosed = try await fleet.breakers(closedName, options: fastOptions(onStoreFailure: .failClosed))[0]
                let failOpen = try await fleet.breakers(openName, options: fastOptions(onStoreFailure: .failOpen))[0]
                try await failOpen.forceOpen()
                await #expect(throws: CircuitOpenError.self) { _ = try await failOpen.acquire() }
                _ = try await failClosed.acquire()
                server.kill()
                #expect(await eventually { !failClosed.status().storeAvailable && !failOpen.status().storeAvailable })
                await #expect(throws: CircuitOpenError.self) { _ = try await failClosed.acquire() }
                _ = try await failOpen.acquire()
                try server.start()
                #expect(await eventually(timeout: .seconds(10)) { failClosed.status().storeAvailable })
                _ = try await failClosed.acquire()
            }
        }
    }

    @Test("a force-open holds through a Redis outage with the local policy; fail_open and fail_closed stay absolute", arguments: StoreFailurePolicy.allCases)
    func forcedOpenHoldsDuringOutage(policy: StoreFailurePolicy) async throws {
        try await withRedisServer { server in
            let redis = try quickRedis(server)
            try await withFleet(count: 1, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let name = try uniqueName("forced-outage")
                // The open timeout has long passed when Redis goes away: only the override keeps it open.
                let breaker = try await fleet.breakers(name, options: fastOptions(openTimeout: .milliseconds(50), onStoreFailure: policy))[0]
                try await breaker.forceOpen()
                try await Task.sleep(for: .milliseconds(100))
                server.kill()
                #expect(await eventually { !breaker.status().storeAvailable })
                for _ in 0..<5 {
                    if policy == .failOpen {
                        _ = try await breaker.acquire()  // fail_open allows every call while Redis is down
                    } else {
                        await #expect(throws: CircuitOpenError.self, "policy \(policy.rawValue) let a call through a force-open") { _ = try await breaker.acquire() }
                    }
                }
            }
        }
    }
}
