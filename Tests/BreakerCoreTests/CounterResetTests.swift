import BreakerCore
import Testing

/// Every transition starts the counters afresh: a recovered breaker that kept counting
/// failures across transitions would re-trip on its first failure.
@Suite("Counters reset on every transition")
struct CounterResetTests {
    /// Trips at 0 s and recovers with two probes at 300 s.
    static func recovered(_ config: BreakerConfig) throws -> BreakerMachine {
        var m = machine(config)
        m.calls(.failure, 100, at: at(0))
        try #require(m.state == .open)
        _ = m.advance(to: at(300))
        m.calls(.success, 2, at: at(300))
        try #require(m.state == .closed)
        return m
    }

    @Test("after recovery it takes a full run of consecutive failures to trip again")
    func consecutiveAfterRecovery() throws {
        var m = try Self.recovered(BreakerConfig())
        #expect(m.failureCount == 0)
        let r1 = m.calls(.failure, 4, at: at(301))
        #expect(r1.isEmpty)
        let r2 = m.calls(.failure, at: at(301))
        #expect(r2.count == 1)
    }

    @Test("after recovery the failure window starts empty")
    func windowAfterRecovery() throws {
        var m = try Self.recovered(BreakerConfig(tripPolicies: [.failuresInWindow(count: 3, window: .seconds(3600))]))
        let r3 = m.calls(.failure, 2, at: at(301))
        #expect(r3.isEmpty)
        let r4 = m.calls(.failure, at: at(302))
        #expect(r4.first?.reason == .failuresInWindow)
    }

    @Test("after recovery the failure-rate window starts empty")
    func rateAfterRecovery() throws {
        var m = try Self.recovered(BreakerConfig(tripPolicies: [
            .failureRate(percent: 50, window: .count(10), minimumCalls: 4),
        ]))
        // Had the 3 pre-trip failures survived, 1 more would trip at 4/4.
        m.calls(.success, 2, at: at(301))
        let r5 = m.calls(.failure, 1, at: at(301))
        #expect(r5.isEmpty)
        let r6 = m.calls(.failure, 1, at: at(301))
        #expect(r6.first?.reason == .failureRate)
    }

    @Test("a reopened breaker needs a fresh set of probe successes")
    func halfOpenCountersAfterReopen() throws {
        var m = machine()
        m.trip(at: at(0))
        _ = m.advance(to: at(300))
        let r7 = m.probe(at: at(300))
        let p1 = try #require(r7)
        let r8 = m.probe(at: at(300))
        let p2 = try #require(r8)
        _ = m.record(.success, duration: .zero, permit: p1, at: at(300))
        _ = m.record(.failure, duration: .zero, permit: p2, at: at(300))
        #expect(m.halfOpenSuccesses == 0 && m.halfOpenAttempts == 0 && m.halfOpenInFlight == 0)
        _ = m.advance(to: at(750))
        let r9 = m.probe(at: at(750))
        let p3 = try #require(r9)
        let r10 = m.record(.success, duration: .zero, permit: p3, at: at(750))
        #expect(r10 == nil)
        #expect(m.state == .halfOpen)
    }

    @Test("failures counted before a manual action do not carry over", arguments: [
        TransitionReason.reset, .forcedClosed, .forcedOpen,
    ])
    func manualActionsClearCounters(action: TransitionReason) {
        var m = machine()
        m.calls(.failure, 4, at: at(0))
        switch action {
        case .reset: m.reset(at: at(1))
        case .forcedClosed:
            m.forceClose(at: at(1))
            m.reset(at: at(1))
        default:
            m.forceOpen(at: at(1))
            m.reset(at: at(1))
        }
        #expect(m.failureCount == 0)
        let r11 = m.calls(.failure, 4, at: at(2))
        #expect(r11.isEmpty)
        #expect(m.state == .closed)
    }

    @Test("reset keeps statistics but clears failed recoveries and the backoff")
    func resetKeepsStatistics() throws {
        var m = machine()
        m.trip(at: at(0))
        _ = m.advance(to: at(300))
        m.calls(.failure, at: at(300))
        #expect(m.openTimeout == .seconds(450))
        let before = m.statistics
        m.reset(at: at(400))
        #expect(m.failedRecoveries == 0)
        #expect(m.openTimeout == .seconds(300))
        #expect(m.statistics.circuitOpens == before.circuitOpens)
        #expect(m.statistics.totalFailures == 6)
        #expect(m.statistics.failedRecoveries == 1)
        #expect(m.statistics.timeInOpenMilliseconds == 400_000)
    }
}
