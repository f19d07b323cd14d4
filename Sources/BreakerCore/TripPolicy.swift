/// A rule that opens a closed breaker. A breaker may combine several; the first one
/// that fires trips it.
///
/// Every policy is evaluated only while the breaker is closed and not forced, and all
/// counters are cleared on every transition.
public enum TripPolicy: Sendable, Equatable, Hashable {
    /// Trips when `n` failures happen in a row (a success resets the run; ignored
    /// outcomes do not). Reason: ``TransitionReason/failureThreshold``.
    case consecutiveFailures(Int)

    /// Trips when `count` failures fall within the last `window` of time.
    /// Reason: ``TransitionReason/failuresInWindow``.
    case failuresInWindow(count: Int, window: Duration)

    /// Trips when at least `minimumCalls` calls are in the window and the failure rate
    /// is `>= percent` (0 < percent ≤ 100). Reason: ``TransitionReason/failureRate``.
    case failureRate(percent: Double, window: SlidingWindow, minimumCalls: Int)

    /// Trips when at least `minimumCalls` calls are in the window and the share of
    /// calls that took strictly longer than `slowerThan` is `>= percent`. Successes and
    /// failures both count as calls. Reason: ``TransitionReason/slowCallRate``.
    case slowCallRate(percent: Double, slowerThan: Duration, window: SlidingWindow, minimumCalls: Int)
}
