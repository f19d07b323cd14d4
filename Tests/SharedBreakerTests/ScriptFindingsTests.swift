import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Findings of the adversarial review of `Lua/breaker.lua` (issue #9), driven at the script
/// level against the test Redis: each test failed on the script before the fix.
@Suite("Breaker script: regressions from the adversarial review")
struct ScriptFindingsTests {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    /// Runs one script operation as `by` with the policy `config` ("k=v;…").
    @discardableResult
    func op(_ name: BreakerName, _ operation: String, by: String = "A", config: String, _ argument: String = "", extra: String = "") async throws -> ScriptReply {
        try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: by, configuration: config, argument: argument, extra: extra))
    }

    /// Up to `count` events from `subscriber`, or fewer once `timeout` has passed (never hangs).
    func collectEvents(_ subscriber: RedisSubscriber, count: Int, timeout: Duration = .seconds(10)) async -> [BreakerEvent?] {
        let watchdog = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { subscriber.close() }
        }
        defer { watchdog.cancel() }
        var events: [BreakerEvent?] = []
        for await event in subscriber.events {
            if case .message(let message) = event { events.append(BreakerEvent.decode(message.payload)) }
            if events.count >= count { break }
        }
        return events
    }

    /// Waits until Redis server time has moved `milliseconds` past `start` (a condition, not a sleep).
    func waitServerTime(past start: Int64, by milliseconds: Int64) async throws {
        let passed = await eventually(timeout: .seconds(30)) {
            guard let time = try? await pool.execute("TIME").array, let s = time[0].int, let us = time[1].int else { return false }
            return s * 1000 + us / 1000 > start + milliseconds
        }
        #expect(passed)
    }

    @Test("finding 2: a success resets the quorum; one sick instance cannot trip the fleet (B:F1, B:S50, A:F5)")
    func successClearsContributors() async throws {
        let name = try uniqueName("quorum-reset")
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

    @Test("finding 2: window contributors age out with the time window")
    func windowContributorsAgeOut() async throws {
        let name = try uniqueName("quorum-window")
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

    @Test("finding 2: window contributors age out with the count window")
    func countWindowContributorsAgeOut() async throws {
        let name = try uniqueName("quorum-count")
        let config = "threshold=0;quorum=2;rate=50;min_calls=4;cw=4;base_ms=60000"
        try await op(name, "record", by: "B", config: config, "F1S3")
        // B's failure has left the 4-call window once A records 4 calls.
        let reply = try await op(name, "record", by: "A", config: config, "S1F3")
        #expect(reply.state == .closed, "B's failure had left the count window but still counted toward the quorum")
    }

    @Test("finding 6: a probe failure after its lease expired still reopens with backoff and is counted")
    func lateProbeFailureReopens() async throws {
        let name = try uniqueName("late-probe")
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

    @Test("finding 6: a probe result from an earlier half-open period only counts in the statistics")
    func staleProbeOnlyCounts() async throws {
        let name = try uniqueName("stale-probe")
        let config = "threshold=1;base_ms=60000;ho_max=1;ho_success=1"
        try await op(name, "force_open", config: config)
        let reset = try await op(name, "reset", config: config)
        let reply = try await op(name, "probe", config: config, "tok-9:F:\(reset.version - 1)")
        #expect(reply.result == "stale" && reply.state == .closed)
        #expect(try await storedFields(name, pool)["total_failures"] == "1")
    }

    @Test("finding 7: failure rate is checked when a success brings the count window up to minimum_calls", arguments: [
        "threshold=0;rate=50;min_calls=10;cw=10;base_ms=60000",
        "threshold=0;rate=50;min_calls=10;tw_ms=60000;base_ms=60000",
    ])
    func rateCheckedOnSuccess(config: String) async throws {
        let name = try uniqueName("rate-success")
        let first = try await op(name, "record", config: config, "F5")
        #expect(first.state == .closed)
        let reply = try await op(name, "record", config: config, "S5")
        #expect(reply.state == .open, "50 % of 10 calls did not trip")
        #expect(reply.reason == "failure_rate")
    }

    @Test("finding 8: garbage numbers are repaired to integers and the transition is published", arguments: [
        "inf", "1e20", "3.5", "-inf", "nan", "0x10", "99999999999999999999", " 7",
    ])
    func garbageVersionRepaired(garbage: String) async throws {
        let name = try uniqueName("garbage")
        _ = try await pool.execute("HSET", name.stateKey, "state", "closed", "version", garbage, "total_calls", garbage, "opened_at_ms", garbage)
        let events = try RedisSubscriber(configuration: redis)
        defer { events.close() }
        try await events.subscribe([name.eventsChannel])
        let reply = try await op(name, "force_open", config: "base_ms=60000")
        #expect(reply.state == .open)
        #expect(reply.repairs.contains("version="), "no repair reported: \(reply.repairs)")
        let fields = try await storedFields(name, pool)
        for field in ["version", "total_calls", "opened_at_ms"] {
            let value = try #require(fields[field])
            #expect(Int64(value) != nil, "\(field)=\(value) is not an integer")
        }
        // A second action increments the repaired version by exactly one.
        let next = try await op(name, "reset", config: "base_ms=60000")
        #expect(next.version == reply.version + 1)
        let published = await collectEvents(events, count: 1)
        #expect(published.first??.version == reply.version, "events: \(published)")
    }

    @Test("finding 8: StoredBreakerState never traps on huge or fractional numbers", arguments: ["1e19", "1e20", "inf", "-1", "3.5", "9007199254740993"])
    func storedStateNeverTraps(garbage: String) {
        let state = StoredBreakerState(fields: ["state": "open", "version": garbage, "opened_at_ms": garbage, "total_successes": garbage, "time_in_open_ms": garbage])
        #expect(state.version == 0)
        #expect(state.problems.contains { $0.hasPrefix("version=") })
        #expect(state.problems.contains { $0.hasPrefix("time_in_open_ms=") })
    }

    @Test("finding 9: an open hash without opened_at_ms gets one, saved, and half-opens after its timeout")
    func openWithoutOpenedAtIsSaved() async throws {
        for garbage in ["0", ""] {
            let name = try uniqueName("opened-at")
            _ = try await pool.execute("HSET", name.stateKey, "state", "open", "version", "4", "opened_at_ms", garbage, "open_timeout_ms", "50")
            let first = try await op(name, "touch", config: "base_ms=50")
            #expect(first.repairs.contains("opened_at_ms"))
            let saved = try #require(Int64(try await storedFields(name, pool)["opened_at_ms"] ?? ""))
            #expect(saved == first.serverNowMilliseconds, "the repair was not saved")
            try await waitServerTime(past: saved, by: 60)
            let later = try await op(name, "touch", config: "base_ms=50")
            #expect(later.state == .halfOpen, "stayed open: \(later)")
        }
    }

    @Test("finding 11: one event per version, even with a 0 ms timeout from an old config")
    func oneEventPerVersion() async throws {
        let name = try uniqueName("one-event")
        let config = "threshold=1;base_ms=0;ho_max_wait_ms=1"
        let events = try RedisSubscriber(configuration: redis)
        defer { events.close() }
        try await events.subscribe([name.eventsChannel])
        var last = try await op(name, "record", config: config, "F1")
        for _ in 0..<5 {
            try await waitServerTime(past: last.serverNowMilliseconds, by: 2)
            last = try await op(name, "touch", config: config)
        }
        let versions = await collectEvents(events, count: last.version, timeout: .seconds(5)).map { $0?.version ?? -1 }
        #expect(versions == Array(1...last.version), "events \(versions) for versions 1...\(last.version)")
        #expect(try await storedFields(name, pool)["open_timeout_ms"] != "0")
    }

    @Test("suspected: a 1.5 M-failure batch does not make Redis BUSY (bounded work per call)")
    func hugeBatchIsBounded() async throws {
        let server = try RedisServerProcess(arguments: ["--busy-reply-threshold", "1000"])
        defer { server.stop() }
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

/// SPEC §10 at the script level: fleet statistics and the ledger, written atomically with each change.
@Suite("Breaker script: fleet statistics and the ledger")
struct LedgerScriptTests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    @Test("every version has exactly one ledger entry; statistics follow the transitions")
    func ledgerPerVersion() async throws {
        let name = try uniqueName("ledger")
        let config = "threshold=2;base_ms=1;ho_max=1;ho_success=1"
        func op(_ operation: String, _ argument: String = "", extra: String = "", manual: ManualAction = ManualAction()) async throws -> ScriptReply {
            try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: "A", configuration: config, argument: argument, extra: extra, manual: manual))
        }
        _ = try await op("record", "S3F2")                     // v1 closed -> open
        let opened = try await storedFields(name, pool)
        #expect(opened["last_failure_at_ms"] == opened["last_transition_at_ms"])
        var granted = try await op("acquire", "t1", extra: "60000")  // v2 open -> half-open (1 ms timeout)
        for _ in 0..<100 where granted.result != "granted" { granted = try await op("acquire", "t1", extra: "60000") }
        _ = try await op("probe", "t1:F:\(granted.version)")     // v3 half-open -> open
        _ = try await op("force_close", manual: ManualAction(actor: "bob@ops", note: "known outage", duration: .seconds(60)))  // v4
        let reply = try await op("reset", manual: ManualAction(actor: "bob@ops", note: "fixed"))  // v5
        let entries = (try await pool.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init)
        #expect(entries.map(\.version) == Array(1...reply.version), "\(entries.map(\.version))")
        #expect(entries.map(\.reason) == ["failure_threshold", "open_timeout_elapsed", "probe_failed", "forced_closed", "reset"])
        #expect(entries[3].actor == "bob@ops" && entries[3].note == "known outage" && entries[3].untilMilliseconds > entries[3].atMilliseconds)
        #expect(entries[0].actor.isEmpty && entries[0].by == "A")
        let fields = try await storedFields(name, pool)
        #expect(fields["failed_recoveries_total"] == "1")
        #expect(fields["circuit_opens"] == "2")
        #expect(fields["total_successes"] == "3" && fields["total_failures"] == "3")
        #expect(fields["last_transition_at_ms"] == String(entries[4].atMilliseconds))
        #expect(fields["forced"] == "" && fields["forced_note"] == "" && fields["forced_until_ms"] == "0")
        #expect(StoredBreakerState(fields: fields).healthScore == 0.5)
    }

    @Test("a repaired version, or a hash gone while its ledger stays, continues from the ledger (found by scripts/chaos)")
    func versionContinuesFromLedger() async throws {
        let name = try uniqueName("ledger-version")
        func op(_ operation: String) async throws -> ScriptReply {
            try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: "A", configuration: "base_ms=60000"))
        }
        _ = try await op("force_open")
        _ = try await op("reset")                                     // v2
        _ = try await pool.execute("HSET", name.stateKey, "version", "1e20")
        let repaired = try await op("force_open")
        #expect(repaired.version == 3, "version went backwards to \(repaired.version)")
        _ = try await pool.execute("DEL", name.stateKey)               // e.g. a manual DEL
        let recreated = try await op("reset")
        // The lost hash first comes back as the ledger last agreed (v4: forced open again),
        // then the reset applies (v5): no version is used twice.
        #expect(recreated.version == 5)
        let entries = (try await pool.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init)
        #expect(entries.map(\.version) == [1, 2, 3, 4, 5])
        #expect(entries.map(\.reason).suffix(2) == ["restored_from_ledger", "reset"])
    }

    @Test("a shadow breaker stores its mode and still trips fleet-wide")
    func shadowModeStored() async throws {
        let name = try uniqueName("shadow-script")
        let reply = try ScriptReply(try await BreakerScript.call(pool, name: name, operation: "record", instanceID: "A", configuration: "threshold=2;mode=shadow", argument: "F2"))
        #expect(reply.state == .open)
        #expect(try await storedFields(name, pool)["mode"] == "shadow")
    }
}
