import BreakerCore
import Testing

@Suite("Trip policies")
struct TripPolicyTests {
    @Test("consecutive failures trip exactly at the threshold", arguments: [1, 2, 5, 10])
    func consecutiveExactlyAtThreshold(threshold: Int) throws {
        var m = machine(BreakerConfig(failureThreshold: threshold))
        let r1 = m.calls(.failure, threshold - 1, at: at(0))
        #expect(r1.isEmpty)
        #expect(m.state == .closed)
        #expect(m.failureCount == threshold - 1)
        let r2 = m.calls(.failure, at: at(0))
        let t = try #require(r2.first)
        #expect(t.reason == .failureThreshold)
        #expect(t.from == .closed && t.to == .open)
    }

    @Test("a success breaks the run of failures; an ignored outcome does not")
    func successResetsRun() {
        var m = machine()
        m.calls(.failure, 4, at: at(0))
        m.calls(.success, at: at(0))
        #expect(m.failureCount == 0)
        m.calls(.failure, 4, at: at(0))
        m.calls(.ignored, 3, at: at(0))
        #expect(m.failureCount == 4)
        #expect(m.state == .closed)
        let r3 = m.calls(.failure, at: at(0))
        #expect(r3.first?.reason == .failureThreshold)
    }

    @Test("failures in a time window trip at the count, with successes in between")
    func failuresInWindowAtCount() {
        var m = machine(BreakerConfig(tripPolicies: [.failuresInWindow(count: 5, window: .seconds(60))]))
        for i in 0..<4 {
            m.calls(.failure, at: at(Double(i) * 10))
            m.calls(.success, at: at(Double(i) * 10 + 1))
        }
        #expect(m.state == .closed)
        let r4 = m.calls(.failure, at: at(45))
        #expect(r4.first?.reason == .failuresInWindow)
    }

    @Test("failures that slid out of the time window no longer count")
    func failuresInWindowExpiry() {
        var m = machine(BreakerConfig(tripPolicies: [.failuresInWindow(count: 3, window: .seconds(60))]))
        m.calls(.failure, 2, at: at(0))
        // At 60 s the bucket holding t=0 has slid out (a window is at most 60 s long).
        let r5 = m.calls(.failure, at: at(60))
        #expect(r5.isEmpty)
        #expect(m.state == .closed)
        let r6 = m.calls(.failure, at: at(61))
        #expect(r6.isEmpty)
        let r7 = m.calls(.failure, at: at(100))
        #expect(r7.first?.reason == .failuresInWindow)
    }

    @Test("a failure just inside the window still counts")
    func failuresInWindowJustInside() {
        var m = machine(BreakerConfig(tripPolicies: [.failuresInWindow(count: 3, window: .seconds(60))]))
        m.calls(.failure, 2, at: at(0.5))
        let r8 = m.calls(.failure, at: at(59.5))
        #expect(r8.first?.reason == .failuresInWindow)
    }

    @Test("failure rate does not trip below the minimum number of calls")
    func failureRateBelowMinimum() {
        var m = machine(BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(20), minimumCalls: 10)]))
        let r9 = m.calls(.failure, 9, at: at(0))
        #expect(r9.isEmpty)
        #expect(m.state == .closed)
        // The 10th call reaches the minimum; 10/10 failed.
        let r10 = m.calls(.failure, at: at(0))
        #expect(r10.first?.reason == .failureRate)
    }

    @Test("failure rate trips exactly at the percentage, not below")
    func failureRateExactlyAtThreshold() {
        var m = machine(BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(10), minimumCalls: 10)]))
        m.calls(.success, 6, at: at(0))
        m.calls(.failure, 3, at: at(0))
        // 10th call: 4/10 = 40% < 50%.
        let r11 = m.calls(.failure, at: at(0))
        #expect(r11.isEmpty)
        // 11th call evicts the oldest success: 5/10 = 50%.
        let r12 = m.calls(.failure, at: at(0))
        #expect(r12.first?.reason == .failureRate)
    }

    @Test("a success can trip the rate when it brings the calls to the minimum")
    func failureRateTripsOnSuccessAtMinimum() {
        var m = machine(BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(10), minimumCalls: 4)]))
        m.calls(.failure, 3, at: at(0))
        let r13 = m.calls(.success, at: at(0))
        #expect(r13.first?.reason == .failureRate)
    }

    @Test("a count window forgets calls beyond its size")
    func countWindowSlides() {
        var m = machine(BreakerConfig(tripPolicies: [.failureRate(percent: 60, window: .count(5), minimumCalls: 5)]))
        m.calls(.failure, 2, at: at(0))
        m.calls(.success, 3, at: at(0))  // 2/5 = 40%
        m.calls(.success, 2, at: at(0))  // the 2 failures slid out: 0/5
        m.calls(.failure, 2, at: at(0))  // 2/5
        #expect(m.state == .closed)
        let r14 = m.calls(.failure, at: at(0))
        #expect(r14.first?.reason == .failureRate)  // 3/5 = 60%
    }

    @Test("a time-based failure rate forgets calls older than the window")
    func timeWindowRateExpiry() {
        var m = machine(BreakerConfig(tripPolicies: [
            .failureRate(percent: 50, window: .time(.seconds(60)), minimumCalls: 4),
        ]))
        m.calls(.failure, 3, at: at(0))
        // At 120 s the old failures have expired: 1 call in window, below minimum.
        let r15 = m.calls(.failure, at: at(120))
        #expect(r15.isEmpty)
        m.calls(.success, 2, at: at(121))
        #expect(m.state == .closed)
        // 2 failures / 4 calls = 50%.
        let r16 = m.calls(.failure, at: at(122))
        #expect(r16.first?.reason == .failureRate)
    }

    @Test("slow-call rate counts only calls strictly slower than the threshold, successes included")
    func slowCallRate() {
        var m = machine(BreakerConfig(tripPolicies: [
            .slowCallRate(percent: 50, slowerThan: .seconds(2), window: .count(4), minimumCalls: 4),
        ]))
        m.calls(.success, 2, duration: .seconds(2), at: at(0))  // exactly 2 s: not slow
        m.calls(.success, 1, duration: .seconds(3), at: at(0))  // slow: 1/3
        let r17 = m.calls(.success, 1, duration: .milliseconds(1), at: at(0))
        #expect(r17.isEmpty)  // 1/4 = 25%
        #expect(m.state == .closed)
        let r18 = m.calls(.success, 1, duration: .seconds(5), at: at(0))
        #expect(r18.first?.reason == .slowCallRate)  // 2/4
    }

    @Test("slow-call rate does not trip below the minimum number of calls")
    func slowCallRateMinimum() {
        var m = machine(BreakerConfig(tripPolicies: [
            .slowCallRate(percent: 10, slowerThan: .seconds(1), window: .time(.seconds(30)), minimumCalls: 3),
        ]))
        let r19 = m.calls(.success, 2, duration: .seconds(9), at: at(0))
        #expect(r19.isEmpty)
        let r20 = m.calls(.success, 1, duration: .seconds(9), at: at(1))
        #expect(r20.first?.reason == .slowCallRate)
    }

    @Test("combined policies: whichever fires first trips, with its own reason")
    func combined() {
        let config = BreakerConfig(tripPolicies: [
            .consecutiveFailures(3),
            .failureRate(percent: 50, window: .count(10), minimumCalls: 6),
        ])
        var a = machine(config)
        let r21 = a.calls(.failure, 3, at: at(0))
        #expect(r21.map(\.reason) == [.failureThreshold])
        var b = machine(config)
        var reasons: [TransitionReason] = []
        for _ in 0..<3 {
            reasons += b.calls(.failure, 2, at: at(0)).map(\.reason)
            reasons += b.calls(.success, 1, at: at(0)).map(\.reason)
        }
        // F F S F F S: the 6th call reaches the minimum at 4/6 failed; never 3 in a row.
        #expect(reasons == [.failureRate])
        #expect(b.state == .open)
        #expect(b.version == 1)
    }

    @Test("ignored outcomes are not counted by rate windows")
    func ignoredNotInWindow() {
        var m = machine(BreakerConfig(tripPolicies: [.failureRate(percent: 50, window: .count(10), minimumCalls: 4)]))
        m.calls(.failure, 3, at: at(0))
        m.calls(.ignored, 10, at: at(0))
        #expect(m.state == .closed)
        #expect(m.statistics.totalIgnored == 10)
        let r22 = m.calls(.failure, at: at(0))
        #expect(r22.first?.reason == .failureRate)
    }
}
