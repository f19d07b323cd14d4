import Synchronization

/// A clock that only moves when told to; for tests and simulations.
public final class ManualBreakerClock: BreakerClock {
    private let current: Mutex<BreakerInstant>

    /// Creates a clock stopped at `start`.
    ///
    /// - Parameter start: The initial instant (default: the origin).
    public init(start: BreakerInstant = .origin) {
        current = Mutex(start)
    }

    /// The instant the clock is stopped at.
    ///
    /// - Returns: The current manual time.
    public func now() -> BreakerInstant {
        current.withLock { $0 }
    }

    /// Moves the clock forward.
    ///
    /// - Parameter duration: How far to move (negative values move it back).
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    /// Sets the clock to a given instant.
    ///
    /// - Parameter instant: The new current time.
    public func set(to instant: BreakerInstant) {
        current.withLock { $0 = instant }
    }
}
