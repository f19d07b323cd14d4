import BreakerCore
import Testing

@Suite("Open-timeout backoff")
struct BackoffTests {
    @Test("the default sequence is 300, 450, 675, 1012.5, 1518.75, 2278.125, 3417.1875, then 3600 capped")
    func defaultSequence() {
        let config = BreakerConfig()
        let expected: [Double] = [300, 450, 675, 1012.5, 1518.75, 2278.125, 3417.1875, 3600, 3600, 3600]
        let actual = (0..<expected.count).map { n in
            let d = openTimeout(afterFailedRecoveries: n, config: config)
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        #expect(actual == expected)
    }

    @Test("huge failure counts stay at the cap and negative counts give the base")
    func extremes() {
        let config = BreakerConfig()
        #expect(openTimeout(afterFailedRecoveries: 10_000, config: config) == .seconds(3600))
        #expect(openTimeout(afterFailedRecoveries: -3, config: config) == .seconds(300))
    }

    @Test("a multiplier of 1 never grows and max equal to base never grows")
    func flat() {
        var config = BreakerConfig(backoffMultiplier: 1)
        #expect(openTimeout(afterFailedRecoveries: 7, config: config) == .seconds(300))
        config = BreakerConfig(backoffMultiplier: 2, maxOpenTimeout: .seconds(300))
        #expect(openTimeout(afterFailedRecoveries: 3, config: config) == .seconds(300))
    }

    @Test("the machine applies the backoff on each failed recovery and resets it on close")
    func machineBackoff() throws {
        var m = machine()
        var now = at(0)
        m.trip(at: now)
        #expect(m.openTimeout == .seconds(300))
        let expected: [Duration] = [.seconds(450), .seconds(675), .milliseconds(1_012_500)]
        for timeout in expected {
            now = now + m.openTimeout
            let r1 = m.probe(at: now)
            let permit = try #require(r1)
            let r2 = m.record(.failure, duration: .zero, permit: permit, at: now)
            let t = try #require(r2)
            #expect(t.reason == .probeFailed)
            #expect(m.openTimeout == timeout)
        }
        #expect(m.failedRecoveries == 3)
        now = now + m.openTimeout
        let r3 = m.probe(at: now)
        let p1 = try #require(r3)
        let r4 = m.probe(at: now)
        let p2 = try #require(r4)
        let r5 = m.record(.success, duration: .zero, permit: p1, at: now)
        #expect(r5 == nil)
        let r6 = m.record(.success, duration: .zero, permit: p2, at: now)
        let closing = try #require(r6)
        #expect(closing.to == .closed)
        #expect(m.openTimeout == .seconds(300))
        #expect(m.failedRecoveries == 0)
        m.trip(at: now)
        #expect(m.openTimeout == .seconds(300))
    }
}
