import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// Found by scripts/chaos scenario 2 (Redis restart): a daemon's `/readyz` stayed 503 for 20 s
/// although every command succeeded. The pool's reachability followed only link changes: after
/// the restart, connection 0 reconnected (reachable), then a rarely used connection still
/// holding a link to the old process failed (unreachable), and nothing reported "up" again
/// while connection 0's established link kept answering.
@Suite("Redis pool reachability")
struct PoolReachabilityTests {
    @Test("a command that succeeds marks Redis reachable, even after another connection's stale link failed")
    func commandSuccessMeansReachable() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
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
