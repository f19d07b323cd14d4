import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Half-open probes hold leases that expire on Redis time; results that arrive after their lease
/// or after their half-open period are accounted for without holding a slot.
@Suite("Probe leases expire and late probe results are accounted for", .tags(.integration))
struct ProbeLeaseTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("a probe failure after its lease expired still reopens with backoff and is counted")
    func lateProbeFailureReopens() async throws {
        let name = try uniqueName("late-probe")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let config = "threshold=1;base_ms=50;ho_max=1;ho_success=1"
            let opened = try await op(name, "record", config: config, "F1")
            #expect(opened.state == .open)
            try await waitServerTime(past: opened.openedAtMilliseconds, by: 60)
            let granted = try await op(name, "acquire", config: config, "tok-1", extra: "20")
            #expect(granted.result == "granted" && granted.state == .halfOpen)
            try await waitServerTime(past: granted.serverNowMilliseconds, by: 30)
            let late = try await op(name, "probe", config: config, "tok-1:F:\(granted.version)")
            #expect(late.state == .open, "a late failure left the breaker half-open")
            #expect(late.failedRecoveries == 1)
            #expect(late.openTimeoutMilliseconds == 75)
            let fields = try await storedFields(name, pool)
            #expect(fields["total_failures"] == "2")
        }
    }

    @Test("a probe result from an earlier half-open period only counts in the statistics")
    func staleProbeOnlyCounts() async throws {
        let name = try uniqueName("stale-probe")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let config = "threshold=1;base_ms=60000;ho_max=1;ho_success=1"
            try await op(name, "force_open", config: config)
            let reset = try await op(name, "reset", config: config)
            let reply = try await op(name, "probe", config: config, "tok-9:F:\(reset.version - 1)")
            #expect(reply.result == "stale" && reply.state == .closed)
            #expect(try await storedFields(name, pool)["total_failures"] == "1")
        }
    }

    @Test("an ignored result of a lapsed probe lease removes the lease from the stored hash")
    func ignoredLateProbeDropsItsLease() async throws {
        // The script took the lease but saved nothing (an ignored outcome changes no counter),
        // so the stored lease came back to life if the server clock then moved backwards (a
        // failover to a replica whose clock is behind) and held a probe slot for a result that
        // had already arrived.
        let name = try uniqueName("mc-late-ignored")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let config = "threshold=1;base_ms=20;max_ms=1000;ho_max=3;ho_success=3"
            let tripped = try await op(name, "record", config: config, "F1")
            try await waitServerTime(past: tripped.serverNowMilliseconds, by: 30)
            let granted = try await op(name, "acquire", config: config, "late-1", extra: "40")
            #expect(granted.result == "granted")
            try await waitServerTime(past: granted.serverNowMilliseconds, by: 50)
            let reply = try await op(name, "probe", config: config, "late-1:I:\(granted.version)")
            #expect(reply.result == "late")
            let leases = try await pool.execute("HGET", name.stateKey, "leases").string ?? ""
            #expect(!leases.contains("late-1"), "the stored leases still hold the answered probe: \(leases)")
        }
    }

    @Test("reopening ends the half-open period's probe accounting",
          arguments: ["probe_failed", "forced_open", "half_open_max_wait"])
    func reopenClearsHalfOpenCounters(how: String) async throws {
        let name = try uniqueName("mc-reopen")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            // Half-open max wait only where it is the way out: an hour, reached by moving the stored
            // half-open start back (as the model check's clock jumps do), so no step depends on how
            // fast a loaded machine runs.
            let maxWait = how == "half_open_max_wait" ? ";ho_max_wait_ms=3600000" : ""
            let config = "threshold=1;base_ms=20;max_ms=1000;ho_max=3;ho_success=3" + maxWait
            let tripped = try await op(name, "record", config: config, "F1")
            #expect(tripped.state == .open)
            try await waitServerTime(past: tripped.serverNowMilliseconds, by: 30)
            let first = try await op(name, "acquire", config: config, "t1", extra: "60000")
            let second = try await op(name, "acquire", config: config, "t2", extra: "60000")
            #expect(first.result == "granted" && second.result == "granted")
            let success = try await op(name, "probe", config: config, "t1:S:\(first.version)")
            #expect(success.state == .halfOpen && success.halfOpenAttempts == 2 && success.halfOpenSuccesses == 1)

            let reopened: ScriptReply
            switch how {
            case "probe_failed":
                reopened = try await op(name, "probe", config: config, "t2:F:\(second.version)")
            case "forced_open":
                reopened = try await op(name, "force_open", config: config)
            default:
                let since = try #require(try await pool.execute("HGET", name.stateKey, "half_open_at_ms").string.flatMap { Int64($0) })
                _ = try await pool.execute("HSET", name.stateKey, "half_open_at_ms", "\(since - 3_600_001)")
                reopened = try await op(name, "touch", config: config)
            }
            #expect(reopened.state == .open && reopened.reason == how)
            #expect(reopened.halfOpenAttempts == 0 && reopened.halfOpenSuccesses == 0,
                    "an open breaker still shows the last half-open period's probes: attempts \(reopened.halfOpenAttempts), successes \(reopened.halfOpenSuccesses)")
            let stored = StoredBreakerState(fields: try await pool.execute("HGETALL", name.stateKey).fieldDictionary ?? [:])
            #expect(stored.halfOpenAttempts == 0 && stored.halfOpenSuccesses == 0)
        }
    }

    @Test("run(timeout:) leases a probe for its timeout plus a margin, not the 15 s default")
    func probeLeaseFollowsTimeout() async throws {
        let name = try uniqueName("lease")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(50), halfOpenMax: 1, successes: 1, lease: .seconds(15)))[0]
                await record(breaker, .failure)
                await fleet.groups[0].flush()
                #expect(await eventually { breaker.view.version >= 1 })  // tripped (open lasts only 50 ms)
                try await Task.sleep(for: .milliseconds(80))
                let pool = self.pool
                let leaseLeft: Int64 = try await breaker.run(timeout: .seconds(2)) {
                    let fields = try await storedFields(name, pool)
                    let time = try await pool.execute("TIME").array ?? []
                    let now = (time.first?.int ?? 0) * 1000 + (time.last?.int ?? 0) / 1000
                    let expiry = Int64((fields["leases"] ?? "").split(separator: ":").last ?? "") ?? 0
                    return expiry - now
                }
                #expect(leaseLeft > 0 && leaseLeft <= 7_000 + 500, "lease of \(leaseLeft) ms for a 2 s call (timeout + 5 s margin, not 15 s)")
            }
        }
    }
}
