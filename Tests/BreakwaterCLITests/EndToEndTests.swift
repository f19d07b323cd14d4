import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// Real processes: a flaky loopback upstream, two `breakwater run` daemons, the CLI, one Redis.
@Suite("End to end: daemons, upstream, CLI", .serialized, .tags(.integration))
struct EndToEndTests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    func field(_ name: String, _ field: String) async -> String? {
        try? await pool.execute("HGET", "cb_state:" + name, field).string
    }

    @Test("two daemons trip together, stop calling, back off, recover, survive restarts and obey the CLI")
    func fullCycle() async throws {
        let name = "e2e-\(UUID().uuidString.prefix(8).lowercased())"
        try await withKeysDeleted(["cb_state:" + name, "collector:" + name], pool: pool) {
            try await fullCycleSteps(name)
        }
    }

    /// The steps of ``fullCycle()`` for the collector `name`.
    func fullCycleSteps(_ name: String) async throws {
        let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
        let daemons = try (1...2).map { try DaemonProcess(instance: "e2e-\($0)", collectorName: name, upstream: upstream, openTimeoutSeconds: 1.5) }

        // Healthy: records reach the stream.
        #expect(await eventually(timeout: .seconds(20)) { ((try? await pool.execute("XLEN", "collector:" + name).int) ?? 0) >= 5 })

        // 500s trip the shared breaker; both instances reject: no request leaves while open.
        try upstream.setMode("error500")
        #expect(await eventually(timeout: .seconds(10)) { await field(name, "state") == "open" })
        let openedVersion = await field(name, "version")
        // Both views open first (on a busy machine the event can take a while to arrive; a
        // retry admitted on a stale closed view is not what this checks).
        let viewsOpen = await eventually(timeout: .seconds(10)) {
            daemons.allSatisfy { (try? Loopback.http(port: $0.httpPort, path: "/metrics")).map { String(decoding: $0.body, as: UTF8.self) }?
                .contains("breakwater_breaker_state{breaker=\"\(name)\"} 2") ?? false }
        }
        // A call admitted before the views opened may still reach the upstream late on a busy
        // machine; the call timeout (0.5 s) bounds it, so count from after that.
        try await Task.sleep(for: .milliseconds(500))
        let before = try upstream.requestCount()
        try await Task.sleep(for: .milliseconds(700))
        let stillOpen = await field(name, "state") == "open"
        let sameVersion = await field(name, "version") == openedVersion
        if viewsOpen && stillOpen && sameVersion {
            #expect(try upstream.requestCount() == before, "requests left a process while open")
        }

        // Still failing: the half-open probe fails and the open timeout grows x1.5.
        #expect(await eventually(timeout: .seconds(10)) { await field(name, "failed_recoveries") == "1" })
        #expect(await field(name, "open_timeout_ms") == "2250")

        // Healthy again: recovery through half-open to closed, timeout back to base.
        try upstream.setMode("healthy")
        #expect(await eventually(timeout: .seconds(15)) { await field(name, "state") == "closed" })
        #expect(await field(name, "open_timeout_ms") == "1500")
        #expect(Int(await field(name, "successful_recoveries") ?? "0") ?? 0 >= 1)

        // Restart every daemon: SIGTERM drains and exits 0; the stored state survives.
        try upstream.setMode("error500")
        #expect(await eventually(timeout: .seconds(10)) { await field(name, "state") == "open" })
        let opens = await field(name, "circuit_opens")
        for daemon in daemons { #expect(await daemon.terminate() == 0) }
        #expect(await field(name, "state") == "open")
        for daemon in daemons { try daemon.restart() }
        try upstream.setMode("healthy")
        #expect(await eventually(timeout: .seconds(15)) { await field(name, "state") == "closed" })
        #expect(Int(await field(name, "circuit_opens") ?? "0") ?? 0 >= Int(opens ?? "0") ?? 0)

        // A force-open from the CLI stops both daemons from calling.
        #expect(try await breakwater(["force-open", name]).exitCode == 0)
        try await Task.sleep(for: .milliseconds(500))
        let frozen = try upstream.requestCount()
        try await Task.sleep(for: .seconds(2))
        #expect(try upstream.requestCount() == frozen, "a daemon polled while forced open")
        #expect(try await breakwater(["reset", name]).exitCode == 0)
        #expect(await eventually(timeout: .seconds(10)) { ((try? upstream.requestCount()) ?? 0) > frozen })

        // /breakers and /metrics on a daemon.
        let status = try httpGet(port: daemons[0].httpPort, path: "/breakers")
        #expect(status.contains("\"name\" : \"\(name)\""))
        let metrics = try httpGet(port: daemons[0].httpPort, path: "/metrics")
        #expect(metrics.contains("breakwater_breaker_state{breaker=\"\(name)\"}"))
        #expect(metrics.contains("breakwater_transitions_total"))
        #expect(metrics.contains("breakwater_redis_connected 1"))
        #expect(try httpGet(port: daemons[1].httpPort, path: "/readyz").contains("\"redis_reachable\":true"))
        for daemon in daemons { #expect(await daemon.terminate() == 0) }
    }

    @Test("429 with Retry-After is not a failure, and the next poll waits for it")
    func rateLimited() async throws {
        let name = "e2e-\(UUID().uuidString.prefix(8).lowercased())-429"
        try await withKeysDeleted(["cb_state:" + name, "collector:" + name], pool: pool) {
            let upstream = try FlakyUpstream(arguments: ["--mode", "ratelimit", "--retry-after", "2"])
            let daemon = try DaemonProcess(instance: "e2e-429", collectorName: name, upstream: upstream, threshold: 1)
            try await Task.sleep(for: .seconds(3))
            #expect(try upstream.requestCount() <= 3, "polls ignored Retry-After")
            #expect(await field(name, "state") != "open")
            #expect(await daemon.terminate() == 0)
        }
    }

    @Test("timeouts and garbage bodies count as failures")
    func timeoutsAndGarbage() async throws {
        for mode in ["timeout", "garbage"] {
            let name = "e2e-\(UUID().uuidString.prefix(8).lowercased())-\(mode)"
            try await withKeysDeleted(["cb_state:" + name, "collector:" + name], pool: pool) {
                let upstream = try FlakyUpstream(arguments: ["--mode", mode, "--hang-seconds", "2"])
                let daemon = try DaemonProcess(instance: "e2e-\(mode)", collectorName: name, upstream: upstream, openTimeoutSeconds: 60, threshold: 2)
                #expect(await eventually(timeout: .seconds(15)) { await field(name, "state") == "open" }, "\(mode) did not trip")
                #expect(await field(name, "total_failures").flatMap(Int.init) ?? 0 >= 2)
                #expect(await daemon.terminate() == 0)
            }
        }
    }
}

/// A GET on a daemon's HTTP port, returning the body as text.
func httpGet(port: Int, path: String) throws -> String {
    String(decoding: try Loopback.http(port: port, path: path).body, as: UTF8.self)
}
