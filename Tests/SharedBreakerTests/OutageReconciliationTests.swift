import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// What an instance sends when Redis comes back after an outage: its outcomes (respecting the
/// quorum), never an override of an operator's change, and a trip that survives a failed attempt.
@Suite("Reconciling after an outage", .tags(.integration))
struct OutageReconciliationTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("with quorum 2, an outage's failures are sent as outcomes, not as a reconcile-open")
    func outageRespectsQuorum() async throws {
        try await withRedisServer { server in
            let quick = try quickReconnecting(server)
            let name = try uniqueName("outage-quorum")
            try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
                try await withFleet(count: 1, redis: quick, pollInterval: .milliseconds(100)) { fleet in
                    let a = try await fleet.breakers(name, options: fastOptions(threshold: 3, openTimeout: .seconds(60), quorum: 2))[0]
                    await record(a, .success)
                    await fleet.groups[0].flush()
                    server.kill()
                    #expect(await eventually { !a.status().storeAvailable })
                    await record(a, .failure, count: 3)
                    #expect(a.status().local.state == .open)
                    try server.start()
                    try await withPool(quick, size: 1) { check in
                        #expect(await eventually(timeout: .seconds(20)) { (try? await storedFields(name, check)["total_failures"]) == "3" }, "the outage's failures were not sent")
                        let fields = try await storedFields(name, check)
                        #expect(fields["state"] == "closed", "one instance opened the fleet's breaker despite quorum 2: \(fields)")
                        #expect(fields["failure_count"] == "3")
                    }
                }
            }
        }
    }

    @Test("an operator's reset during an instance's outage is not overridden by its reconcile")
    func resetDuringOutageStands() async throws {
        let name = try uniqueName("reset-outage")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withGroup(idleGroup("A")) { group in
                let a = try await group.breaker(named: name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
                a.setStoreAvailable(false)
                await record(a, .failure, count: 3)
                #expect(a.status().local.state == .open)
                let operatorReset = try ScriptReply(try await BreakerScript.call(pool, name: name, operation: "reset", instanceID: "operator", configuration: ""))
                try await a.refresh()
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "closed", "the reconcile overrode the operator's reset: \(fields)")
                #expect(a.view.version == operatorReset.version)
                // Without a change by anyone during the outage, the more cautious state still wins.
                let other = try uniqueName("reopen-outage")
                let b = try await group.breaker(named: other, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
                b.setStoreAvailable(false)
                await record(b, .failure, count: 3)
                try await b.refresh()
                #expect(try await storedFields(other, pool)["state"] == "open")
            }
        }
    }

    @Test("the outage trip survives a failed reconcile; a failed batch is counted as dropped")
    func reconcileRetriedAndDropsCounted() async throws {
        let acl = FileManager.default.temporaryDirectory.appendingPathComponent("bw-limited-\(UUID().uuidString).acl")
        try "user default on nopass ~* &* +@all\nuser limited on >limited ~* &* +@all -evalsha -eval -script\n".write(to: acl, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: acl) }
        try await withRedisServer(arguments: ["--aclfile", acl.path]) { server in
            let limited = try RedisConfiguration(url: "redis://limited:limited@127.0.0.1:\(server.port)")
            try await withPool(try RedisConfiguration(url: server.url), size: 1) { admin in
                try await withGroup(idleGroup("A", redis: limited)) { group in
                    let name = try uniqueName("retry")
                    try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
                        let a = try await group.breaker(named: name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
                        // A batch the script refuses (NOPERM) is dropped, and counted.
                        await record(a, .success, count: 4)
                        await a.flush()
                        #expect(a.droppedOutcomes == 4)
                        a.setStoreAvailable(false)
                        await record(a, .failure, count: 3)
                        await #expect(throws: RedisError.self) { try await a.refresh() }
                        _ = try await admin.execute("ACL", "SETUSER", "limited", "+evalsha", "+eval", "+script")
                        try await a.refresh()
                        #expect(try await storedFields(name, admin)["state"] == "open", "the outage's trip was forgotten after a failed reconcile")
                    }
                }
            }
        }
    }
}
