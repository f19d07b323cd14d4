/// Why a transition happened; the raw value is the wire name used in events and logs.
public enum TransitionReason: String, Sendable, Codable, CaseIterable {
    /// closed → open: ``TripPolicy/consecutiveFailures(_:)`` fired.
    case failureThreshold = "failure_threshold"
    /// closed → open: ``TripPolicy/failuresInWindow(count:window:)`` fired.
    case failuresInWindow = "failures_in_window"
    /// closed → open: ``TripPolicy/failureRate(percent:window:minimumCalls:)`` fired.
    case failureRate = "failure_rate"
    /// closed → open: ``TripPolicy/slowCallRate(percent:slowerThan:window:minimumCalls:)`` fired.
    case slowCallRate = "slow_call_rate"
    /// open → half-open: the open timeout (and minimum open duration) elapsed.
    case openTimeoutElapsed = "open_timeout_elapsed"
    /// half-open → open: a probe failed.
    case probeFailed = "probe_failed"
    /// half-open → closed: enough probes succeeded.
    case probesSucceeded = "probes_succeeded"
    /// half-open → open: ``BreakerConfig/halfOpenMaxWait`` elapsed without a verdict.
    case halfOpenMaxWait = "half_open_max_wait"
    /// Manual force-open (any state → open, held).
    case forcedOpen = "forced_open"
    /// Manual force-close (any state → closed, held).
    case forcedClosed = "forced_closed"
    /// Manual reset (any state → closed, override and counters cleared).
    case reset

    /// Whether this reason comes from a manual action rather than the policy.
    public var isManual: Bool {
        self == .forcedOpen || self == .forcedClosed || self == .reset
    }
}
