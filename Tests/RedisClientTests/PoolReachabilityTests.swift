import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// After a Redis restart, a command that succeeds reports Redis reachable, whatever the pool's
/// other connections saw: connection 0 reconnects (reachable), then a rarely used connection
/// still holding a link to the old process fails (unreachable), and the next success on
/// connection 0's established link must report "up" again (or `/readyz` would stay 503 while
/// every command succeeds).
@Suite("Redis pool reachability", .tags(.integration))
struct PoolReachabilityTests {
    @Test("a command that succeeds marks Redis reachable, even after another connection's stale link failed")
    func commandSuccessMeansReachable() async throws {
        try await withRedisServer { server in
            try await withPool(try RedisConfiguration(url: server.url), size: 2) { pool in

                // Give both connections a link: connection 0 is busy in a BLPOP while the pool hands out 1.
                let first = pool.connection()
                let blocked = Task { try await first.execute("BLPOP", "reachability:none", "1") }
                let busy = await eventually(timeout: .seconds(10), interval: .milliseconds(5)) { pool.connection() !== first }
                #expect(busy)
                let second = pool.connection()
                #expect(try await second.execute("PING") == .status("PONG"))
                _ = try await blocked.value

                // Redis restarts on the same port: both links are stale.
                server.kill(signal: SIGTERM)
                try server.start()
                _ = try? await first.execute("PING")               // the stale link fails; the next call reconnects
                #expect(try await first.execute("PING") == .status("PONG"))
                #expect(pool.isReachable == true)
                _ = try? await second.execute("PING")              // the other stale link fails last
                #expect(pool.isReachable == false)

                #expect(try await first.execute("PING") == .status("PONG"))
                #expect(pool.isReachable == true, "a command just succeeded, yet the pool still reports Redis unreachable")
            }
        }
    }
}
