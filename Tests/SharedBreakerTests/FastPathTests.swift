import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Synchronization
import Testing
@testable import SharedBreaker

/// The lock-free closed path (`SharedBreaker.closedFastPath`): an atomic flag that must equal
/// what the locked state says after every change, whatever its source (own reply, pub/sub
/// event, refresh, Redis reachability).
@Suite("Lock-free closed-path admission", .tags(.integration))
struct FastPathTests {
    let redis: RedisConfiguration

    init() throws {
        redis = try TestRedis.configuration()
    }

    /// The flag agrees with the locked state, and admission agrees with the view.
    private func expectConsistent(_ breaker: SharedBreaker, closed: Bool, sourceLocation: SourceLocation = #_sourceLocation) async {
        #expect(breaker.fastPathAgreesWithLockedState, sourceLocation: sourceLocation)
        #expect(breaker.closedFastPath.load(ordering: .acquiring) == closed, sourceLocation: sourceLocation)
    }

    @Test("the flag follows trip, half-open, close, force-open, force-close and reset on two instances")
    func followsTransitions() async throws {
        let name = try uniqueName("fastpath")
        try await withBreakerKeysDeleted(name, redis: redis) {
            try await withFleet(count: 2, redis: redis) { fleet in
                // 10 s open: the rejection checks below must run while the breaker is still open, even under a CPU hog.
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 2, openTimeout: .seconds(10), halfOpenMax: 1, successes: 1))
                let (a, b) = (breakers[0], breakers[1])
                for breaker in breakers { await expectConsistent(breaker, closed: true) }

                await record(a, .failure, count: 2)
                await fleet.groups[0].flush()
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .open })
                    await expectConsistent(breaker, closed: false)
                    await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
                }

                // Half-open: A holds the one probe; B is rejected.
                var probe: SharedBreaker.Ticket?
                #expect(await eventually(timeout: .seconds(60)) {
                    if probe == nil { probe = try? await a.acquire() }
                    return probe != nil
                })
                let ticket = try #require(probe)
                #expect(ticket.probeToken != nil)
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .halfOpen })
                    await expectConsistent(breaker, closed: false)
                }
                await #expect(throws: CircuitOpenError.self) { _ = try await b.acquire() }

                await a.record(.success, duration: .milliseconds(1), ticket: ticket)
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .closed })
                    await expectConsistent(breaker, closed: true)
                    let admitted = try await breaker.acquire()
                    #expect(admitted.start == nil, "a closed breaker admits on the lock-free path")
                }

                try await b.forceOpen()
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .open && breaker.view.forced == .open })
                    await expectConsistent(breaker, closed: false)
                }
                try await b.forceClose()
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .closed && breaker.view.forced == .closed })
                    await expectConsistent(breaker, closed: true)
                }
                try await a.reset()
                for breaker in breakers {
                    #expect(await eventually(timeout: .seconds(15)) { breaker.view.state == .closed && breaker.view.forced == nil })
                    await expectConsistent(breaker, closed: true)
                }
                await fleet.stop()
            }
        }
    }

    @Test("Redis unreachable clears the flag (the store-failure policy decides under the lock) and reachable restores it")
    func storeAvailability() async throws {
        let name = try uniqueName("fastpath-store")
        try await withFleet(count: 1, redis: redis) { fleet in
            let breaker = try await fleet.breakers(name, options: fastOptions(onStoreFailure: .failClosed))[0]
            await expectConsistent(breaker, closed: true)
            breaker.setStoreAvailable(false)
            await expectConsistent(breaker, closed: false)
            await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
            breaker.setStoreAvailable(true)
            await expectConsistent(breaker, closed: true)
            _ = try await breaker.acquire()
            await fleet.stop()
        }
    }

    @Test("with trip_quorum 2 the flag stays off: the local breaker is asked under the lock")
    func quorumUsesTheLock() async throws {
        let name = try uniqueName("fastpath-quorum")
        try await withFleet(count: 1, redis: redis) { fleet in
            let breaker = try await fleet.breakers(name, options: fastOptions(threshold: 2, quorum: 2))[0]
            await expectConsistent(breaker, closed: false)
            let ticket = try await breaker.acquire()
            #expect(ticket.start != nil)
            await fleet.stop()
        }
    }

    @Test("events applied while 4 tasks admit: after each one the flag agrees and admission matches the view")
    func concurrentEvents() async throws {
        let name = try uniqueName("fastpath-race")
        try await withBreakerKeysDeleted(name, redis: redis) {
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(openTimeout: .seconds(3600)))[0]
                let stop = StopFlag()
                let hammers = (0..<4).map { _ in
                    Task.detached {
                        var calls = 0
                        while !stop.value.load(ordering: .relaxed) {
                            _ = try? await breaker.acquire()
                            calls += 1
                            if calls == 1 { stop.started.add(1, ordering: .relaxed) }
                            // The closed path never suspends: yield, or 4 hammers hold every pool thread.
                            await Task.yield()
                        }
                        return calls
                    }
                }
                // Every hammer is admitting before the first event.
                #expect(await eventually { stop.started.load(ordering: .relaxed) == 4 })
                let base = breaker.view.version + 1_000
                let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
                for step in 0..<200 {
                    let open = step % 2 == 0
                    breaker.apply(BreakerEvent(
                        name: name.rawValue, from: open ? "closed" : "open", to: open ? "open" : "closed", version: base + step,
                        by: "test", atMilliseconds: nowMs, reason: "test", openedAtMilliseconds: open ? nowMs : nil,
                        openTimeoutMilliseconds: 3_600_000, forced: nil, failedRecoveries: nil
                    ))
                    #expect(breaker.fastPathAgreesWithLockedState)
                    if open {
                        await #expect(throws: CircuitOpenError.self) { _ = try await breaker.acquire() }
                    } else {
                        _ = try await breaker.acquire()
                    }
                }
                stop.value.store(true, ordering: .relaxed)
                for hammer in hammers { #expect(await hammer.value > 0) }
                await fleet.stop()
            }
        }
    }
}

/// A stop signal shared with detached tasks.
private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
    let started = Atomic<Int>(0)
}
