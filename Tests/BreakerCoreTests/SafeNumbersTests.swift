import SafeNumbers
import Testing

/// The overflow-safe helpers every outside number goes through: they agree with exact
/// arithmetic wherever it fits, and saturate (never trap) where it does not.
@Suite("Overflow-safe numbers")
struct SafeNumbersTests {
    @Test("strict decimal parsing agrees with Int64's parser on digits, and refuses everything else")
    func strictDecimal() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let value = Int64.random(in: .min ... .max, using: &generator)
            #expect(Int64(strictDecimal: String(value)) == value)
        }
        for text in ["", "-", "+5", " 5", "5 ", "1e3", "3.5", "0x10", "inf", "nan", "9223372036854775808", "-9223372036854775809",
                     "99999999999999999999", "٣", "5\u{0}"] {
            #expect(Int64(strictDecimal: text) == nil, "accepted \(text.debugDescription)")
        }
        #expect(Int64(strictDecimal: "9223372036854775807") == .max)
        #expect(Int64(strictDecimal: "-9223372036854775808") == .min)
        #expect(Int64(strictDecimal: "42", in: 0...10) == nil)
    }

    @Test("sums, products and unit changes saturate instead of trapping")
    func saturation() {
        #expect(Int64.max.addingClamped(1) == .max)
        #expect(Int64.min.addingClamped(-1) == .min)
        #expect(Int64.max.multipliedClamped(by: 1000) == .max)
        #expect(Int64.min.multipliedClamped(by: 1000) == .min)
        #expect(Int64(-3).multipliedClamped(by: Int64.max) == .min)
        #expect(Int64(clamping: .infinity) == .max && Int64(clamping: -.infinity) == .min && Int64(clamping: .nan) == nil)
        #expect(Duration.seconds(Int64.max).roundedMilliseconds == .max)
        #expect(Duration.seconds(Int64.max).millisecondsClamped == .max)
        #expect(Duration.seconds(Int64.max).nanosecondsClamped == .max)
        #expect(Duration(clampingSeconds: 1e300)?.roundedMilliseconds == .max)
        #expect(Duration(clampingSeconds: .nan) == nil)
        #expect(Duration(clampingSeconds: Int64.max).roundedMilliseconds == .max)
    }

    @Test("rounded milliseconds are exact where they fit: 0.2 s is 200 ms, not 201")
    func rounding() {
        #expect(Duration.seconds(0.2).roundedMilliseconds == 200)
        #expect(Duration.seconds(1.0006).roundedMilliseconds == 1001)
        #expect(Duration.milliseconds(-3).roundedMilliseconds == -3)
        for ms in [Int64(0), 1, 999, 86_400_000, 9_000_000_000_000] {
            #expect(Duration.milliseconds(ms).roundedMilliseconds == ms)
            #expect(Duration(clampingSeconds: Double(ms) / 1000)?.roundedMilliseconds == ms)
        }
        #expect(Duration.seconds(5).clamped(to: .zero ... .seconds(2)) == .seconds(2))
    }
}
