import BreakwaterTestSupport
import FleetCollection
import Foundation
import RedisClient
import Testing

/// The Lua scripts against the real test Redis: slot claims, the shared token ring, cursor
/// commits, and what they do with garbage.
@Suite("Fleet scripts on a real redis-server", .tags(.integration))
struct FleetScriptTests {
    let pool: RedisConnectionPool
    let prefix = TestRedis.uniquePrefix("fleet")

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 2)
    }

    func schedule(_ name: String, _ instance: String) -> CollectorSchedule {
        CollectorSchedule(name: prefix + name, instanceID: instance, store: pool)
    }

    @Test("in fleet mode exactly one of many instances gets each slot; the others wait for the next")
    func oneClaimPerSlot() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let claims = try await withThrowingTaskGroup(of: SlotClaim.self) { group in
                for index in 0..<8 {
                    group.addTask { try await schedule("one", "i\(index)").claim(interval: .seconds(10), mode: .fleet, group: nil, kind: "http_json") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let polls = claims.filter { if case .poll = $0.decision { true } else { false } }
            #expect(polls.count == 1)
            for claim in claims where claim != polls.first {
                guard case .wait(let wait) = claim.decision else { Issue.record("expected wait, got \(claim)"); continue }
                #expect(wait > .seconds(5) && wait <= .seconds(10))
            }
            let stored = try await pool.execute("HGETALL", schedule("one", "x").key).fieldDictionary ?? [:]
            #expect(stored["polls"] == "1")
            #expect(stored["schedule"] == "fleet")
        }
    }

    @Test("per_instance always polls; a pause stops both modes until its deadline")
    func pause() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let a = schedule("pause", "a"), b = schedule("pause", "b")
            for _ in 0..<3 {
                let claim = try await a.claim(interval: .seconds(10), mode: .perInstance, group: nil, kind: "reddit")
                #expect(claim.decision == .poll(lag: .zero))
            }
            try await a.pause(for: .seconds(30))
            for mode in [ScheduleMode.fleet, .perInstance] {
                let claim = try await b.claim(interval: .milliseconds(100), mode: mode, group: nil, kind: "reddit")
                guard case .paused(let wait) = claim.decision else { Issue.record("expected paused, got \(claim)"); continue }
                #expect(wait > .seconds(20) && wait <= .seconds(30))
            }
            // A shorter pause does not shorten a longer one already stored.
            try await b.pause(for: .milliseconds(10))
            let claim = try await b.claim(interval: .milliseconds(100), mode: .fleet, group: nil, kind: "reddit")
            guard case .paused = claim.decision else { Issue.record("expected paused, got \(claim)"); return }
        }
    }

    @Test("garbage in cb_sched is repaired and reported, never trusted", arguments: [
        ("next_due_ms", "1e20"), ("next_due_ms", "inf"), ("next_due_ms", "99999999999999999999"), ("next_due_ms", "abc"),
        ("paused_until_ms", "1e20"), ("paused_until_ms", "-5"), ("next_due_ms", "9007199254740000"),
    ])
    func garbage(field: String, value: String) async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let s = schedule("garbage-\(field)", "a")
            _ = try await pool.execute("HSET", s.key, field, value)
            let claim = try await s.claim(interval: .milliseconds(500), mode: .fleet, group: nil, kind: "http_json")
            #expect(!claim.repairs.isEmpty, "no repair reported for \(field)=\(value)")
            switch claim.decision {
            case .poll: break
            case .wait(let wait), .paused(let wait): #expect(wait <= .milliseconds(500), "\(field)=\(value) kept the fleet waiting \(wait)")
            }
        }
    }

    @Test("a cb_sched key of the wrong type is replaced by a hash (and reported)")
    func wrongType() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let s = schedule("wrongtype", "a")
            _ = try await pool.execute("SET", s.key, "banana")
            let claim = try await s.claim(interval: .seconds(1), mode: .fleet, group: nil, kind: "http_json")
            #expect(claim.repairs.contains("key held a string"))
            #expect(try await pool.execute("TYPE", s.key).string == "hash")
        }
    }

    @Test("the shared ring never grants more than N tokens in any window of the period")
    func ringBound() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) { () async throws in
            let limit = SharedRateLimit(group: prefix + "ring", requests: 4, period: .milliseconds(600), store: pool)
            var grants: [Int64] = []
            // Until 12 grants (3 periods' worth), however slow a busy machine makes each call.
            let deadline = ContinuousClock.now + .seconds(120)
            while grants.count < 12, ContinuousClock.now < deadline {
                let decision = try await limit.take(kind: "twitter", instanceID: "t")
                switch decision.outcome {
                case .granted: grants.append(decision.serverMilliseconds)
                case .wait(let wait): try await Task.sleep(for: min(wait, .milliseconds(50)))
                case .kindConflict: Issue.record("unexpected conflict")
                }
            }
            #expect(grants.count == 12)
            let hold = Int64(600 + 100) // period + guard (100 ms minimum)
            for (index, start) in grants.enumerated() {
                let inWindow = grants[index...].prefix { $0 < start + hold }.count
                #expect(inWindow <= 4, "\(inWindow) grants within \(hold) ms from \(start)")
            }
        }
    }

    @Test("a token held by a request in flight returns a period after its release, or after its timeout if never released")
    func holdAndRelease() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            // Period 30 s, request timeout 120 s: the waits below tell "timeout + period" (~150 s)
            // from "period after the release" (~30 s) with margins no busy machine can eat.
            let limit = SharedRateLimit(group: prefix + "hold", requests: 1, period: .seconds(30), requestTimeout: .seconds(120), store: pool)
            guard case .granted(let grant) = try await limit.take(kind: "reddit", instanceID: "a").outcome else { Issue.record("no first grant"); return }
            // Each wait with the server time it was computed at: a stall of the test between two
            // calls shortens the wait by exactly the time that passed, which is added back.
            func waitNow() async throws -> (wait: Duration, at: Int64)? {
                let decision = try await limit.take(kind: "reddit", instanceID: "b")
                if case .wait(let wait) = decision.outcome { return (wait, decision.serverMilliseconds) }
                return nil
            }
            func sinceGrant(_ at: Int64) -> Duration { .milliseconds(at - grant.grantedAtMilliseconds) }
            // In flight: the token is out for the request's timeout plus the period after the grant.
            let inFlight = try #require(try await waitNow(), "granted while the only token is in flight")
            #expect(inFlight.wait + sinceGrant(inFlight.at) > .seconds(140))
            // A stale release (another grant time) changes nothing.
            try await limit.release(TokenGrant(slot: 0, grantedAtMilliseconds: grant.grantedAtMilliseconds - 1))
            let stale = try #require(try await waitNow())
            #expect(stale.wait + sinceGrant(stale.at) > .seconds(140))
            // The real release (after `stale.at`): the token returns a period (plus the 1 s guard) after it.
            try await limit.release(grant)
            let afterRelease = try #require(try await waitNow(), "granted within a period of the release")
            #expect(afterRelease.wait + .milliseconds(afterRelease.at - stale.at) > .seconds(20) && afterRelease.wait <= .seconds(31))
        }
    }

    @Test("a group used by another kind is a conflict, not a grant; garbage slots count as just taken")
    func quotaConflictAndGarbage() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let limit = SharedRateLimit(group: prefix + "q", requests: 2, period: .seconds(60), store: pool)
            guard case .granted = try await limit.take(kind: "twitter", instanceID: "a").outcome else { Issue.record("no grant"); return }
            #expect(try await limit.take(kind: "reddit", instanceID: "b").outcome == .kindConflict(storedKind: "twitter"))
            let key = SharedRateLimit.key(for: prefix + "q")
            _ = try await pool.execute("HSET", key, "t1", "inf", "next", "1")
            let decision = try await limit.take(kind: "twitter", instanceID: "a")
            #expect(decision.repairs.contains("t1=inf is invalid"))
            guard case .wait(let wait) = decision.outcome else { Issue.record("garbage slot granted a token: \(decision)"); return }
            #expect(wait > .seconds(59))
            _ = try await pool.execute("HSET", key, "t1", "99999999999999", "next", "1")
            let farFuture = try await limit.take(kind: "twitter", instanceID: "a")
            #expect(farFuture.repairs.contains("t1=99999999999999 is invalid"))
            _ = try await pool.execute("HSET", key, "next", "1e20")
            #expect(try await limit.take(kind: "twitter", instanceID: "a").repairs.contains("next=1e20 is invalid"))
            _ = try await pool.execute("DEL", key)
            _ = try await pool.execute("RPUSH", key, "x")
            #expect(try await limit.take(kind: "twitter", instanceID: "a").repairs.contains("key held a list"))
            let peek = try #require(try await SharedRateLimit.peek(group: prefix + "q", store: pool))
            #expect(peek.requests == 2 && peek.left == 1)
            #expect(try await SharedRateLimit.peek(group: prefix + "never-used", store: pool) == nil)
        }
    }

    @Test("commit writes only items newer than the cursor, in order, once across overlapping batches")
    func cursorCommit() async throws {
        try await withKeyCleanup(prefix: prefix, pool: pool) {
            let s = schedule("cursor", "a")
            let stream = prefix + "collector:cursor"
            func batch(_ ids: [String]) -> [(id: String, fields: [(String, String)])] { ids.map { ($0, [("id", $0)]) } }
            let first = try await s.commit(batch(["1700000000000000005", "1700000000000000003", "1700000000000000004"]), to: stream, maxLength: 100)
            #expect(first.written == 3 && first.cursor == "1700000000000000005")
            // Overlap, a repeat inside the batch, an older id, and a shorter (older) id.
            let second = try await s.commit(batch(["1700000000000000006", "1700000000000000005", "1700000000000000006", "999", "1700000000000000004"]), to: stream, maxLength: 100)
            #expect(second.written == 1 && second.skipped == 4 && second.cursor == "1700000000000000006")
            let ids = (try await pool.execute("XRANGE", stream, "-", "+").array ?? []).compactMap { $0.array?.last?.fieldDictionary?["id"] }
            #expect(ids == ["1700000000000000003", "1700000000000000004", "1700000000000000005", "1700000000000000006"])
            // Reddit fullnames order by their base-36 part.
            let reddit = schedule("reddit", "b")
            _ = try await reddit.commit(batch(["t3_1zz", "t3_1a0"]), to: stream + "r", maxLength: 100)
            let next = try await reddit.commit(batch(["t3_1zz", "t3_200", "t3_1zy"]), to: stream + "r", maxLength: 100)
            #expect(next.written == 1 && next.cursor == "t3_200")
            // A garbage cursor is dropped and reported.
            _ = try await pool.execute("HSET", reddit.key, "cursor", "} ; drop")
            let repaired = try await reddit.commit(batch(["t3_201"]), to: stream + "r", maxLength: 100)
            #expect(repaired.repairs.contains("is not an item id"))
            #expect(repaired.cursor == "t3_201")
        }
    }
}
