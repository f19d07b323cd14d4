/// Overflow-safe arithmetic for numbers that come from outside the process: upstream headers,
/// Redis contents, config files, environment and command lines.
///
/// Every conversion from outside text or stored values into integers, and every unit change
/// on them (seconds ↔ milliseconds ↔ nanoseconds, deadlines), goes through these helpers, so
/// a number can be wrong but never crash a process. They saturate instead of trapping.

extension Int64 {
    /// `self + other`, saturating at `Int64.min` / `Int64.max` instead of trapping.
    @inlinable
    public func addingClamped(_ other: Int64) -> Int64 {
        let (value, overflow) = addingReportingOverflow(other)
        if !overflow { return value }
        return other > 0 ? .max : .min
    }

    /// `self - other`, saturating at `Int64.min` / `Int64.max` instead of trapping.
    @inlinable
    public func subtractingClamped(_ other: Int64) -> Int64 {
        let (value, overflow) = subtractingReportingOverflow(other)
        if !overflow { return value }
        return other < 0 ? .max : .min
    }

    /// Milliseconds from a Redis `TIME` reply (seconds, microseconds), saturating.
    @inlinable
    public static func milliseconds(seconds: Int64, microseconds: Int64) -> Int64 {
        seconds.multipliedClamped(by: 1000).addingClamped(microseconds / 1000)
    }

    /// `self * other`, saturating at `Int64.min` / `Int64.max` instead of trapping.
    @inlinable
    public func multipliedClamped(by other: Int64) -> Int64 {
        let (value, overflow) = multipliedReportingOverflow(by: other)
        if !overflow { return value }
        return (self < 0) == (other < 0) ? .max : .min
    }

    /// A `Double` rounded to the nearest integer, saturating at the `Int64` range;
    /// `nil` for NaN.
    @inlinable
    public init?(clamping value: Double) {
        guard !value.isNaN else { return nil }
        let rounded = value.rounded()
        // 2^63 is exactly representable; anything at or above it saturates.
        if rounded >= 9_223_372_036_854_775_808.0 { self = .max; return }
        if rounded <= -9_223_372_036_854_775_808.0 { self = .min; return }
        self = Int64(rounded)
    }

    /// Parses plain decimal digits with an optional leading `-`, strictly: no spaces, no `+`,
    /// no exponent, no fraction. `nil` for anything else, and for a value outside `range`
    /// (including one too large for `Int64`).
    public init?(strictDecimal text: some StringProtocol, in range: ClosedRange<Int64> = .min ... .max) {
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        guard !utf8.isEmpty, utf8.count <= 19 else { return nil }
        var value: Int64 = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        guard range.contains(value) else { return nil }
        self = value
    }
}

extension Duration {
    /// The duration in whole nanoseconds (rounded toward zero), saturating at the `Int64` range.
    @inlinable
    public var nanosecondsClamped: Int64 { Self.saturating(attoseconds / 1_000_000_000) }

    /// The duration in seconds as a `Double` (for rates and figures; never for stored values).
    @inlinable
    public var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole milliseconds (rounded toward zero), saturating at the `Int64` range.
    @inlinable
    public var millisecondsClamped: Int64 { Self.saturating(attoseconds / 1_000_000_000_000_000) }

    /// The duration in milliseconds rounded to the nearest, saturating at the `Int64` range:
    /// what the Lua scripts take (a `0.2` s interval is 200 ms, not 201).
    @inlinable
    public var roundedMilliseconds: Int64 {
        let half: Int128 = 500_000_000_000_000
        return Self.saturating((attoseconds >= 0 ? attoseconds + half : attoseconds - half) / 1_000_000_000_000_000)
    }

    @inlinable @usableFromInline
    static func saturating(_ value: Int128) -> Int64 {
        if value > Int128(Int64.max) { return .max }
        if value < Int128(Int64.min) { return .min }
        return Int64(truncatingIfNeeded: value)
    }

    /// A duration of `seconds`, saturating at ±`Int64.max` milliseconds (about 292 million
    /// years) instead of trapping as `Duration.seconds(_:)` does for huge values; `nil` for NaN.
    @inlinable
    public init?(clampingSeconds seconds: Double) {
        guard !seconds.isNaN else { return nil }
        // Beyond 9.2e15 s the millisecond count leaves Int64: saturate there.
        let limit = 9_223_372_036_854_775.0
        if seconds >= limit { self = .milliseconds(Int64.max); return }
        if seconds <= -limit { self = .milliseconds(-Int64.max); return }
        self = .milliseconds(Int64(clamping: seconds * 1000) ?? 0)
    }

    /// A duration of `seconds` whole seconds, saturating instead of trapping.
    @inlinable
    public init(clampingSeconds seconds: Int64) {
        self = .milliseconds(seconds.multipliedClamped(by: 1000))
    }

}

extension Comparable {
    /// This value limited to `range`.
    @inlinable
    public func clamped(to range: ClosedRange<Self>) -> Self {
        Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }
}
