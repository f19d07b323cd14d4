import BreakerCore

/// Circuit-breaker settings for one collector, as read from its `breaker:` block.
///
/// Every field has a default: failure threshold 5, open timeout 300 s, three
/// half-open probes of which two must succeed, backoff ×1.5 capped at 3600 s, trip quorum 1,
/// store-failure policy `local`. The optional trip policies are `nil` unless configured.
/// This is a plain value; the daemon maps it onto the breaker module's own types.
public struct BreakerSettings: Sendable, Equatable, Hashable {
    /// Consecutive failures that trip the breaker (`failure_threshold`, ≥ 1).
    public var failureThreshold: Int
    /// Base open duration (`open_timeout_seconds`, > 0).
    public var openTimeout: Duration
    /// Probes admitted in half-open across all instances (`half_open_max_calls`, ≥ 1).
    public var halfOpenMaxCalls: Int
    /// Probe successes that close the breaker (`half_open_success_threshold`, 1…max calls).
    public var halfOpenSuccessThreshold: Int
    /// Factor applied to the open timeout after a failed recovery (`backoff_multiplier`, ≥ 1).
    public var backoffMultiplier: Double
    /// Cap on the backed-off open timeout (`max_open_timeout_seconds`, ≥ open timeout).
    public var maxOpenTimeout: Duration
    /// Distinct instances whose failures must contribute before the shared breaker trips (`trip_quorum`, ≥ 1).
    public var tripQuorum: Int
    /// Behaviour while Redis is unreachable (`on_store_failure`).
    public var onStoreFailure: StoreFailurePolicy
    /// `enforce` (default) or `shadow`: evaluate fleet-wide but never reject (`mode`).
    public var mode: BreakerMode
    /// Trip when `count` failures happen within `window` (`failure_window_seconds` + `failure_window_count`).
    public var failureWindow: FailureWindow?
    /// Trip on a failure rate over a sliding window (`failure_rate_percent` + window + `minimum_calls`).
    public var failureRate: RateThreshold?
    /// Trip on a slow-call rate (`slow_call_rate_percent` + `slow_call_seconds`, same window keys).
    public var slowCallRate: SlowCallRate?
    /// The breaker stays open at least this long, even if forced checks say otherwise (`minimum_open_seconds`).
    public var minimumOpen: Duration?
    /// Longest a half-open breaker waits for probe answers before reopening (`half_open_max_wait_seconds`).
    public var halfOpenMaxWait: Duration?

    /// Creates settings; every argument defaults to the documented value.
    ///
    /// - Parameters:
    ///   - failureThreshold: Consecutive failures that trip the breaker.
    ///   - openTimeout: Base open duration.
    ///   - halfOpenMaxCalls: Probes admitted in half-open.
    ///   - halfOpenSuccessThreshold: Probe successes that close the breaker.
    ///   - backoffMultiplier: Open-timeout factor per failed recovery.
    ///   - maxOpenTimeout: Cap on the open timeout.
    ///   - tripQuorum: Distinct contributing instances needed to trip.
    ///   - onStoreFailure: Policy while Redis is unreachable.
    ///   - failureWindow: Optional time-window trip policy.
    ///   - failureRate: Optional failure-rate trip policy.
    ///   - slowCallRate: Optional slow-call-rate trip policy.
    ///   - minimumOpen: Optional minimum open duration.
    ///   - halfOpenMaxWait: Optional half-open wait bound.
    ///   - mode: `enforce` (default) or `shadow`.
    public init(
        failureThreshold: Int = 5,
        openTimeout: Duration = .seconds(300),
        halfOpenMaxCalls: Int = 3,
        halfOpenSuccessThreshold: Int = 2,
        backoffMultiplier: Double = 1.5,
        maxOpenTimeout: Duration = .seconds(3600),
        tripQuorum: Int = 1,
        onStoreFailure: StoreFailurePolicy = .local,
        failureWindow: FailureWindow? = nil,
        failureRate: RateThreshold? = nil,
        slowCallRate: SlowCallRate? = nil,
        minimumOpen: Duration? = nil,
        halfOpenMaxWait: Duration? = nil,
        mode: BreakerMode = .enforce
    ) {
        self.mode = mode
        self.failureThreshold = failureThreshold
        self.openTimeout = openTimeout
        self.halfOpenMaxCalls = halfOpenMaxCalls
        self.halfOpenSuccessThreshold = halfOpenSuccessThreshold
        self.backoffMultiplier = backoffMultiplier
        self.maxOpenTimeout = maxOpenTimeout
        self.tripQuorum = tripQuorum
        self.onStoreFailure = onStoreFailure
        self.failureWindow = failureWindow
        self.failureRate = failureRate
        self.slowCallRate = slowCallRate
        self.minimumOpen = minimumOpen
        self.halfOpenMaxWait = halfOpenMaxWait
    }

    /// Trip when at least `count` failures fall within the last `window`.
    public struct FailureWindow: Sendable, Equatable, Hashable {
        /// Length of the sliding time window.
        public var window: Duration
        /// Failures within the window that trip the breaker (≥ 1).
        public var count: Int

        /// Creates a time-window policy.
        ///
        /// - Parameters:
        ///   - window: Length of the sliding window.
        ///   - count: Failures that trip the breaker.
        public init(window: Duration, count: Int) {
            self.window = window
            self.count = count
        }
    }

    /// The sliding window over which a rate is computed.
    public enum RateWindow: Sendable, Equatable, Hashable {
        /// The last N calls (`rate_window_calls`).
        case calls(Int)
        /// The calls within the last duration (`rate_window_seconds`).
        case time(Duration)
    }

    /// Trip when the failure rate reaches `percent` once `minimumCalls` calls were seen.
    public struct RateThreshold: Sendable, Equatable, Hashable {
        /// Threshold in percent, in (0, 100].
        public var percent: Double
        /// The window the rate is computed over (default: the last 100 calls).
        public var window: RateWindow
        /// Calls needed in the window before the rate is evaluated (default: 10, or the window size if smaller).
        public var minimumCalls: Int

        /// Creates a rate policy.
        ///
        /// - Parameters:
        ///   - percent: Threshold in percent.
        ///   - window: Window the rate is computed over.
        ///   - minimumCalls: Calls needed before the rate is evaluated.
        public init(percent: Double, window: RateWindow, minimumCalls: Int) {
            self.percent = percent
            self.window = window
            self.minimumCalls = minimumCalls
        }
    }

    /// Trip when the share of calls slower than `slowCall` reaches `rate.percent`.
    public struct SlowCallRate: Sendable, Equatable, Hashable {
        /// Threshold, window and minimum calls; shares the `rate_window_*` / `minimum_calls` keys.
        public var rate: RateThreshold
        /// A call taking at least this long counts as slow (`slow_call_seconds`).
        public var slowCall: Duration

        /// Creates a slow-call policy.
        ///
        /// - Parameters:
        ///   - rate: Threshold, window and minimum calls.
        ///   - slowCall: Duration from which a call counts as slow.
        public init(rate: RateThreshold, slowCall: Duration) {
            self.rate = rate
            self.slowCall = slowCall
        }
    }
}
