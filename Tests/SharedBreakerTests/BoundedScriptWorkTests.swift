import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// One script call does a bounded amount of work whatever the batch it is given, so Redis
/// never answers BUSY to other clients while it runs.
@Suite("Script work per call is bounded", .tags(.integration))
struct BoundedScriptWorkTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("a 1.5 M-failure batch does not make Redis BUSY (bounded work per call)")
    func hugeBatchIsBounded() async throws {
        try await withRedisServer(arguments: ["--busy-reply-threshold", "1000"]) { server in
            try await withPool(try RedisConfiguration(url: server.url), size: 1) { private_ in
                try await withConnection(try RedisConfiguration(url: server.url)) { probe in
                    _ = try await probe.execute("PING")
                    let name = try uniqueName("huge")
                    // Quorum 2 with one instance: no trip ends the loop early.
                    let config = "threshold=5;quorum=2;rate=50;min_calls=10;tw_ms=60000;base_ms=60000"
                    async let big = BreakerScript.call(private_, name: name, operation: "record", instanceID: "A", configuration: config, argument: "S1000000F1500000")
                    var busy = 0
                    for _ in 0..<50 {
                        do { _ = try await probe.execute("PING") } catch let error as RedisError where error.serverErrorPrefix == "BUSY" { busy += 1 }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let reply = try ScriptReply(try await big)
                    #expect(busy == 0, "Redis answered BUSY \(busy) times while the script ran")
                    #expect(reply.failureCount == 1_500_000)
                }
            }
        }
    }
}
