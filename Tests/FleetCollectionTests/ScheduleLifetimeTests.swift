import BreakwaterTestSupport
import FleetCollection
import Foundation
import RedisClient
import Testing

/// The fleet schedule's key lives as long as its deadlines need it, far-future deadlines are
/// repaired, pauses of any size are clamped and stored as integers, and a 429 pauses the
/// whole rate-limit group.
@Suite("Fleet schedule: key lifetime, pause bounds and group pauses", .tags(.integration))
struct ScheduleLifetimeTests {
    let pool: RedisConnectionPool
    let prefix = TestRedis.uniquePrefix("sched-life")

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 2)
    }

    func schedule(_ name: String, _ instance: String, group: String? = nil) -> CollectorSchedule {
        CollectorSchedule(name: prefix + name, instanceID: instance, group: group.map { prefix + $0 }, store: pool)
    }

    func ttlMilliseconds(_ key: String) async throws -> Int64 {
        try await pool.execute("PTTL", key).int ?? -3
    }

    func serverMilliseconds() async throws -> Int64 {
        let time = try await pool.execute("TIME").array ?? []
        return (time[0].int ?? 0) * 1000 + (time[1].int ?? 0) / 1000
    }

    @Test("every claim keeps cb_sched alive past a 48 h interval, including those that wait")
    func longIntervalKeepsKey() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let a = schedule("long", "a")
            let b = schedule("long", "b")
            let interval = Duration.seconds(48 * 3600)
            guard case .poll = try await a.claim(interval: interval, mode: .fleet, group: nil, kind: "reddit").decision else {
                Issue.record("the first claim did not poll"); return
            }
            #expect(try await ttlMilliseconds(a.key) > 48 * 3_600_000, "the key lapses before the next slot is due")
            _ = try await pool.execute("PEXPIRE", a.key, "5000")
            guard case .wait = try await b.claim(interval: interval, mode: .fleet, group: nil, kind: "reddit").decision else {
                Issue.record("the second claim did not wait"); return
            }
            #expect(try await ttlMilliseconds(a.key) > 48 * 3_600_000, "a claim that waits did not renew the key")
        }
    }

    @Test("a 72 h pause keeps cb_sched alive past its end, also through claims that are told to pause")
    func longPauseKeepsKey() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let a = CollectorSchedule(name: prefix + "pause", instanceID: "a", maximumPause: .seconds(96 * 3600), store: pool)
            try await a.pause(for: .seconds(72 * 3600))
            #expect(try await ttlMilliseconds(a.key) > 72 * 3_600_000)
            _ = try await pool.execute("PEXPIRE", a.key, "5000")
            guard case .paused(let left) = try await a.claim(interval: .seconds(60), mode: .fleet, group: nil, kind: "twitter").decision else {
                Issue.record("not paused"); return
            }
            #expect(left > .seconds(71 * 3600))
            #expect(try await ttlMilliseconds(a.key) > 72 * 3_600_000, "a paused claim did not renew the key")
        }
    }

    @Test("a stored far-future pause is pulled in to the maximum pause, and the repair is reported",
          arguments: [Int64(10 * 365 * 86_400_000), Int64(7_000_000_000_000_000)])
    func farFuturePauseRepaired(ahead: Int64) async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let a = schedule("far", "a")
            let now = try await serverMilliseconds()
            _ = try await pool.execute("HSET", a.key, "paused_until_ms", "\(now + ahead)")
            let claim = try await a.claim(interval: .seconds(1), mode: .fleet, group: nil, kind: "http_json")
            #expect(claim.repairs.contains("paused_until_ms"))
            let stored = Int64(try await pool.execute("HGET", a.key, "paused_until_ms").string ?? "") ?? .max
            #expect(stored <= now + 86_400_000 + 60_000, "the far-future pause is still stored: \(stored - now) ms ahead")
        }
    }

    @Test("a pause of any size is clamped to the maximum and stored as an integer, never as a float",
          arguments: [Duration.seconds(4_611_686_018_427_387), .seconds(99_999_999_999_999_999), .seconds(Int64.max)])
    func hugePauseClamped(pause: Duration) async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let a = schedule("huge", "a")
            let now = try await serverMilliseconds()
            try await a.pause(for: pause)
            let raw = try await pool.execute("HGET", a.key, "paused_until_ms").string ?? ""
            let stored = try #require(Int64(raw), "paused_until_ms is not an integer: \(raw)")
            #expect(stored >= now + 86_400_000 - 1_000 && stored <= now + 86_400_000 + 60_000)
            guard case .paused(let left) = try await a.claim(interval: .seconds(1), mode: .fleet, group: nil, kind: "http_json").decision else {
                Issue.record("a huge pause was forgotten: the claim polls"); return
            }
            #expect(left > .seconds(86_000))
        }
    }

    @Test("a 429 seen by one collector pauses every collector of its rate-limit group")
    func groupPause() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let timeline = schedule("timeline", "a", group: "x-app")
            let mentions = schedule("mentions", "b", group: "x-app")
            let other = schedule("elsewhere", "c", group: "other-app")
            try await timeline.pause(for: .seconds(60))
            for (label, s) in [("the other collector of the group", mentions), ("a restarted instance", schedule("mentions", "d", group: "x-app"))] {
                guard case .paused(let left) = try await s.claim(interval: .seconds(1), mode: .fleet, group: nil, kind: "twitter").decision else {
                    Issue.record("\(label) polls into the group's 429"); continue
                }
                #expect(left > .seconds(20)) // of 60 s (a busy machine may take seconds between the calls)
            }
            guard case .poll = try await other.claim(interval: .seconds(1), mode: .perInstance, group: nil, kind: "twitter").decision else {
                Issue.record("another group was paused too"); return
            }
        }
    }
}
