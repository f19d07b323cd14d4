import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

@Suite("Redis connection failures, auth and recovery", .tags(.integration))
struct RedisFailureTests {
    @Test("authenticates with a password and with an ACL user, and names a refused AUTH")
    func authentication() async throws {
        try await withRedisServer(arguments: ["--requirepass", "s3cret"]) { server in
            try await withConnection(try RedisConfiguration(url: "redis://:s3cret@127.0.0.1:\(server.port)")) { good in
                #expect(try await good.execute("PING") == .status("PONG"))
                _ = try await good.execute("ACL", "SETUSER", "alice", "on", ">alicepw", "~app:*", "+get", "+set", "+ping")

                try await withConnection(try RedisConfiguration(url: "redis://alice:alicepw@127.0.0.1:\(server.port)")) { alice in
                    #expect(try await alice.execute("SET", "app:x", "1") == .status("OK"))
                    await #expect {
                        try await alice.execute("SET", "other:x", "1")
                    } throws: { error in
                        (error as? RedisError)?.serverErrorPrefix == "NOPERM"
                    }

                    try await withConnection(try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(server.port)")) { wrong in
                        await #expect {
                            try await wrong.execute("PING")
                        } throws: { error in
                            guard let error = error as? RedisError else { return false }
                            return error.code == .authenticationFailed && !error.message.contains("nope") && error.message.contains("WRONGPASS")
                        }

                        try await withConnection(try RedisConfiguration(url: server.url)) { none async throws in
                            await #expect {
                                try await none.execute("GET", "k")
                            } throws: { error in
                                (error as? RedisError)?.serverErrorPrefix == "NOAUTH"
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("names a database index the server refuses")
    func wrongDatabase() async throws {
        try await withConnection(try RedisConfiguration(url: try TestRedis.configuration().url(database: 999))) { connection async throws in
            await #expect {
                try await connection.execute("PING")
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .databaseSelectionFailed && error.message.contains("SELECT 999") && error.message.contains("DB index is out of range")
            }
        }
    }

    @Test("reports a refused connection, then backs off without hammering")
    func connectionRefused() async throws {
        let port = try RedisServerProcess.freePort()
        var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(port)")
        configuration.initialReconnectDelay = .seconds(30)
        configuration.maximumReconnectDelay = .seconds(60)
        try await withConnection(configuration) { connection async throws in
            await #expect {
                try await connection.execute("PING")
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .connectionFailed && error.message.contains("127.0.0.1:\(port)")
            }
            await #expect {
                try await connection.execute("PING")
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .unavailable && error.message.contains("next reconnect in")
            }
        }
    }

    @Test("times out a slow command, drops the connection and recovers on the next call")
    func commandTimeout() async throws {
        try await withRedisServer(arguments: ["--enable-debug-command", "yes"]) { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .milliseconds(200)
            try await withConnection(configuration) { connection async throws in
                #expect(try await connection.execute("PING") == .status("PONG"))
                await #expect {
                    try await connection.execute("DEBUG", "SLEEP", "1")
                } throws: { error in
                    (error as? RedisError)?.code == .timeout
                }
                // The server is still asleep for a while; the call after that must work again.
                let recovered = await eventually(timeout: .seconds(5), interval: .milliseconds(100)) {
                    (try? await connection.execute("PING")) == .status("PONG")
                }
                #expect(recovered)
            }
        }
    }

    @Test("survives a server restart mid-use and reconnects")
    func serverRestart() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.initialReconnectDelay = .milliseconds(20)
            configuration.maximumReconnectDelay = .milliseconds(200)
            try await withPool(configuration, size: 2) { pool in
                _ = try await pool.execute("SET", "before", "1")
                server.kill()
                // While it is down: a clear connection-level error, never a crash.
                await #expect {
                    try await pool.execute("PING")
                } throws: { error in
                    guard let error = error as? RedisError else { return false }
                    return [.connectionLost, .connectionFailed, .unavailable].contains(error.code)
                }
                #expect(pool.isReachable == false)
                try server.start()
                let back = await eventually(timeout: .seconds(5)) {
                    (try? await pool.execute("PING")) == .status("PONG")
                }
                #expect(back)
                #expect(pool.isReachable == true)
                #expect(try await pool.execute("SET", "after", "2") == .status("OK"))
            }
        }
    }
}

extension RedisConfiguration {
    /// The `redis://` URL of a TCP configuration with another database (test helper).
    func url(database: Int) throws -> String {
        guard case .tcp(let host, let port) = endpoint else { throw RedisError(.invalidConfiguration, "tcp only") }
        let auth = password.map { ":\($0)@" } ?? ""
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
