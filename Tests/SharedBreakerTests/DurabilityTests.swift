import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// A Redis restart under the shipped ACL file and AOF keeps every breaker, field for field.
/// Redis replays the AOF as the default user and checks each replayed MULTI/EXEC (a script's
/// effects) against it: with `default off -@all` every breaker write would be refused on
/// replay and a restart would lose every `cb_state:*` key.
@Suite("Durability: a Redis restart configured as compose and systemd configure it keeps every breaker", .tags(.integration))
struct DurabilityTests {
    static let breakwaterPassword = "durability-bw-password"
    static let adminPassword = "durability-admin-password"

    enum Setup: String, CaseIterable, Sendable {
        /// docker-compose.yml's redis command line.
        case compose
        /// deploy/systemd/redis-breakwater.conf as the config file.
        case systemd
    }

    /// Renders the shipped ACL template with deploy/redis/make-acl (hashed passwords).
    static func renderACL() async throws -> URL {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bw-durable-\(UUID().uuidString).acl")
        let makeACL = try ChildProcess("sh", [ACLTests.redisDeployDirectory.appendingPathComponent("make-acl").path, output.path], environment: [
            "BREAKWATER_REDIS_PASSWORD": breakwaterPassword, "REDIS_ADMIN_PASSWORD": adminPassword,
        ])
        #expect(await makeACL.exited(within: .seconds(10)) == 0, "make-acl: \(makeACL.output)")
        return output
    }

    static func server(_ setup: Setup, acl: URL) throws -> RedisServerProcess {
        switch setup {
        case .compose:
            return try RedisServerProcess(arguments: [
                "--appendonly", "yes", "--appendfsync", "everysec", "--aclfile", acl.path,
                "--save", "3600 1 300 100", "--maxmemory-policy", "noeviction",
            ])
        case .systemd:
            let conf = ACLTests.redisDeployDirectory.deletingLastPathComponent().appendingPathComponent("systemd/redis-breakwater.conf")
            return try RedisServerProcess(arguments: ["--aclfile", acl.path], configFile: conf.path)
        }
    }

    @Test("breakers in every state survive a restart (SIGTERM, as compose and systemd stop Redis)", arguments: Setup.allCases)
    func restartKeepsEveryBreaker(setup: Setup) async throws {
        let acl = try await Self.renderACL()
        defer { try? FileManager.default.removeItem(at: acl) }
        let server = try Self.server(setup, acl: acl)
        defer { server.stop() }
        let breakwater = try RedisConfiguration(url: "redis://breakwater:\(Self.breakwaterPassword)@127.0.0.1:\(server.port)")
        let admin = try RedisConfiguration(url: "redis://admin:\(Self.adminPassword)@127.0.0.1:\(server.port)")
        try await withPool(breakwater, size: 1) { pool in
            #expect(try await RedisConnectionPool(configuration: admin, size: 1).execute("CONFIG", "GET", "appendonly").array?.last?.string == "yes")

            func op(_ name: BreakerName, _ operation: String, _ argument: String = "", extra: String = "") async throws -> ScriptReply {
                try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: "node-1",
                                                            configuration: "threshold=2;base_ms=60000;mult=1.5;max_ms=3600000;ho_max=3;ho_success=2", argument: argument, extra: extra))
            }
            // closed with statistics; open after failed recoveries (backoff); half-open with a lease;
            // forced open; forced closed.
            let closed = try uniqueName("closed"), open = try uniqueName("open"), halfOpen = try uniqueName("half")
            let forcedOpen = try uniqueName("fopen"), forcedClosed = try uniqueName("fclosed")
            _ = try await op(closed, "record", "S7F1")
            _ = try await op(open, "record", "F2")
            _ = try await pool.execute("HSET", open.stateKey, "opened_at_ms", "1")  // long past: due to half-open
            _ = try await op(open, "acquire", "p1", extra: "60000")
            _ = try await op(open, "probe", "p1:F")
            _ = try await pool.execute("HSET", halfOpen.stateKey, "state", "open", "opened_at_ms", "1", "open_timeout_ms", "1")
            _ = try await op(halfOpen, "acquire", "p2", extra: "3600000")
            _ = try await op(forcedOpen, "force_open")
            _ = try await op(forcedClosed, "force_close")
            let names = [closed, open, halfOpen, forcedOpen, forcedClosed]
            var before: [BreakerName: [String: String]] = [:]
            var ledgers: [BreakerName: [LedgerEntry]] = [:]
            for name in names {
                before[name] = try await storedFields(name, pool)
                ledgers[name] = (try await pool.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init)
                #expect(ledgers[name]?.count == before[name].flatMap { Int($0["version"] ?? "") }, "\(name): one ledger entry per version")
            }
            #expect(before[open]?["state"] == "open" && before[open]?["failed_recoveries"] == "1" && before[open]?["open_timeout_ms"] == "90000")
            #expect(before[halfOpen]?["state"] == "half-open")
            #expect(before[forcedOpen]?["forced"] == "open" && before[forcedClosed]?["forced"] == "closed")
            await pool.shutdown()

            server.kill(signal: SIGTERM)
            try server.start()

            try await withPool(breakwater, size: 1) { after async throws in
                for name in names {
                    let fields = try await storedFields(name, after)
                    #expect(fields == before[name], "\(name) after a restart: \(fields), before: \(before[name] ?? [:])")
                    let ledger = (try await after.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init)
                    #expect(ledger == ledgers[name], "\(name): ledger after a restart differs")
                    let ttl = try #require(try await after.execute("TTL", name.stateKey).int)
                    #expect(ttl > 80_000, "\(name) has TTL \(ttl)")
                }
                let log = (try? String(contentsOf: server.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
                #expect(!log.contains("NOPERM"), "Redis refused part of the AOF on replay:\n\(log.suffix(600))")
            }
        }
    }
}
