import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

@Suite("Shared breaker state in Redis", .tags(.integration))
struct SharedStateTests {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("stores every documented field in cb_state:<name> with a 24 h TTL refreshed on every write")
    func fieldsAndTTL() async throws {
        let name = try uniqueName("fields")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions())[0]
                await record(breaker, .success, count: 3)
                await fleet.groups[0].flush()
                let fields = try await storedFields(name, pool)
                for field in ["state", "version", "opened_at_ms", "open_timeout_ms", "failed_recoveries", "failure_count",
                              "half_open_attempts", "half_open_successes", "forced", "updated_by", "updated_at_ms",
                              "circuit_opens", "successful_recoveries", "total_successes", "total_failures", "time_in_open_ms"] {
                    #expect(fields[field] != nil, "missing field \(field)")
                }
                #expect(fields["state"] == "closed")
                #expect(fields["total_successes"] == "3")
                #expect(fields["updated_by"] == "inst-0")
                #expect(fields["open_timeout_ms"] == "300")
                _ = try await pool.execute("EXPIRE", name.stateKey, 100)
                await record(breaker, .failure)
                await fleet.groups[0].flush()
                let ttl = try #require(try await pool.execute("TTL", name.stateKey).int)
                #expect(ttl > 86_000 && ttl <= 86_400)
                await fleet.stop()
            }
        }
    }

    @Test("counts failures cluster-wide: 3 instances x 2 failures trip a threshold of 5 exactly once")
    func clusterWideTrip() async throws {
        let name = try uniqueName("trip")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 3, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 5, openTimeout: .seconds(60)))
                let events = try RedisSubscriber(configuration: redis)
                defer { events.close() }
                try await events.subscribe([name.eventsChannel])
                await withTaskGroup(of: Void.self) { group in
                    for (index, breaker) in breakers.enumerated() {
                        group.addTask {
                            await record(breaker, .failure, count: 2)
                            await fleet.groups[index].flush()
                        }
                    }
                }
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "open")
                #expect(fields["version"] == "1")
                #expect(fields["circuit_opens"] == "1")
                #expect(Int(fields["total_failures"] ?? "") ?? 0 >= 5)
                // Every instance adopts the one transition (pub/sub or its own reply).
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .open && breaker.view.version == 1 })
                    await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
                }
                // Exactly one event was published, with the documented fields.
                var iterator = events.events.makeAsyncIterator()
                guard case .message(let message)? = await iterator.next() else { Issue.record("no event"); return }
                let object = try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
                for key in ["name", "from", "to", "version", "by", "at_ms", "reason"] { #expect(object[key] != nil, "event lacks \(key)") }
                #expect(object["to"] as? String == "open")
                #expect(object["reason"] as? String == "failure_threshold")
                #expect(object["name"] as? String == name.rawValue)
                await fleet.stop()
            }
        }
    }

    @Test("recovers through half-open with cluster-wide probe permits, then closes and resets the timeout")
    func halfOpenRecovery() async throws {
        let name = try uniqueName("recover")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 3, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(200), halfOpenMax: 3, successes: 3))
                await record(breakers[0], .failure)
                await fleet.groups[0].flush()
                // Every instance saw the trip (open lasts only 200 ms: on a loaded machine a poll may
                // already have moved it to half-open, so wait for the version, not the transient state).
                #expect(await eventually { breakers.allSatisfy { $0.view.version >= 1 } })
                try await Task.sleep(for: .milliseconds(260))
                // 3 instances x 4 concurrent callers race for permits: at most 3 across the cluster.
                let tickets = await withTaskGroup(of: SharedBreaker.Ticket?.self) { group in
                    for breaker in breakers {
                        for _ in 0..<4 { group.addTask { try? await breaker.acquire() } }
                    }
                    var granted: [SharedBreaker.Ticket] = []
                    for await ticket in group { if let ticket { granted.append(ticket) } }
                    return granted
                }
                #expect(tickets.count == 3)
                #expect(try await storedFields(name, pool)["half_open_attempts"] == "3")
                #expect(try await storedFields(name, pool)["state"] == "half-open")
                for ticket in tickets { await breakers[0].record(.success, duration: .milliseconds(1), ticket: ticket) }
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "closed")
                #expect(fields["successful_recoveries"] == "1")
                #expect(fields["open_timeout_ms"] == "200")
                #expect(fields["failed_recoveries"] == "0")
                #expect(Int(fields["time_in_open_ms"] ?? "") ?? 0 >= 200)
                #expect(fields["version"] == "3")
                for breaker in breakers { #expect(await eventually { breaker.view.state == .closed }) }
                await fleet.stop()
            }
        }
    }

    @Test("a failed probe reopens with open_timeout x 1.5, stored so every instance and restart agree")
    func backoffIsStored() async throws {
        let name = try uniqueName("backoff")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 2, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(200)))
                await record(breakers[0], .failure)
                await fleet.groups[0].flush()
                var expected = 200.0
                for round in 1...3 {
                    try await Task.sleep(for: .milliseconds(Int64(expected) + 60))
                    let ticket = try await breakers[round % 2].acquire()
                    await breakers[round % 2].record(.failure, duration: .milliseconds(1), ticket: ticket)
                    expected *= 1.5
                    let fields = try await storedFields(name, pool)
                    #expect(fields["state"] == "open")
                    #expect(fields["failed_recoveries"] == "\(round)")
                    #expect(fields["open_timeout_ms"] == "\(Int((expected).rounded()))")
                    // The other instance learns the backoff from the event alone.
                    #expect(await eventually { breakers[(round + 1) % 2].view.failedRecoveries == round })
                }
                // A restarted instance adopts the stored open state and its backoff.
                let restarted = SharedBreakerGroup(instanceID: "restarted", redis: redis)
                let adopted = try await restarted.breaker(named: name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(200)))
                #expect(adopted.view.state == .open)
                #expect(adopted.view.failedRecoveries == 3)
                #expect(adopted.view.openTimeoutMilliseconds == 675)
                await #expect(throws: CircuitOpenError.self) { _ = try await adopted.acquire() }
                await restarted.shutdown()
                await fleet.stop()
            }
        }
    }

    @Test("caps the stored open timeout at max_open_timeout")
    func backoffCap() async throws {
        let name = try uniqueName("cap")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            _ = try await pool.execute("HSET", name.stateKey, "state", "half-open", "version", "7", "failed_recoveries", "20", "open_timeout_ms", "3600000", "leases", "x:99999999999999")
            try await withFleet(count: 1, redis: redis) { fleet in
                var options = fastOptions(threshold: 1)
                options.breaker.openTimeout = .seconds(300)
                let breaker = try await fleet.breakers(name, options: options)[0]
                _ = try await breaker.runScript("probe", argument: "x:F")
                let fields = try await storedFields(name, pool)
                #expect(fields["open_timeout_ms"] == "3600000")
                #expect(fields["failed_recoveries"] == "21")
                #expect(fields["version"] == "8")
                await fleet.stop()
            }
        }
    }

    @Test("force-open, force-close and reset reach every instance and bump the version")
    func manualControl() async throws {
        let name = try uniqueName("manual")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 2, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(openTimeout: .milliseconds(100)))
                try await breakers[0].forceOpen()
                #expect(await eventually { breakers[1].view.state == .open && breakers[1].view.forced == .open })
                // Forced open holds past the open timeout.
                try await Task.sleep(for: .milliseconds(250))
                await #expect(throws: CircuitOpenError.self) { _ = try await breakers[1].acquire() }
                try await breakers[1].forceClose()
                #expect(await eventually { breakers[0].view.state == .closed && breakers[0].view.forced == .closed })
                // Forced closed ignores failures.
                await record(breakers[0], .failure, count: 10)
                await fleet.groups[0].flush()
                #expect(try await storedFields(name, pool)["state"] == "closed")
                try await breakers[0].reset()
                let fields = try await storedFields(name, pool)
                #expect(fields["forced"] == "")
                #expect(fields["failure_count"] == "0")
                #expect(fields["version"] == "3")
                #expect(fields["total_failures"] == "10", "reset keeps statistics")
                #expect(await eventually { breakers[1].view.version == 3 && breakers[1].view.forced == nil })
                await fleet.stop()
            }
        }
    }

    @Test("loses no increments: 4 instances x 8 tasks x 50 outcomes")
    func exactCounters() async throws {
        let name = try uniqueName("count")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 4, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 10_000))
                await withTaskGroup(of: Void.self) { group in
                    for breaker in breakers {
                        for task in 0..<8 {
                            group.addTask { await record(breaker, task % 2 == 0 ? .success : .failure, count: 50) }
                        }
                    }
                }
                for group in fleet.groups { await group.flush() }
                let fields = try await storedFields(name, pool)
                #expect(fields["total_successes"] == "800")
                #expect(fields["total_failures"] == "800")
                #expect(fields["state"] == "closed")
                await fleet.stop()
            }
        }
    }

    @Test("instances with skewed clocks agree on when open ends (Redis time decides)")
    func clockSkew() async throws {
        let name = try uniqueName("skew")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let clocks: [any BreakerClock] = [SkewedClock(offset: .seconds(3600)), SkewedClock(offset: .seconds(-3600)), ContinuousBreakerClock()]
            try await withFleet(count: 3, redis: redis, clocks: clocks) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 1, openTimeout: .seconds(1)))
                await record(breakers[2], .failure)
                await fleet.groups[2].flush()
                #expect(await eventually { breakers.allSatisfy { $0.view.state == .open } })
                // The host an hour ahead must not think the breaker is due: nobody gets a probe early.
                for breaker in breakers {
                    await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
                }
                try await Task.sleep(for: .milliseconds(1100))
                let ticket = try await breakers[1].acquire()
                #expect(try await storedFields(name, pool)["state"] == "half-open")
                await breakers[1].record(.success, duration: .milliseconds(1), ticket: ticket)
                await fleet.stop()
            }
        }
    }

    @Test("an unanswered probe permit expires after its lease, so a dead prober cannot wedge half-open")
    func probeLeaseExpires() async throws {
        let name = try uniqueName("lease")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 2, redis: redis) { fleet in
                // The prober that dies holds a short lease; the survivor's permits last long enough
                // that its own answer is never late, however loaded the machine is.
                let doomed = try await fleet.groups[0].breaker(named: name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(100), halfOpenMax: 1, successes: 1, lease: .seconds(3)))
                let survivor = try await fleet.groups[1].breaker(named: name, options: fastOptions(threshold: 1, openTimeout: .milliseconds(100), halfOpenMax: 1, successes: 1, lease: .seconds(30)))
                await record(doomed, .failure)
                await fleet.groups[0].flush()
                // Tripped (open lasts 100 ms; a poll may already have half-opened it on a loaded machine).
                #expect(await eventually { (try? await storedFields(name, pool)["circuit_opens"]) == "1" })
                try await Task.sleep(for: .milliseconds(150))
                _ = try await doomed.acquire() // never answered
                await #expect(throws: CircuitOpenError.self) { _ = try await survivor.acquire() }
                var ticket: SharedBreaker.Ticket?
                #expect(await eventually {
                    ticket = try? await survivor.acquire()
                    return ticket != nil
                })
                await survivor.record(.success, duration: .milliseconds(1), ticket: try #require(ticket))
                #expect(try await storedFields(name, pool)["state"] == "closed")
                await fleet.stop()
            }
        }
    }

    @Test("half-open longer than half_open_max_wait reopens, counted as a failed recovery")
    func halfOpenMaxWait() async throws {
        let name = try uniqueName("maxwait")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            // No background version checks: this test decides when the script runs.
            try await withFleet(count: 2, redis: redis, pollInterval: .seconds(600)) { fleet in
                var options = fastOptions(threshold: 1, openTimeout: .milliseconds(100), halfOpenMax: 1, successes: 1, lease: .seconds(30))
                options.breaker.halfOpenMaxWait = .milliseconds(300)
                let breakers = try await fleet.breakers(name, options: options)
                await record(breakers[0], .failure)
                await fleet.groups[0].flush()
                try await Task.sleep(for: .milliseconds(150))
                _ = try await breakers[0].acquire() // a probe that never answers, with a long lease
                #expect(try await storedFields(name, pool)["state"] == "half-open")
                try await Task.sleep(for: .milliseconds(350))
                _ = try await breakers[1].runScript("touch", argument: "")
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "open")
                #expect(fields["failed_recoveries"] == "1")
                #expect(fields["open_timeout_ms"] == "150")
                await fleet.stop()
            }
        }
    }

    @Test("below trip_quorum the shared breaker stays closed while the sick instance trips locally")
    func quorum() async throws {
        let name = try uniqueName("quorum")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 2, redis: redis) { fleet in
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 3, openTimeout: .seconds(60), quorum: 2))
                await record(breakers[0], .failure, count: 6)
                await fleet.groups[0].flush()
                #expect(try await storedFields(name, pool)["state"] == "closed")
                let sick = breakers[0].status()
                #expect(sick.state == .closed)
                #expect(sick.local.state == .open)
                await #expect(throws: CircuitOpenError.self) { _ = try await breakers[0].acquire() }
                _ = try await breakers[1].acquire() // the healthy instance keeps working
                await record(breakers[1], .failure, count: 1)
                await fleet.groups[1].flush()
                #expect(try await storedFields(name, pool)["state"] == "open")
                await fleet.stop()
            }
        }
    }

    @Test("repairs garbage in Redis instead of crashing", arguments: [
        ["SET", "{key}", "not a hash"],
        ["HSET", "{key}", "state", "exploded", "version", "4"],
        ["HSET", "{key}", "state", "open", "version", "abc", "opened_at_ms", "-5", "open_timeout_ms", "NaN"],
        ["HSET", "{key}", "forced", "sideways", "failure_count", "1e400"],
    ])
    func repairsGarbage(command: [String]) async throws {
        let name = try uniqueName("garbage")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            _ = try await pool.execute(RedisCommand(command[0], command.dropFirst().map { $0 == "{key}" ? name.stateKey : $0 }))
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(threshold: 2))[0]
                try await breaker.reset()
                let fields = try await storedFields(name, pool)
                #expect(["closed"].contains(fields["state"]))
                #expect(Int(fields["version"] ?? "") != nil)
                #expect(fields["forced"] == "")
                #expect(try await pool.execute("TYPE", name.stateKey) == .status("hash"))
                await record(breaker, .failure, count: 2)
                await fleet.groups[0].flush()
                #expect(try await storedFields(name, pool)["state"] == "open")
                await fleet.stop()
            }
        }
    }

    @Test("a lost pub/sub message is repaired by the periodic version check")
    func lostMessageRepair() async throws {
        let name = try uniqueName("poll")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            try await withFleet(count: 1, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(openTimeout: .seconds(60)))
                // Someone changes the hash without publishing (as if the message were lost).
                let now = try await pool.execute("TIME").array?.first?.int ?? 0
                _ = try await pool.execute("HSET", name.stateKey, "state", "open", "version", "5", "opened_at_ms", now * 1000, "open_timeout_ms", 60000)
                #expect(await eventually { breaker[0].view.state == .open && breaker[0].view.version == 5 })
                await fleet.stop()
            }
        }
    }

    @Test("a running instance keeps its breakers' keys alive; a force-open never lapses")
    func keepAlive() async throws {
        let name = try uniqueName("keepalive")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
            try await withFleet(count: 1, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions())[0]
                try await breaker.forceOpen()
                // Any TTL below 23 h is renewed by the next version check (every 100 ms here); 20 s of
                // margin so a loaded machine cannot let the key lapse before that check runs.
                _ = try await pool.execute("EXPIRE", name.stateKey, 20)
                #expect(await eventually(timeout: .seconds(18)) { (try? await pool.execute("TTL", name.stateKey).int ?? 0) ?? 0 > 80_000 }, "TTL not renewed")
                let fields = try await storedFields(name, pool)
                #expect(fields["state"] == "open" && fields["forced"] == "open")
            }
        }
    }
}
