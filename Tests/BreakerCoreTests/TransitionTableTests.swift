import BreakerCore
import Testing

/// Every edge of the state machine, driven from a known starting state.
@Suite("Transition table")
struct TransitionTableTests {
    enum Start: String, Sendable, CaseIterable { case closed, open, halfOpen, forcedOpen, forcedClosed }

    enum Event: String, Sendable, CaseIterable {
        case trip, openTimeoutElapsed, probeFailed, probesSucceeded, halfOpenMaxWait, forceOpen, forceClose, reset
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let start: Start
        let event: Event
        let expected: (from: BreakerState, to: BreakerState, reason: TransitionReason)?
        var testDescription: String {
            let result = expected.map { "\($0.from.rawValue) -> \($0.to.rawValue) (\($0.reason.rawValue))" } ?? "no transition"
            return "\(start.rawValue) + \(event.rawValue) = \(result)"
        }
    }

    static let rows: [Row] = [
        Row(start: .closed, event: .trip, expected: (.closed, .open, .failureThreshold)),
        Row(start: .closed, event: .openTimeoutElapsed, expected: nil),
        Row(start: .closed, event: .forceOpen, expected: (.closed, .open, .forcedOpen)),
        Row(start: .closed, event: .forceClose, expected: (.closed, .closed, .forcedClosed)),
        Row(start: .closed, event: .reset, expected: (.closed, .closed, .reset)),
        Row(start: .open, event: .trip, expected: nil),
        Row(start: .open, event: .openTimeoutElapsed, expected: (.open, .halfOpen, .openTimeoutElapsed)),
        Row(start: .open, event: .forceOpen, expected: (.open, .open, .forcedOpen)),
        Row(start: .open, event: .forceClose, expected: (.open, .closed, .forcedClosed)),
        Row(start: .open, event: .reset, expected: (.open, .closed, .reset)),
        Row(start: .halfOpen, event: .probeFailed, expected: (.halfOpen, .open, .probeFailed)),
        Row(start: .halfOpen, event: .probesSucceeded, expected: (.halfOpen, .closed, .probesSucceeded)),
        Row(start: .halfOpen, event: .halfOpenMaxWait, expected: (.halfOpen, .open, .halfOpenMaxWait)),
        Row(start: .halfOpen, event: .forceOpen, expected: (.halfOpen, .open, .forcedOpen)),
        Row(start: .halfOpen, event: .forceClose, expected: (.halfOpen, .closed, .forcedClosed)),
        Row(start: .halfOpen, event: .reset, expected: (.halfOpen, .closed, .reset)),
        Row(start: .forcedOpen, event: .openTimeoutElapsed, expected: nil),
        Row(start: .forcedOpen, event: .reset, expected: (.open, .closed, .reset)),
        Row(start: .forcedOpen, event: .forceClose, expected: (.open, .closed, .forcedClosed)),
        Row(start: .forcedClosed, event: .trip, expected: nil),
        Row(start: .forcedClosed, event: .reset, expected: (.closed, .closed, .reset)),
        Row(start: .forcedClosed, event: .forceOpen, expected: (.closed, .open, .forcedOpen)),
    ]

    static let config = BreakerConfig(halfOpenMaxWait: .seconds(30))

    /// Builds a machine in `start`: opened at 800 s (half-open due at 1100 s), or half-open
    /// since 1000 s (max wait due at 1030 s). Events happen at 1000 s unless time-driven.
    static func prepare(_ start: Start) -> BreakerMachine {
        var m = machine(config)
        switch start {
        case .closed: break
        case .open: m.trip(at: at(800))
        case .halfOpen:
            m.trip(at: at(700))
            _ = m.advance(to: at(1000))
        case .forcedOpen: m.forceOpen(at: at(800))
        case .forcedClosed: m.forceClose(at: at(700))
        }
        return m
    }

    static func apply(_ event: Event, to m: inout BreakerMachine) -> [Transition] {
        let now = at(1000)
        switch event {
        case .trip:
            return m.calls(.failure, 5, at: now)
        case .openTimeoutElapsed:
            return [m.advance(to: at(1100))].compactMap { $0 }
        case .probeFailed:
            return m.calls(.failure, 1, at: now)
        case .probesSucceeded:
            return m.calls(.success, 2, at: now)
        case .halfOpenMaxWait:
            return [m.advance(to: at(1030))].compactMap { $0 }
        case .forceOpen: return [m.forceOpen(at: now)].compactMap { $0 }
        case .forceClose: return [m.forceClose(at: now)].compactMap { $0 }
        case .reset: return [m.reset(at: now)].compactMap { $0 }
        }
    }

    @Test("each state and event gives exactly the expected transition", arguments: rows)
    func edge(_ row: Row) throws {
        var m = Self.prepare(row.start)
        let before = m.version
        let transitions = Self.apply(row.event, to: &m)
        guard let expected = row.expected else {
            #expect(transitions.isEmpty)
            #expect(m.version == before)
            return
        }
        #expect(transitions.count == 1)
        let t = try #require(transitions.first)
        #expect(t.from == expected.from)
        #expect(t.to == expected.to)
        #expect(t.reason == expected.reason)
        #expect(t.version == before + 1)
        #expect(m.version == before + 1)
        #expect(m.state == expected.to)
    }

    @Test("the open timeout is not elapsed one nanosecond before it is due")
    func openTimeoutBoundary() {
        var m = machine()
        m.trip(at: at(0))
        let r1 = m.advance(to: at(300) - .nanoseconds(1))
        #expect(r1 == nil)
        let r2 = m.admit(at: at(300) - .nanoseconds(1))
        #expect(r2 == .rejected(retryAfter: .nanoseconds(1)))
        let r3 = m.advance(to: at(300))
        #expect(r3?.to == .halfOpen)
    }

    @Test("admission after the open timeout enters half-open, reports it, and is the first probe")
    func admissionEntersHalfOpen() throws {
        var m = machine()
        m.trip(at: at(0))
        var t: Transition?
        let admission = m.admit(at: at(301), transition: &t)
        let transition = try #require(t)
        #expect(transition.reason == .openTimeoutElapsed)
        #expect(transition.at == at(301))
        guard case .allowed(let permit) = admission else { Issue.record("not admitted"); return }
        #expect(permit != nil)
        #expect(m.halfOpenInFlight == 1)
    }

    @Test("the minimum open duration delays half-open beyond a shorter open timeout")
    func minimumOpenDuration() {
        var m = machine(BreakerConfig(openTimeout: .seconds(10), minimumOpenDuration: .seconds(60)))
        m.trip(at: at(0))
        let r4 = m.advance(to: at(59))
        #expect(r4 == nil)
        let r5 = m.admit(at: at(20))
        #expect(r5 == .rejected(retryAfter: .seconds(40)))
        let r6 = m.advance(to: at(60))
        #expect(r6?.to == .halfOpen)
    }

    @Test("forced open never moves to half-open and rejects without a retry time")
    func forcedOpenHolds() {
        var m = machine()
        m.forceOpen(at: at(0))
        let r7 = m.advance(to: at(100_000))
        #expect(r7 == nil)
        let r8 = m.admit(at: at(100_000))
        #expect(r8 == .rejected(retryAfter: nil))
        #expect(m.forced == .open)
    }

    @Test("forced closed admits everything and never trips, until reset")
    func forcedClosedHolds() {
        var m = machine()
        m.forceClose(at: at(0))
        let r9 = m.calls(.failure, 50, at: at(1))
        #expect(r9.isEmpty)
        #expect(m.state == .closed)
        #expect(m.statistics.totalFailures == 50)
        m.reset(at: at(2))
        #expect(m.forced == nil)
        let r10 = m.calls(.failure, 5, at: at(3))
        #expect(r10.map(\.reason) == [.failureThreshold])
    }
}
