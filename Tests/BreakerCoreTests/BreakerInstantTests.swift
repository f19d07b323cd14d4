import BreakerCore
import Testing

@Suite("BreakerInstant arithmetic")
struct BreakerInstantTests {
    @Test("adding and subtracting durations moves by whole nanoseconds")
    func arithmetic() {
        let a = BreakerInstant(milliseconds: 1_500)
        #expect(a.nanoseconds == 1_500_000_000)
        #expect((a + .milliseconds(250)).milliseconds == 1_750)
        #expect((a - .seconds(2)).nanoseconds == -500_000_000)
        #expect((a + .seconds(3)) - a == .seconds(3))
        #expect(a - (a + .seconds(3)) == .seconds(-3))
        #expect(a < a + .nanoseconds(1))
    }

    @Test("milliseconds round toward negative infinity")
    func millisecondsFloor() {
        #expect(BreakerInstant(nanoseconds: 1_999_999).milliseconds == 1)
        #expect(BreakerInstant(nanoseconds: -1).milliseconds == -1)
    }

    @Test("overflowing arithmetic saturates instead of trapping")
    func saturation() {
        let late = BreakerInstant(nanoseconds: .max - 10)
        #expect((late + .seconds(1)).nanoseconds == .max)
        #expect((BreakerInstant(nanoseconds: .min + 10) - .seconds(1)).nanoseconds == .min)
    }

    @Test("the manual clock only moves when told")
    func manualClock() {
        let clock = ManualBreakerClock(start: at(10))
        #expect(clock.now() == at(10))
        clock.advance(by: .seconds(5))
        #expect(clock.now() == at(15))
        clock.set(to: at(1))
        #expect(clock.now() == at(1))
    }

    @Test("the continuous clock is monotonic")
    func continuousClock() {
        let clock = ContinuousBreakerClock()
        let a = clock.now()
        let b = ContinuousBreakerClock().now()
        #expect(a <= b)
    }
}
