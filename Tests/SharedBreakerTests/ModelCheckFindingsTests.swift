import BreakerCore
import BreakwaterTestSupport
import RedisClient
import Testing
@testable import SharedBreaker

/// Findings of the model check (scripts/chaos scenario 7, `breakwater-modelcheck`): the stored
/// state diverged from the reference model (BreakerCore's BreakerMachine). Each test failed on
/// the script before the fix.
extension ScriptFindingsTests {
    @Test("model check: reopening ends the half-open period's probe accounting",
          arguments: ["probe_failed", "forced_open", "half_open_max_wait"])
    func reopenClearsHalfOpenCounters(how: String) async throws {
        let name = try uniqueName("mc-reopen")
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
        _ = try await pool.execute("DEL", name.stateKey, name.logKey)
    }

    @Test("model check: an ignored result of a lapsed probe lease removes the lease from the stored hash")
    func ignoredLateProbeDropsItsLease() async throws {
        // The script took the lease but saved nothing (an ignored outcome changes no counter),
        // so the stored lease came back to life if the server clock then moved backwards (a
        // failover to a replica whose clock is behind) and held a probe slot for a result that
        // had already arrived.
        let name = try uniqueName("mc-late-ignored")
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
        _ = try await pool.execute("DEL", name.stateKey, name.logKey)
    }
}
