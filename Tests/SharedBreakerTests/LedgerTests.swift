import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Fleet statistics and the ledger (`cb_log:<name>`), written atomically with each change.
@Suite("The ledger has one entry per version and statistics follow the transitions", .tags(.integration))
struct LedgerTests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    @Test("every version has exactly one ledger entry; statistics follow the transitions")
    func ledgerPerVersion() async throws {
        let name = try uniqueName("ledger")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("a repaired version, or a hash gone while its ledger stays, continues from the ledger")
    func versionContinuesFromLedger() async throws {
        let name = try uniqueName("ledger-version")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }
}
