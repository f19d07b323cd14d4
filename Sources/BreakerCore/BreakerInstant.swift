import SafeNumbers

/// A point in time as seen by a breaker: nanoseconds since an arbitrary origin.
///
/// The state machine never reads a clock; every operation takes a `BreakerInstant`
/// argument instead. Instants are only comparable when they come from the same clock
/// (or the same time base, e.g. Redis server time in milliseconds).
public struct BreakerInstant: Sendable, Hashable, Comparable {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: Int64

    /// Creates an instant from nanoseconds since the origin.
    ///
    /// - Parameter nanoseconds: Nanoseconds since the clock's origin.
    @inlinable
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// Creates an instant from milliseconds since the origin (e.g. Redis `TIME` in ms).
    ///
    /// - Parameter milliseconds: Milliseconds since the clock's origin.
    @inlinable
    public init(milliseconds: Int64) {
        self.nanoseconds = milliseconds.multipliedClamped(by: 1_000_000)
    }

    /// Milliseconds since the origin, rounded toward negative infinity.
    @inlinable
    public var milliseconds: Int64 {
        let (q, r) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000)
        return r < 0 ? q - 1 : q
    }

    /// The origin of the time base (zero nanoseconds).
    public static let origin = BreakerInstant(nanoseconds: 0)

    /// Orders instants chronologically.
    ///
    /// - Parameters:
    ///   - lhs: An instant.
    ///   - rhs: Another instant.
    /// - Returns: `true` when `lhs` is earlier than `rhs`.
    @inlinable
    public static func < (lhs: BreakerInstant, rhs: BreakerInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// Moves an instant forward by a duration (saturating on overflow).
    ///
    /// - Parameters:
    ///   - lhs: The starting instant.
    ///   - rhs: The duration to add.
    /// - Returns: The later instant.
    @inlinable
    public static func + (lhs: BreakerInstant, rhs: Duration) -> BreakerInstant {
        BreakerInstant(nanoseconds: lhs.nanoseconds.addingClamped(rhs.nanosecondsClamped))
    }

    /// Moves an instant backward by a duration (saturating on overflow).
    ///
    /// - Parameters:
    ///   - lhs: The starting instant.
    ///   - rhs: The duration to subtract.
    /// - Returns: The earlier instant.
    @inlinable
    public static func - (lhs: BreakerInstant, rhs: Duration) -> BreakerInstant {
        BreakerInstant(nanoseconds: lhs.nanoseconds.addingClamped(-rhs.nanosecondsClamped))
    }

    /// The signed duration between two instants.
    ///
    /// - Parameters:
    ///   - lhs: The later instant.
    ///   - rhs: The earlier instant.
    /// - Returns: `lhs - rhs` as a `Duration` (negative when `lhs` is earlier).
    @inlinable
    public static func - (lhs: BreakerInstant, rhs: BreakerInstant) -> Duration {
        .nanoseconds(lhs.nanoseconds.addingClamped(-rhs.nanoseconds))
    }
}

extension BreakerInstant: CustomStringConvertible {
    /// The instant as nanoseconds since the origin, e.g. `@1500000000ns`.
    public var description: String { "@\(nanoseconds)ns" }
}

extension Duration {
    /// The duration in seconds as a `Double` (for messages, ratios and gauges).
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
