import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Loads `deploy/redis/users.acl` into a throwaway redis-server and checks that the
/// least-privilege `breakwater` user can do everything the service does, and nothing else.
///
/// Each test owns its server (started with `--aclfile`), so the shared test Redis is untouched.
@Suite("The deploy/redis/users.acl grants the breakwater user exactly what the service needs", .tags(.integration))
struct ACLTests {
    static let breakwaterPassword = "bw-acl-test-password"
    static let adminPassword = "admin-acl-test-password"

    /// `deploy/redis/` of this checkout, found from this file's path.
    static var redisDeployDirectory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // SharedBreakerTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // repository root
            .appendingPathComponent("deploy/redis")
    }

    let server: RedisServerProcess
    let breakwater: RedisConfiguration
    let admin: RedisConfiguration
    let pool: RedisConnectionPool

    /// Starts redis-server with a temp copy of the ACL template, placeholders replaced by
    /// clear-text `>password` rules (deploy/redis/make-acl writes `#sha256` hashes instead;
    /// ``renderedByMakeACL()`` covers that path).
    init() throws {
        let template = try String(contentsOf: Self.redisDeployDirectory.appendingPathComponent("users.acl"), encoding: .utf8)
        #expect(template.contains("@BREAKWATER_PASSWORD@") && template.contains("@ADMIN_PASSWORD@"))
        let rendered = template
            .replacingOccurrences(of: "@BREAKWATER_PASSWORD@", with: ">" + Self.breakwaterPassword)
            .replacingOccurrences(of: "@ADMIN_PASSWORD@", with: ">" + Self.adminPassword)
        let aclPath = FileManager.default.temporaryDirectory.appendingPathComponent("bw-acl-\(UUID().uuidString).acl")
        try rendered.write(to: aclPath, atomically: true, encoding: .utf8)
        server = try RedisServerProcess(arguments: ["--aclfile", aclPath.path])
        breakwater = try RedisConfiguration(url: "redis://breakwater:\(Self.breakwaterPassword)@127.0.0.1:\(server.port)")
        admin = try RedisConfiguration(url: "redis://admin:\(Self.adminPassword)@127.0.0.1:\(server.port)")
        pool = RedisConnectionPool(configuration: breakwater, size: 2)
    }

    @Test("a breaker trips, is seen by a second instance over pub/sub, and can be forced open, as the breakwater user")
    func breakerWorksUnderACL() async throws {
        try await withFleet(count: 2, redis: breakwater) { fleet in
            let name = try BreakerName("x")
            let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
            await record(breakers[0], .failure, count: 3)
            await fleet.groups[0].flush()
            let fields = try await storedFields(name, pool)
            #expect(fields["state"] == "open", "script writes refused? stored: \(fields)")
            #expect(fields["version"] == "1")
            #expect(fields["updated_by"] == "inst-0")
            let ttl = try #require(try await pool.execute("TTL", name.stateKey).int)
            #expect(ttl > 86_000)
            // The transition reached the other instance (PUBLISH inside the script, SUBSCRIBE in the group).
            #expect(await eventually(timeout: .seconds(15)) { breakers[1].view.state == .open })

            let forced = try BreakerName("forced")
            let forcedBreaker = try await fleet.breakers(forced, options: fastOptions())[1]
            try await forcedBreaker.forceOpen()
            let forcedFields = try await storedFields(forced, pool)
            #expect(forcedFields["state"] == "open")
            #expect(forcedFields["forced"] == "open")
            try await forcedBreaker.reset()
            #expect(try await storedFields(forced, pool)["state"] == "closed")
        }
    }

    @Test("a breakwater run daemon works as the breakwater user: it trips, writes its stream, and the CLI can reset it")
    func daemonUnderACL() async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("bw-acl-daemon-\(UUID().uuidString.prefix(6)).yaml").path
        try """
        instance_id: acl-daemon
        http: { listen: 127.0.0.1:\(try Loopback.freePort()) }
        collectors:
          - { name: acl, kind: http_json, base_url: "\(upstream.baseURL)/data", interval_seconds: 0.1, timeout_seconds: 0.5,
              breaker: { failure_threshold: 3, open_timeout_seconds: 60 } }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        // The password comes from the environment, the user from the URL (as in compose).
        let environment = ["REDIS_URL": "redis://breakwater@127.0.0.1:\(server.port)", "REDIS_PASSWORD": Self.breakwaterPassword]
        let daemon = try ChildProcess(builtExecutable("breakwater"), ["run", "--config", config], environment: environment)
        try await withPool(admin, size: 1) { adminPool in
            #expect(await eventually { ((try? await adminPool.execute("XLEN", "collector:acl").int) ?? 0) > 0 })
            try upstream.setMode("error500")
            #expect(await eventually { (try? await adminPool.execute("HGET", "cb_state:acl", "state").string) == "open" })
            #expect(!daemon.output.contains("NOPERM"), "the daemon hit a refused command: \(daemon.output)")
            let reset = try ChildProcess(builtExecutable("breakwater"), ["reset", "acl"], environment: environment)
            #expect(await reset.exited(within: .seconds(20)) == 0, "\(reset.output)")
            #expect(daemon.stop(signal: SIGTERM) == 0)
        }
    }

    @Test("the CLI's reads work: SCAN MATCH cb_state:*, HGETALL, HGET, TTL, TIME")
    func readsWork() async throws {
        _ = try await pool.evaluate(
            RedisScript(name: "seed", source: "redis.call('HSET', KEYS[1], 'state', 'closed', 'version', '0'); return redis.call('TIME')"),
            keys: ["cb_state:x"], arguments: []
        )
        let scan = try await pool.execute("SCAN", "0", "MATCH", "cb_state:*", "COUNT", 100)
        let keys = try #require(scan.array?.last?.array).compactMap(\.string)
        #expect(keys == ["cb_state:x"])
        #expect(try await pool.execute("HGET", "cb_state:x", "state").string == "closed")
        #expect(try await pool.execute("TTL", "cb_state:x").int == -1)
        #expect(try await pool.execute("TIME").array?.count == 2)
    }

    @Test("XADD to collector:x works")
    func streamWriteWorks() async throws {
        let id = try await pool.execute("XADD", "collector:x", "MAXLEN", "~", 1000, "*", "source", "x", "payload", "{}")
        #expect(id.string?.contains("-") == true)
    }

    @Test("SUBSCRIBE cb_events:x and PSUBSCRIBE cb_events:* work and deliver what is published")
    func subscribeWorks() async throws {
        let subscriber = try RedisSubscriber(configuration: breakwater)
        defer { subscriber.close() }
        try await subscriber.subscribe(["cb_events:x"])
        try await subscriber.psubscribe(["cb_events:*"])
        _ = try await pool.execute("PUBLISH", "cb_events:x", "{\"to\":\"open\"}")
        var iterator = subscriber.events.makeAsyncIterator()
        var channels: [String] = []
        for _ in 0..<2 {
            guard case .message(let message)? = await iterator.next() else { break }
            #expect(message.text == "{\"to\":\"open\"}")
            channels.append(message.pattern ?? message.channel)
        }
        #expect(channels.sorted() == ["cb_events:*", "cb_events:x"])
    }

    @Test("commands and keys outside the grant are refused with NOPERM", arguments: [
        RedisCommand("FLUSHALL"),
        RedisCommand("CONFIG", "GET", "*"),
        RedisCommand("KEYS", "*"),
        RedisCommand("SET", "other:x", "1"),
        RedisCommand("HSET", "other:x", "state", "open"),
        RedisCommand("XADD", "other:x", "*", "f", "v"),
        RedisCommand("DEL", "other:x"),
        RedisCommand("PUBLISH", "other:events", "x"),
        RedisCommand("SUBSCRIBE", "other:events"),
        RedisCommand("ACL", "LIST"),
        RedisCommand("SHUTDOWN"),
    ])
    func refused(_ command: RedisCommand) async throws {
        // A connection of its own, so an unexpectedly accepted SUBSCRIBE cannot leak into the pool.
        try await withConnection(breakwater) { connection async throws in
            do {
                let reply = try await connection.execute(command)
                Issue.record("\(command.name) was allowed: \(reply)")
            } catch let error as RedisError {
                #expect(error.serverErrorPrefix == "NOPERM", "\(command.name): \(error)")
            }
        }
    }

    @Test("a script cannot reach keys outside cb_state:* and collector:*")
    func scriptKeyAccessRefused() async throws {
        let script = RedisScript(name: "escape", source: "return redis.call('HSET', KEYS[1], 'a', 'b')")
        await #expect(throws: RedisError.self) {
            _ = try await pool.evaluate(script, keys: ["other:x"], arguments: [])
        }
        #expect(try await RedisConnectionPool(configuration: admin, size: 1).execute("EXISTS", "other:x").int == 0)
    }

    @Test("the default user is off and the admin user has full access")
    func defaultOffAdminOn() async throws {
        try await withConnection(try RedisConfiguration(url: server.url)) { anonymous in
            do {
                _ = try await anonymous.execute("PING")
                Issue.record("an unauthenticated PING was answered")
            } catch let error as RedisError {
                #expect(error.serverErrorPrefix == "NOAUTH", "\(error)")
            }
            try await withPool(admin, size: 1) { adminPool async throws in
                #expect(try await adminPool.execute("CONFIG", "GET", "appendonly").array?.count == 2)
                #expect(try await adminPool.execute("SET", "other:x", "1").string == "OK")
                #expect(try await adminPool.execute("ACL", "WHOAMI").string == "admin")
            }
        }
    }

    @Test("deploy/redis/make-acl renders hashed passwords that redis-server loads and AUTH accepts")
    func renderedByMakeACL() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bw-acl-made-\(UUID().uuidString).acl")
        defer { try? FileManager.default.removeItem(at: output) }
        let makeACL = try ChildProcess("sh", [Self.redisDeployDirectory.appendingPathComponent("make-acl").path, output.path], environment: [
            "BREAKWATER_REDIS_PASSWORD": "made-bw-password", "REDIS_ADMIN_PASSWORD": "made-admin-password",
        ])
        #expect(await makeACL.exited(within: .seconds(10)) == 0, "make-acl: \(makeACL.output)")
        let rendered = try String(contentsOf: output, encoding: .utf8)
        #expect(!rendered.contains("made-bw-password") && !rendered.contains("_PASSWORD@"), "clear text or placeholder left:\n\(rendered)")
        try await withRedisServer(arguments: ["--aclfile", output.path]) { hashed in
            try await withPool(try RedisConfiguration(url: "redis://breakwater:made-bw-password@127.0.0.1:\(hashed.port)"), size: 1) { user in
                #expect(try await user.execute("PING").string == "PONG")
                await user.shutdown()
                try await withConnection(try RedisConfiguration(url: "redis://breakwater:wrong@127.0.0.1:\(hashed.port)")) { wrong async throws in
                    await #expect(throws: RedisError.self) { _ = try await wrong.execute("PING") }
                }
            }
        }
    }
}
