import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Synchronization
import Testing
@testable import SharedBreaker

/// Each instance keeps a local breaker next to the shared view: shared decisions (forced states,
/// resets, minimum open durations) reach it, rejections never hold its probe permits, and each
/// transition is announced once.
@Suite("The local breaker follows shared decisions", .tags(.integration))
struct LocalBreakerTests: ScriptSuite {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
    }

    @Test("a rejection by the shared view never holds a local probe permit (quorum 2)")
    func noLocalPermitLeak() async throws {
        let name = try uniqueName("leak")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("force-close and reset reach an instance whose local breaker is open (quorum 2)")
    func manualCloseReachesLocal() async throws {
        let name = try uniqueName("manual-local")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("a transition is announced once even when its event arrives before the reply")
    func announcedOnce() async throws {
        let name = try uniqueName("announce")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
    }

    @Test("a rejected caller's retry-after includes the minimum open duration")
    func retryAfterIncludesMinimumOpen() async throws {
        let name = try uniqueName("min-open")
        try await withKeysDeleted([name.stateKey, name.logKey], pool: pool) {
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
                } catch let error as CircuitOpenError {
                    // Without the minimum open duration: at most the 100 ms open timeout. 30 s of margin for a loaded machine.
                    #expect((error.retryAfter ?? .zero) > .seconds(30), "retry after \(String(describing: error.retryAfter))")
                }
            }
        }
    }
}
