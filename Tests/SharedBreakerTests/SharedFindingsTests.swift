import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Synchronization
import Testing
@testable import SharedBreaker

/// Findings of the adversarial review in the Swift side of the shared breaker (issue #9):
/// admission, the view, reconciliation, keep-alive. Each failed before its fix.
@Suite("Shared breaker: regressions from the adversarial review")
struct SharedFindingsTests {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    /// A group that is not running: no pub/sub, no polling (an instance cut off from events).
    func idleGroup(_ id: String, redis: RedisConfiguration? = nil) -> SharedBreakerGroup {
        SharedBreakerGroup(instanceID: id, redis: redis ?? self.redis, pollInterval: .seconds(3600))
    }

    @Test("finding 1: a rejection by the shared view never holds a local probe permit (quorum 2)")
    func noLocalPermitLeak() async throws {
        let name = try uniqueName("leak")
        try await withFleet(count: 2, redis: redis) { fleet in
            let options = fastOptions(threshold: 2, openTimeout: .milliseconds(200), halfOpenMax: 1, successes: 1, quorum: 2)
            let breakers = try await fleet.breakers(name, options: options)
            let a = breakers[0]
            await record(a, .failure, count: 2)
            #expect(a.status().local.state == .open)
            try await breakers[1].forceOpen()
            #expect(await eventually { a.view.forced == .open })
            // The local breaker is due to half-open; the shared one is forced open.
            try await Task.sleep(for: .milliseconds(250))
            for _ in 0..<3 { await #expect(throws: CircuitOpenError.self) { _ = try await a.acquire() } }
            #expect(a.status().local.halfOpenInFlight == 0, "rejected calls hold local probe permits")
            try await breakers[1].reset()
            #expect(await eventually { (try? await a.acquire()) != nil }, "instance A rejects every call after the reset")
        }
    }

    @Test("finding 4: force-close and reset reach an instance whose local breaker is open (quorum 2)")
    func manualCloseReachesLocal() async throws {
        let name = try uniqueName("manual-local")
        try await withFleet(count: 2, redis: redis) { fleet in
            let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 2, openTimeout: .seconds(60), quorum: 2))
            let a = breakers[0]
            await record(a, .failure, count: 2)
            #expect(a.status().local.state == .open)
            await #expect(throws: CircuitOpenError.self) { _ = try await a.acquire() }
            try await breakers[1].forceClose()
            #expect(await eventually { (try? await a.acquire()) != nil }, "force-close did not reach A's local breaker")
            await record(a, .failure, count: 2)
            try await breakers[1].reset()
            #expect(await eventually { a.status().local.state == .closed }, "reset did not reach A's local breaker")
            _ = try await a.acquire()
        }
    }

    @Test("finding 3: with quorum 2, an outage's failures are sent as outcomes, not as a reconcile-open")
    func outageRespectsQuorum() async throws {
        let server = try RedisServerProcess()
        defer { server.stop() }
        let quick = try quickReconnecting(server)
        let name = try uniqueName("outage-quorum")
        try await withFleet(count: 1, redis: quick, pollInterval: .milliseconds(100)) { fleet in
            let a = try await fleet.breakers(name, options: fastOptions(threshold: 3, openTimeout: .seconds(60), quorum: 2))[0]
            await record(a, .success)
            await fleet.groups[0].flush()
            server.kill()
            #expect(await eventually { !a.status().storeAvailable })
            await record(a, .failure, count: 3)
            #expect(a.status().local.state == .open)
            try server.start()
            try await withPool(quick, size: 1) { check in
                #expect(await eventually(timeout: .seconds(20)) { (try? await storedFields(name, check)["total_failures"]) == "3" }, "the outage's failures were not sent")
                let fields = try await storedFields(name, check)
                #expect(fields["state"] == "closed", "one instance opened the fleet's breaker despite quorum 2: \(fields)")
                #expect(fields["failure_count"] == "3")
            }
        }
    }

    @Test("finding 5: a running instance keeps its breakers' keys alive; a force-open never lapses")
    func keepAlive() async throws {
        let name = try uniqueName("keepalive")
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

    @Test("finding 6: run(timeout:) leases a probe for its timeout plus a margin, not the 15 s default")
    func probeLeaseFollowsTimeout() async throws {
        let name = try uniqueName("lease")
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

    @Test("finding 10: a transition is announced once even when its event arrives before the reply")
    func announcedOnce() async throws {
        let name = try uniqueName("announce")
        try await withGroup(idleGroup("A")) { group in
            let a = try await group.breaker(named: name, options: fastOptions(openTimeout: .seconds(60)))
            let announced = Mutex<[SharedTransition]>([])
            a.onTransition { transition in announced.withLock { $0.append(transition) } }
            // The script will make version 1 (closed -> open); its event overtakes the reply.
            a.apply(BreakerEvent(name: name.rawValue, from: "closed", to: "open", version: 1, by: "A", atMilliseconds: 0, reason: "forced_open"))
            try await a.forceOpen()
            let seen = announced.withLock { $0 }
            #expect(seen.count == 1, "announced \(seen.map(\.description))")
        }
    }

    @Test("suspected (confirmed): an operator's reset during an instance's outage is not overridden by its reconcile")
    func resetDuringOutageStands() async throws {
        let name = try uniqueName("reset-outage")
        try await withGroup(idleGroup("A")) { group in
            let a = try await group.breaker(named: name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
            a.setStoreAvailable(false)
            await record(a, .failure, count: 3)
            #expect(a.status().local.state == .open)
            let operatorReset = try ScriptReply(try await BreakerScript.call(pool, name: name, operation: "reset", instanceID: "operator", configuration: ""))
            try await a.refresh()
            let fields = try await storedFields(name, pool)
            #expect(fields["state"] == "closed", "the reconcile overrode the operator's reset: \(fields)")
            #expect(a.view.version == operatorReset.version)
            // Without a change by anyone during the outage, the more cautious state still wins.
            let other = try uniqueName("reopen-outage")
            let b = try await group.breaker(named: other, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
            b.setStoreAvailable(false)
            await record(b, .failure, count: 3)
            try await b.refresh()
            #expect(try await storedFields(other, pool)["state"] == "open")
        }
    }

    @Test("suspected (confirmed): the outage trip survives a failed reconcile; a failed batch is counted as dropped")
    func reconcileRetriedAndDropsCounted() async throws {
        let acl = FileManager.default.temporaryDirectory.appendingPathComponent("bw-limited-\(UUID().uuidString).acl")
        try "user default on nopass ~* &* +@all\nuser limited on >limited ~* &* +@all -evalsha -eval -script\n".write(to: acl, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: acl) }
        let server = try RedisServerProcess(arguments: ["--aclfile", acl.path])
        defer { server.stop() }
        let limited = try RedisConfiguration(url: "redis://limited:limited@127.0.0.1:\(server.port)")
        try await withPool(try RedisConfiguration(url: server.url), size: 1) { admin in
            try await withGroup(idleGroup("A", redis: limited)) { group in
                let name = try uniqueName("retry")
                let a = try await group.breaker(named: name, options: fastOptions(threshold: 3, openTimeout: .seconds(60)))
                // A batch the script refuses (NOPERM) is dropped, and counted.
                await record(a, .success, count: 4)
                await a.flush()
                #expect(a.droppedOutcomes == 4)
                a.setStoreAvailable(false)
                await record(a, .failure, count: 3)
                await #expect(throws: RedisError.self) { try await a.refresh() }
                _ = try await admin.execute("ACL", "SETUSER", "limited", "+evalsha", "+eval", "+script")
                try await a.refresh()
                #expect(try await storedFields(name, admin)["state"] == "open", "the outage's trip was forgotten after a failed reconcile")
            }
        }
    }

    @Test("suspected (confirmed): a call exactly at the slow-call threshold is not slow (> as documented)")
    func slowThresholdIsStrict() async throws {
        let name = try uniqueName("slow")
        try await withGroup(idleGroup("A")) { group in
            var config = BreakerConfig(failureThreshold: 5, openTimeout: .seconds(60))
            config.tripPolicies.append(.slowCallRate(percent: 50, slowerThan: .milliseconds(100), window: .count(10), minimumCalls: 10))
            let a = try await group.breaker(named: name, options: SharedBreakerOptions(breaker: config))
            for duration in [Duration.milliseconds(100), .milliseconds(101)] {
                let ticket = try await a.acquire()
                await a.record(.success, duration: duration, ticket: ticket)
            }
            await a.drain()
            #expect(try await storedFields(name, pool)["slow_calls"] == "1")
        }
    }

    @Test("suspected (confirmed): a restarted instance with a fixed id never reuses probe tokens")
    func probeTokensUniqueAcrossRestarts() async throws {
        let name = try uniqueName("tokens")
        _ = try await BreakerScript.call(pool, name: name, operation: "force_open", instanceID: "op", configuration: "base_ms=1")
        _ = try await BreakerScript.call(pool, name: name, operation: "reset", instanceID: "op", configuration: "base_ms=1")
        _ = try await pool.execute("HSET", name.stateKey, "state", "open", "opened_at_ms", "1", "open_timeout_ms", "1")
        for _ in 0..<2 {
            let group = idleGroup("fixed-id")
            let breaker = try await group.breaker(named: name, options: fastOptions(openTimeout: .milliseconds(1), halfOpenMax: 3))
            _ = try await breaker.acquire()
            await group.shutdown()
        }
        let leases = (try await storedFields(name, pool)["leases"] ?? "").split(separator: ",").map { $0.split(separator: ":")[0] }
        #expect(leases.count == 2 && Set(leases).count == 2, "leases \(leases)")
    }

    @Test("suspected (confirmed): a rejected caller's retry-after includes the minimum open duration")
    func retryAfterIncludesMinimumOpen() async throws {
        let name = try uniqueName("min-open")
        try await withGroup(idleGroup("A")) { group in
            var options = fastOptions(threshold: 1, openTimeout: .milliseconds(100))
            options.breaker.minimumOpenDuration = .seconds(60)
            let a = try await group.breaker(named: name, options: options)
            await record(a, .failure)
            await a.drain()
            #expect(a.view.state == .open)
            do {
                _ = try await a.acquire()
                Issue.record("admitted")
            } catch {
                // Before the fix: at most the 100 ms open timeout. 30 s of margin for a loaded machine.
                #expect((error.retryAfter ?? .zero) > .seconds(30), "retry after \(String(describing: error.retryAfter))")
            }
        }
    }

    @Test("suspected (confirmed): the library rejects instance ids that break lease and quorum lists", arguments: ["a:b", "a,b", "", "a b", "a#b", "tab\there"])
    func instanceIDValidated(id: String) async throws {
        try await withGroup(SharedBreakerGroup(instanceID: id, redis: redis, pollInterval: .seconds(3600))) { group in
            do {
                _ = try await group.breaker(named: try uniqueName("id"), options: fastOptions())
                Issue.record("instance id \(id.debugDescription) accepted")
            } catch let error as BreakerConfigError {
                #expect(error.problems.first?.field == "instance_id")
            }
        }
    }

    @Test("suspected (confirmed): a stored snapshot older than an event applied during the read is not adopted")
    func staleSnapshotKept() {
        var view = SharedBreakerView()
        view.state = .open
        view.version = 6
        view.confirmedVersion = 6 // the store itself reported version 6
        var stored = StoredBreakerState()
        stored.state = .halfOpen
        stored.version = 5
        #expect(RefreshDecision.decide(view: view, versionAtRead: 5, stored: stored, trippedDuringOutage: false, hasOutageOutcomes: false, quorum: 1) == .keep)
        // Redis lost the key (no event meanwhile): the cautious state is restored.
        stored = StoredBreakerState()
        #expect(RefreshDecision.decide(view: view, versionAtRead: 6, stored: stored, trippedDuringOutage: false, hasOutageOutcomes: false, quorum: 1) == .reopen(expectedVersion: 0))
        // A newer stored version is always adopted.
        stored.version = 7
        #expect(RefreshDecision.decide(view: view, versionAtRead: 6, stored: stored, trippedDuringOutage: true, hasOutageOutcomes: false, quorum: 1) == .adopt)
    }
}

@Suite("Shadow mode: evaluated fleet-wide, never rejects")
struct ShadowModeTests {
    @Test("a shadow breaker opens in Redis but admits every call and counts what it would have rejected")
    func shadowNeverRejects() async throws {
        let redis = try TestRedis.configuration()
        try await withPool(redis, size: 1) { pool in
            let name = try uniqueName("shadow")
            try await withFleet(count: 2, redis: redis) { fleet in
                var options = fastOptions(threshold: 2, openTimeout: .seconds(60))
                options.mode = .shadow
                let breakers = try await fleet.breakers(name, options: options)
                await record(breakers[0], .failure, count: 2)
                await fleet.groups[0].flush()
                #expect(try await storedFields(name, pool)["state"] == "open")
                #expect(await eventually { breakers[1].view.state == .open })
                for breaker in breakers {
                    for _ in 0..<3 {
                        let ticket = try await breaker.acquire()
                        await breaker.record(.success, duration: .milliseconds(1), ticket: ticket)
                    }
                    #expect(breaker.status().mode == .shadow)
                    #expect(breaker.wouldRejectedCalls == 3)
                }
                await fleet.groups[1].flush()
                // Outcomes while (shadow-)open still count in the fleet statistics.
                #expect(await eventually { (try? await storedFields(name, pool)["total_successes"]) == "6" })
                await pool.shutdown()
            }
        }
    }
}
