import BreakwaterTestSupport
import FleetCollection
import Foundation
import RedisClient
import Testing

/// Every cb_state hash, the ledger and the schedules survive a Redis restart with
/// AOF on and the shipped ACL file, written as the least-privilege `breakwater` user.
@Suite("Durability: schedules, cursors and rate-limit rings survive a Redis restart", .tags(.integration))
struct FleetDurabilityTests {
    static let deployRedis = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/redis")

    @Test("cb_sched and cb_quota written by the breakwater user are intact after a restart (compose flags, shipped ACL, AOF)")
    func restartKeepsSchedules() async throws {
        let acl = FileManager.default.temporaryDirectory.appendingPathComponent("bw-fleet-durable-\(UUID().uuidString).acl")
        defer { try? FileManager.default.removeItem(at: acl) }
        let makeACL = try ChildProcess("sh", [Self.deployRedis.appendingPathComponent("make-acl").path, acl.path], environment: [
            "BREAKWATER_REDIS_PASSWORD": "fleet-bw", "REDIS_ADMIN_PASSWORD": "fleet-admin",
        ])
        #expect(await makeACL.exited(within: .seconds(10)) == 0, "make-acl: \(makeACL.output)")
        let server = try RedisServerProcess(arguments: [
            "--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", acl.path, "--save", "3600 1 300 100",
        ])
        defer { server.stop() }
        let url = "redis://breakwater:fleet-bw@127.0.0.1:\(server.port)"
        try await withPool(try RedisConfiguration(url: url), size: 1) { pool in
            let schedule = CollectorSchedule(name: "tweets", instanceID: "node-1", store: pool)
            _ = try await schedule.claim(interval: .seconds(60), mode: .fleet, group: "x-app", kind: "twitter")
            _ = try await schedule.commit([("1700000000000000009", [("id", "1700000000000000009")])], to: "collector:tweets", maxLength: 100)
            try await schedule.pause(for: .seconds(600))
            try await schedule.finish("rate_limited")
            let limit = SharedRateLimit(group: "x-app", requests: 3, period: .seconds(900), store: pool)
            for _ in 0..<2 { _ = try await limit.take(kind: "twitter", instanceID: "node-1") }
            let before = (try await pool.execute("HGETALL", "cb_sched:tweets").fieldDictionary ?? [:], try await pool.execute("HGETALL", "cb_quota:x-app").fieldDictionary ?? [:])
            #expect(before.0["cursor"] == "1700000000000000009" && before.0["paused_until_ms"] != nil && before.1["t1"] != nil)
            await pool.shutdown()

            server.kill(signal: SIGTERM)
            try server.start()
            try await withPool(try RedisConfiguration(url: url), size: 1) { after async throws in
                #expect(try await after.execute("HGETALL", "cb_sched:tweets").fieldDictionary == before.0)
                #expect(try await after.execute("HGETALL", "cb_quota:x-app").fieldDictionary == before.1)
                #expect(try await after.execute("XRANGE", "collector:tweets", "-", "+").array?.count == 1)
                // The restored ring still counts the two tokens taken before the restart.
                #expect(try await SharedRateLimit.peek(group: "x-app", store: after)?.left == 1)
                let log = (try? String(contentsOf: server.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
                #expect(!log.contains("NOPERM"), "Redis refused part of the AOF on replay:\n\(log.suffix(600))")
            }
        }
    }
}
