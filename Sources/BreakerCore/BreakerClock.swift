import SafeNumbers
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A source of ``BreakerInstant``s.
///
/// Only the in-process ``CircuitBreaker`` reads a clock; ``BreakerMachine`` always
/// receives time as an argument.
public protocol BreakerClock: Sendable {
    /// The current instant.
    ///
    /// - Returns: Now, in this clock's time base.
    func now() -> BreakerInstant
}

/// A monotonic clock with the semantics of `ContinuousClock` (it keeps counting while
/// the machine sleeps).
///
/// On Linux it reads `CLOCK_BOOTTIME` directly (the clock behind `ContinuousClock`
/// there), which avoids a `Duration` conversion per read; elsewhere it measures
/// `ContinuousClock` from a process-wide origin. Either way every instance shares one
/// time base, so instants from different `ContinuousBreakerClock` values are comparable.
public struct ContinuousBreakerClock: BreakerClock {
    #if !(canImport(Glibc) || canImport(Musl))
    private static let origin = ContinuousClock.now
    #endif

    /// Creates the clock.
    public init() {}

    /// The current monotonic time.
    ///
    /// - Returns: Now, as nanoseconds since this clock's origin (boot on Linux).
    public func now() -> BreakerInstant {
        #if canImport(Glibc) || canImport(Musl)
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return BreakerInstant(nanoseconds: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
        #else
        return BreakerInstant(nanoseconds: (ContinuousClock.now - Self.origin).nanosecondsClamped)
        #endif
    }
}
