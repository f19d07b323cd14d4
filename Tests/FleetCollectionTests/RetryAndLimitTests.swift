import FleetCollection
import Testing

@Suite("Pure pieces: retry backoff, wake jitter, the local rate limit")
struct RetryAndLimitTests {
    @Test("backoff doubles from the base, is capped, and keeps half of each delay fixed")
    func backoff() {
        let policy = RetryBackoff(retries: 5, base: .milliseconds(200), cap: .seconds(1))
        #expect(policy.delay(beforeRetry: 1, unit: 0) == .milliseconds(100))
        #expect(policy.delay(beforeRetry: 1, unit: 1) == .milliseconds(200))
        #expect(policy.delay(beforeRetry: 2, unit: 0) == .milliseconds(200))
        #expect(policy.delay(beforeRetry: 3, unit: 0.5) == .milliseconds(600))
        #expect(policy.delay(beforeRetry: 4, unit: 1) == .seconds(1))
        #expect(policy.delay(beforeRetry: 40, unit: 1) == .seconds(1))
        #expect(RetryBackoff(retries: -1).retries == 0)
    }

    @Test("wake jitter is at most a tenth of the interval and at most 250 ms")
    func jitter() {
        #expect(wakeJitter(interval: .milliseconds(500), unit: 1) == .milliseconds(50))
        #expect(wakeJitter(interval: .seconds(30), unit: 1) == .milliseconds(250))
        #expect(wakeJitter(interval: .seconds(30), unit: 0) == .zero)
    }

    @Test("the local ring grants N tokens per hold period, never N + 1 in any window")
    func localRing() {
        var limit = LocalRateLimit(requests: 3, hold: .seconds(5))
        var grants: [Duration] = []
        var now = Duration.milliseconds(1)
        while now < .seconds(30) {
            if let wait = limit.take(now: now) {
                #expect(wait > .zero)
                now += min(wait, .milliseconds(70))
            } else {
                grants.append(now)
                now += .milliseconds(70)
            }
        }
        for (index, start) in grants.enumerated() {
            let inWindow = grants[index...].prefix { $0 < start + .seconds(5) }.count
            #expect(inWindow <= 3, "\(inWindow) grants in the 5 s from \(start)")
        }
        #expect(grants.count >= 15)
    }
}
