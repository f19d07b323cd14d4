import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

@Suite("Redis commands against a real server", .tags(.integration))
struct RedisCommandTests {
    let pool: RedisConnectionPool
    let prefix = TestRedis.uniquePrefix("rc")

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 4)
    }

    @Test("decodes status, integer, bulk, nil and nested array replies")
    func replyTypes() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            #expect(try await pool.execute("SET", prefix + "k", "v") == .status("OK"))
            #expect(try await pool.execute("GET", prefix + "k") == .bulkString(Array("v".utf8)))
            #expect(try await pool.execute("GET", prefix + "missing") == .null)
            #expect(try await pool.execute("INCRBY", prefix + "n", 41) == .integer(41))
            _ = try await pool.execute("RPUSH", prefix + "l", "a", "b")
            #expect(try await pool.execute("LRANGE", prefix + "l", 0, -1) == .array([.bulkString([97]), .bulkString([98])]))
            let nested = try await pool.execute("EVAL", "return {1, {2, 'x', {3}}, redis.status_reply('fine')}", 0)
            #expect(nested == .array([.integer(1), .array([.integer(2), .bulkString([120]), .array([.integer(3)])]), .status("fine")]))
            #expect(try await pool.execute("EVAL", "return nil", 0) == .null)
        }
    }

    @Test("throws server errors with the server's text verbatim")
    func serverError() async throws {
        await #expect {
            try await pool.execute("NOSUCHCOMMAND", "x")
        } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .server && error.message.hasPrefix("ERR unknown command")
        }
        _ = try await pool.execute("SET", prefix + "str", "x")
        try await withKeyCleanup(prefix: prefix, pool: pool) { () async throws in
            await #expect {
                try await pool.execute("HGETALL", prefix + "str")
            } throws: { error in
                (error as? RedisError)?.serverErrorPrefix == "WRONGTYPE"
            }
            // The connection stays usable after a server error.
            #expect(try await pool.execute("PING") == .status("PONG"))
        }
    }

    @Test("keeps binary values with NUL bytes intact")
    func binarySafe() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let key: [UInt8] = Array((prefix + "bin\u{0}key").utf8)
            let value: [UInt8] = [0, 1, 2, 0, 255, 0, 10, 13, 0]
            _ = try await pool.execute(RedisCommand(rawArguments: [Array("SET".utf8), key, value]))
            let read = try await pool.execute(RedisCommand(rawArguments: [Array("GET".utf8), key]))
            #expect(read.bytes == value)
            #expect(try await pool.execute(RedisCommand(rawArguments: [Array("STRLEN".utf8), key])) == .integer(Int64(value.count)))
        }
    }

    @Test("round-trips a 1 MiB value")
    func largeValue() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            var generator = SystemRandomNumberGenerator()
            let value = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try await pool.execute("SET", prefix + "big", value)
            let read = try await pool.execute("GET", prefix + "big")
            #expect(read.bytes?.count == 1 << 20)
            #expect(read.bytes == value)
        }
    }

    @Test("pipelines commands and returns one result per command, errors included")
    func pipelining() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            var commands = (0..<1000).map { _ in RedisCommand("INCR", prefix + "p") }
            commands.insert(RedisCommand("HSET", prefix + "p", "f", "v"), at: 500)
            let results = try await pool.pipeline(commands)
            #expect(results.count == 1001)
            #expect(try results[0].get() == .integer(1))
            #expect(try results[499].get() == .integer(500))
            guard case .failure(let error) = results[500] else {
                Issue.record("expected WRONGTYPE at index 500")
                return
            }
            #expect(error.serverErrorPrefix == "WRONGTYPE")
            #expect(try results[1000].get() == .integer(1000))
        }
    }

    @Test("serves many concurrent callers without losing increments")
    func concurrentCallers() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        for _ in 0..<20 { _ = try await pool.execute("INCR", prefix + "c") }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await pool.execute("GET", prefix + "c").int == 1000)
        }
    }

    @Test("runs Lua scripts by EVALSHA and reloads them after SCRIPT FLUSH")
    func scriptsReloadAfterFlush() async throws {
        // SCRIPT FLUSH affects the whole server, so this test owns one.
        try await withRedisServer { server in
            try await withPool(try RedisConfiguration(url: server.url), size: 1) { own in
                let script = RedisScript(name: "incr_by", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
                #expect(try await own.evaluate(script, keys: ["s"], arguments: [5]) == .integer(5))
                let sha = try #require(try await own.execute("SCRIPT", "LOAD", script.source).string)
                #expect(try await own.execute("SCRIPT", "EXISTS", sha) == .array([.integer(1)]))
                _ = try await own.execute("SCRIPT", "FLUSH")
                #expect(try await own.execute("SCRIPT", "EXISTS", sha) == .array([.integer(0)]))
                // The cached SHA now gets NOSCRIPT; the client must load and retry transparently.
                #expect(try await own.evaluate(script, keys: ["s"], arguments: [2]) == .integer(7))
                #expect(try await own.execute("SCRIPT", "EXISTS", sha) == .array([.integer(1)]))
                let broken = RedisScript(name: "broken", source: "return redis.call('NOPE')")
                await #expect {
                    try await own.evaluate(broken, keys: [], arguments: [])
                } throws: { error in
                    guard let error = error as? RedisError else { return false }
                    return error.code == .server && error.message.contains("broken")
                }
            }
        }
    }

    @Test("commits a WATCH/MULTI/EXEC transaction when nothing interferes")
    func transactionCommits() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let key = prefix + "tx"
            _ = try await pool.execute("SET", key, 10)
            let outcome = try await pool.transaction(watching: [key], reads: [RedisCommand("GET", key)]) { values in
                let current = values[0].int ?? 0
                return [RedisCommand("SET", key, current * 2), RedisCommand("GET", key)]
            }
            #expect(outcome == .committed([.status("OK"), .bulkString(Array("20".utf8))]))
            let abandoned = try await pool.transaction(watching: [key], reads: []) { _ in nil }
            #expect(abandoned == .abandoned)
        }
    }

    @Test("reports a conflict when a second connection writes a watched key")
    func transactionConflict() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let key = prefix + "watched"
            _ = try await pool.execute("SET", key, 1)
            try await withConnection(try TestRedis.configuration()) { intruder in
                try await withConnection(try TestRedis.configuration()) { mine in
                    let outcome = try await mine.transaction(watching: [key], reads: [RedisCommand("GET", key)]) { values in
                        // Runs on `mine`'s queue (not the cooperative pool): block it until the intruder wrote.
                        let done = DispatchSemaphore(value: 0)
                        Task {
                            _ = try? await intruder.execute("SET", key, 99)
                            done.signal()
                        }
                        done.wait()
                        return [RedisCommand("SET", key, (values[0].int ?? 0) + 1)]
                    }
                    #expect(outcome == .conflict)
                    #expect(try await pool.execute("GET", key).int == 99)
                }
            }
        }
    }

    @Test("connects through a unix socket")
    func unixSocket() async throws {
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("bw-\(UUID().uuidString.prefix(8)).sock").path
        try await withRedisServer(arguments: ["--unixsocket", socketPath, "--unixsocketperm", "700"]) { server in
            try await withConnection(try RedisConfiguration(url: "unix://\(socketPath)?db=2")) { connection in
                _ = try await connection.execute("SET", "u", "via-socket")
                #expect(try await connection.execute("GET", "u").string == "via-socket")
                try await withConnection(try RedisConfiguration(url: server.url + "/2")) { tcp async throws in
                    #expect(try await tcp.execute("GET", "u").string == "via-socket")
                }
            }
        }
    }
}
