import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// What the breaker script and the instances do when the stored state was lost or tampered
/// with: versions only grow and never reuse a ledger version, a lost hash comes back as the
/// fleet last agreed, a key of the wrong type is repaired, and events never outrank the store.
@Suite("Stored state: loss, tampering and forged events", .tags(.integration))
struct StoredStateRepairTests {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @discardableResult
    func op(_ name: BreakerName, _ operation: String, by: String = "A", config: String = "threshold=2;base_ms=60000", _ argument: String = "") async throws -> ScriptReply {
        try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: by, configuration: config, argument: argument))
    }

    func ledgerVersions(_ name: BreakerName) async throws -> [Int] {
        (try await pool.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init).map(\.version)
    }

    @Test("a lost state hash comes back as the ledger last agreed, under the next version")
    func lostHashRestored() async throws {
        let name = try uniqueName("lost-hash")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            let tripped = try await op(name, "record", "F2")
            #expect(tripped.state == .open && tripped.version == 1)
            _ = try await pool.execute("DEL", name.stateKey) // a lapsed TTL, eviction, a manual DEL
            let next = try await op(name, "record", by: "B", "S1")
            #expect(next.state == .open, "the hash came back \(next.state.rawValue), not what the ledger says")
            #expect(next.version == 2)
            #expect(next.repairs.contains("restored open"))
            #expect(try await ledgerVersions(name) == [1, 2])
        }
    }

    @Test("an instance that knew the breaker open keeps it open after the hash is lost")
    func instanceFollowsRestoredState() async throws {
        let name = try uniqueName("lost-fleet")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 2, redis: redis) { fleet in
                let options = fastOptions(threshold: 2, openTimeout: .seconds(60))
                let breakers = try await fleet.breakers(name, options: options)
                await record(breakers[0], .failure, count: 2)
                #expect(await eventually { breakers.allSatisfy { $0.view.state == .open } })
                _ = try await pool.execute("DEL", name.stateKey)
                // Another instance writes first (a success of a call admitted before the trip).
                _ = try await breakers[1].runScript("record", argument: "S1")
                try await breakers[0].refresh()
                #expect(breakers[0].view.state == .open)
                #expect(try await storedFields(name, pool)["state"] == "open")
                let versions = try await ledgerVersions(name)
                #expect(versions == Array(Set(versions)).sorted(), "ledger versions repeat or go back: \(versions)")
            }
        }
    }

    @Test("versions continue past the ledger whatever the stored version field holds",
          arguments: ["-5", "", "0", "abc", "3.5", "1e20", "99999999999999999999", nil])
    func versionContinues(value: String?) async throws {
        let name = try uniqueName("version")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            _ = try await op(name, "force_open")
            _ = try await op(name, "reset")
            _ = try await op(name, "force_close")           // ledger v1, v2, v3
            if let value {
                _ = try await pool.execute("HSET", name.stateKey, "version", value)
            } else {
                _ = try await pool.execute("HDEL", name.stateKey, "version")
            }
            let next = try await op(name, "force_open")
            #expect(next.version == 4, "version \(value ?? "missing") led to v\(next.version)")
            #expect(try await ledgerVersions(name) == [1, 2, 3, 4])
        }
    }

    @Test("a ledger key of the wrong type is replaced, and the trip is logged in it", arguments: [
        ["SET", "{log}", "garbage"], ["RPUSH", "{log}", "a"], ["HSET", "{log}", "f", "v"], ["SADD", "{log}", "m"],
    ])
    func wrongTypeLedger(command: [String]) async throws {
        for existing in [false, true] {
            let name = try uniqueName("ledger-type")
            try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
                if existing { _ = try await op(name, "record", "S1") } // the hash is written first
                let words = command.map { $0 == "{log}" ? name.logKey : $0 }
                _ = try await pool.execute(RedisCommand(words[0], Array(words.dropFirst())))
                let reply = try await op(name, "record", "F2")
                #expect(reply.state == .open)
                #expect(reply.repairs.contains("ledger"))
                let entries = (try await pool.execute("XRANGE", name.logKey, "-", "+").array ?? []).compactMap(LedgerEntry.init)
                #expect(entries.map(\.to) == ["open"], "ledger after a \(command[0]) key: \(entries)")
            }
        }
    }

    @Test("a timed force-close lapses on time on an idle closed breaker")
    func idleOverrideLapses() async throws {
        let name = try uniqueName("idle-lapse")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions())[0]
                let admin = BreakerAdmin(store: pool, instanceID: "cli@test")
                // Long enough that a busy machine is unlikely to deliver the override and its lapse to the
                // view in one go (then the view never shows it), short enough for the test.
                _ = try await admin.forceClose(name, ManualAction(actor: "test", note: "idle", duration: .seconds(2)))
                #expect(await eventually { breaker.view.forced == .closed })
                // Nothing is recorded and no CLI reads the breaker: only the daemon's own checks run.
                #expect(await eventually(timeout: .seconds(10)) { (try? await storedFields(name, pool)["forced"]) == "" },
                        "the override was still stored after its expiry")
                #expect(await eventually { breaker.view.forced == nil })
            }
        }
    }

    @Test("an event claiming a far-ahead version never opens the shared breaker", arguments: [1, 1_000, 1 << 40])
    func forgedEventIgnoredByStore(ahead: Int) async throws {
        let name = try uniqueName("forged")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions())[0]
                await record(breaker, .success, count: 1)
                await fleet.groups[0].flush()
                let stored = Int(try await storedFields(name, pool)["version"] ?? "0") ?? 0
                let payload = #"{"name":"\#(name.rawValue)","from":"closed","to":"open","version":\#(stored + ahead),"by":"intruder","at_ms":1,"reason":"forged","opened_at_ms":1,"open_timeout_ms":60000}"#
                // Published until applied: the subscription may still be starting.
                #expect(await eventually(interval: .milliseconds(50)) {
                    _ = try? await pool.execute("PUBLISH", name.eventsChannel, payload)
                    return breaker.view.version == stored + ahead
                })
                // The next periodic check reads the store: the view follows it, and nothing reopens.
                #expect(await eventually { breaker.view.version == stored && breaker.view.state == .closed })
                try await Task.sleep(for: .milliseconds(600)) // three more checks
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "closed")
                #expect(fields["last_reason"] != "reconciled_after_outage")
            }
        }
    }

    @Test("an event or a reply with numbers no store could hold never crashes admission or status",
          arguments: [Int64.max, Int64.min, -1, 1 << 60])
    func impossibleNumbers(value: Int64) async throws {
        let name = try uniqueName("numbers")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions())[0]
                let event = BreakerEvent(name: name.rawValue, from: "closed", to: "open", version: breaker.view.version + 1, by: "x",
                                         atMilliseconds: value, reason: "forged", openedAtMilliseconds: value, openTimeoutMilliseconds: value,
                                         forced: nil, failedRecoveries: Int(truncatingIfNeeded: value))
                breaker.apply(event)
                _ = breaker.status()
                _ = try? await breaker.acquire()
                let reply = try ScriptReply(.array([.bulkString(Array("open".utf8)), .integer(value), .integer(value), .integer(value), .bulkString([]),
                                                    .integer(value), .bulkString([]), .integer(0), .integer(value), .integer(value), .integer(value),
                                                    .integer(value), .bulkString([]), .bulkString([])]))
                #expect(reply.openedAtMilliseconds >= 0 && reply.serverNowMilliseconds >= 0)
            }
        }
    }
}
