import BreakerCore
import Synchronization
import Testing

struct UpstreamDown: Error {}
struct NotFound: Error {}

/// A lock-protected value that escaping `@Sendable` closures can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout sending Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Collects transitions delivered to an observer.
final class TransitionLog: Sendable {
    private let items = Mutex<[Transition]>([])
    var all: [Transition] { items.withLock { $0 } }
    func append(_ t: Transition) { items.withLock { $0.append(t) } }
}

@Suite("In-process CircuitBreaker")
struct CircuitBreakerTests {
    @Test("a successful call returns its value and counts as a success")
    func success() async throws {
        let breaker = try CircuitBreaker(name: "moralis", clock: ManualBreakerClock())
        let value = try await breaker.run { 42 }
        #expect(value == 42)
        #expect(breaker.status().statistics.totalSuccesses == 1)
    }

    @Test("failures are rethrown, trip the breaker, and later calls are rejected without running")
    func tripsAndRejects() async throws {
        let clock = ManualBreakerClock()
        let breaker = try CircuitBreaker(name: "moralis", clock: clock)
        for _ in 0..<5 {
            await #expect(throws: UpstreamDown.self) { try await breaker.run { throw UpstreamDown() } }
        }
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(100))
        let ran = Locked(false)
        let error = await #expect(throws: CircuitOpenError.self) {
            try await breaker.run { ran.withLock { $0 = true } }
        }
        #expect(error == CircuitOpenError(name: "moralis", state: .open, retryAfter: .seconds(200)))
        #expect(ran.withLock { $0 } == false)
        #expect(breaker.status().statistics.rejectedCalls == 1)
    }

    @Test("cancellation is ignored by default and a custom classifier is honoured")
    func classification() async throws {
        let breaker = try CircuitBreaker(
            name: "reddit", config: BreakerConfig(failureThreshold: 1), clock: ManualBreakerClock(),
            classifier: OutcomeClassifier { error in
                if error is NotFound { return .success }
                return OutcomeClassifier.default(error)
            })
        await #expect(throws: CancellationError.self) { try await breaker.run { throw CancellationError() } }
        await #expect(throws: NotFound.self) { try await breaker.run { throw NotFound() } }
        #expect(breaker.state == .closed)
        let stats = breaker.status().statistics
        #expect(stats.totalIgnored == 1)
        #expect(stats.totalSuccesses == 1)
        await #expect(throws: UpstreamDown.self) { try await breaker.run { throw UpstreamDown() } }
        #expect(breaker.state == .open)
    }

    @Test("the per-call timeout throws CallTimeoutError and counts as a failure")
    func timeout() async throws {
        let breaker = try CircuitBreaker(name: "twitter", config: BreakerConfig(failureThreshold: 1))
        let error = await #expect(throws: CallTimeoutError.self) {
            try await breaker.run(timeout: .milliseconds(20)) {
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        #expect(error?.timeout == .milliseconds(20))
        #expect(breaker.state == .open)
        #expect(breaker.status().statistics.totalFailures == 1)
    }

    @Test("a call that beats its timeout succeeds")
    func beatsTimeout() async throws {
        let breaker = try CircuitBreaker(name: "twitter")
        #expect(try await breaker.run(timeout: .seconds(30)) { "ok" } == "ok")
    }

    @Test("call durations come from the breaker's clock")
    func durations() async throws {
        let clock = ManualBreakerClock()
        let breaker = try CircuitBreaker(
            name: "glassnode", config: BreakerConfig(slowCallDuration: .seconds(1)), clock: clock)
        try await breaker.run { clock.advance(by: .seconds(5)) }
        try await breaker.run { clock.advance(by: .milliseconds(5)) }
        #expect(breaker.status().statistics.slowCalls == 1)
    }

    @Test("observers receive exactly one event per transition, in order")
    func observers() async throws {
        let clock = ManualBreakerClock()
        let log = TransitionLog()
        let late = TransitionLog()
        let breaker = try CircuitBreaker(name: "lunarcrush", clock: clock, onTransition: [log.append])
        for _ in 0..<5 { _ = try? await breaker.run { throw UpstreamDown() } }
        breaker.addObserver(late.append)
        clock.advance(by: .seconds(300))
        try await breaker.run {}
        try await breaker.run {}
        breaker.forceOpen()
        breaker.reset()
        let expected: [(BreakerState, BreakerState, TransitionReason)] = [
            (.closed, .open, .failureThreshold), (.open, .halfOpen, .openTimeoutElapsed),
            (.halfOpen, .closed, .probesSucceeded), (.closed, .open, .forcedOpen), (.open, .closed, .reset),
        ]
        let got = log.all
        #expect(got.count == expected.count)
        for (t, e) in zip(got, expected) {
            #expect(t.from == e.0 && t.to == e.1 && t.reason == e.2)
        }
        #expect(got.map(\.version) == [1, 2, 3, 4, 5])
        #expect(late.all.map(\.version) == [2, 3, 4, 5])
    }

    @Test("the acquire/record pair rejects with the state and counts outcomes")
    func acquireRecord() throws {
        let breaker = try CircuitBreaker(name: "x", clock: ManualBreakerClock())
        breaker.forceOpen()
        #expect(throws: CircuitOpenError(name: "x", state: .open, retryAfter: nil)) { try breaker.acquire() }
        breaker.reset()
        let ticket = try breaker.acquire()
        breaker.record(.failure, for: ticket)
        #expect(breaker.status().failureCount == 1)
    }

    @Test("under real concurrency no more than half_open_max_calls probes run at once")
    func probeLimitUnderConcurrency() async throws {
        let clock = ManualBreakerClock()
        let breaker = try CircuitBreaker(name: "moralis", clock: clock)
        for _ in 0..<5 { _ = try? await breaker.run { throw UpstreamDown() } }
        clock.advance(by: .seconds(300))

        struct Counters { var running = 0, maxRunning = 0, started = 0, rejected = 0, released = false }
        let counters = Locked(Counters())
        let tasks = 40
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    do {
                        try await breaker.run {
                            counters.withLock {
                                $0.running += 1
                                $0.started += 1
                                $0.maxRunning = max($0.maxRunning, $0.running)
                            }
                            while !counters.withLock({ $0.released }) {
                                try await Task.sleep(for: .milliseconds(1))
                            }
                            counters.withLock { $0.running -= 1 }
                        }
                    } catch is CircuitOpenError {
                        counters.withLock { $0.rejected += 1 }
                    } catch {
                        Issue.record("unexpected error \(error)")
                    }
                }
            }
            // Wait until every task was either admitted or rejected, then release the probes.
            while counters.withLock({ $0.started + $0.rejected }) < tasks {
                try? await Task.sleep(for: .milliseconds(1))
            }
            #expect(breaker.status().halfOpenInFlight == 3)
            counters.withLock { $0.released = true }
        }
        let final = counters.withLock { $0 }
        #expect(final.started == 3)
        #expect(final.maxRunning == 3)
        #expect(final.rejected == tasks - 3)
        #expect(breaker.state == .closed)
        let stats = breaker.status().statistics
        #expect(stats.successfulRecoveries == 1)
        #expect(stats.rejectedCalls == tasks - 3)
    }
}
