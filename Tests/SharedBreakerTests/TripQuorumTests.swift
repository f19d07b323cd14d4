import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// With `trip_quorum` N, only failures from N distinct instances in one run open the shared
/// breaker: a success clears the contributors, and contributors age out with the window.
@Suite("Trip quorum: one sick instance cannot open the fleet's breaker", .tags(.integration))
struct TripQuorumTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("a success resets the quorum; one sick instance cannot trip the fleet (B:F1, B:S50, A:F5)")
    func successClearsContributors() async throws {
        let name = try uniqueName("quorum-reset")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let config = "threshold=5;quorum=2;base_ms=60000"
            try await op(name, "record", by: "B", config: config, "F1")
            try await op(name, "record", by: "B", config: config, "S50")
            let reply = try await op(name, "record", by: "A", config: config, "F5")
            #expect(reply.state == .closed, "opened on A's failures alone")
            #expect(reply.version == 0)
            // Both instances failing in one run still trips it.
            let tripped = try await op(name, "record", by: "B", config: config, "F1")
            #expect(tripped.state == .open && tripped.reason == "failure_threshold")
        }
    }

    @Test("window contributors age out with the time window")
    func windowContributorsAgeOut() async throws {
        let name = try uniqueName("quorum-window")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            // A 3 s window: B's failure ages out, while A's and B's next failures (two calls apart)
            // stay well inside it even on a loaded machine.
            let config = "threshold=0;quorum=2;fw_count=3;tw_ms=3000;base_ms=60000"
            let first = try await op(name, "record", by: "B", config: config, "F1")
            try await waitServerTime(past: first.serverNowMilliseconds, by: 3100)
            let reply = try await op(name, "record", by: "A", config: config, "F3")
            #expect(reply.state == .closed, "B's failure had left the window but still counted toward the quorum")
            let tripped = try await op(name, "record", by: "B", config: config, "F1")
            #expect(tripped.state == .open && tripped.reason == "failures_in_window")
        }
    }

    @Test("window contributors age out with the count window")
    func countWindowContributorsAgeOut() async throws {
        let name = try uniqueName("quorum-count")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let config = "threshold=0;quorum=2;rate=50;min_calls=4;cw=4;base_ms=60000"
            try await op(name, "record", by: "B", config: config, "F1S3")
            // B's failure has left the 4-call window once A records 4 calls.
            let reply = try await op(name, "record", by: "A", config: config, "S1F3")
            #expect(reply.state == .closed, "B's failure had left the count window but still counted toward the quorum")
        }
    }
}
