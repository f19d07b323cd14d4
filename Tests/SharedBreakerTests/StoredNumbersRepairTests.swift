import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// Numbers and timestamps in `cb_state:<name>` that no script wrote (garbage, fractions, a
/// missing `opened_at_ms`, a 0 ms timeout from an old config) are repaired, saved and published.
@Suite("Stored numbers and timestamps are repaired", .tags(.integration))
struct StoredNumbersRepairTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("garbage numbers are repaired to integers and the transition is published", arguments: [
        "inf", "1e20", "3.5", "-inf", "nan", "0x10", "99999999999999999999", " 7",
    ])
    func garbageVersionRepaired(garbage: String) async throws {
        let name = try uniqueName("garbage")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("an open hash without opened_at_ms gets one, saved, and half-opens after its timeout")
    func openWithoutOpenedAtIsSaved() async throws {
        for garbage in ["0", ""] {
            let name = try uniqueName("opened-at")
            try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("one event per version, even with a 0 ms timeout from an old config")
    func oneEventPerVersion() async throws {
        let name = try uniqueName("one-event")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }
}
