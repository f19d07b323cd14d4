/// The policy of one breaker. Every field has the documented default (docs/semantics.md).
///
/// Call ``validate()`` (or let ``BreakerMachine/init(config:)`` do it) before use.
public struct BreakerConfig: Sendable, Equatable {
    /// Consecutive failures that trip the breaker when ``tripPolicies`` is not set
    /// explicitly (`failure_threshold`, default 5).
    public var failureThreshold: Int
    /// Base open duration (`open_timeout_seconds`, default 300 s).
    public var openTimeout: Duration
    /// Maximum concurrent probes in half-open (`half_open_max_calls`, default 3).
    public var halfOpenMaxCalls: Int
    /// Probe successes that close a half-open breaker (`half_open_success_threshold`, default 2).
    public var halfOpenSuccessThreshold: Int
    /// Factor applied to the open duration per failed recovery (`backoff_multiplier`, default 1.5).
    public var backoffMultiplier: Double
    /// Cap on the backed-off open duration (`max_open_timeout_seconds`, default 3600 s).
    public var maxOpenTimeout: Duration
    /// The least time a breaker stays open before half-open may be entered, whatever
    /// the (backed-off) open timeout says (`minimum_open_duration_seconds`, default 0).
    public var minimumOpenDuration: Duration
    /// Optional limit on time spent in half-open (`half_open_max_wait_seconds`, default
    /// `nil` = wait forever). When it passes without a verdict the breaker **reopens**
    /// (reason ``TransitionReason/halfOpenMaxWait``) and it counts as a failed recovery:
    /// an upstream that cannot produce enough successful probes in time is not trusted.
    public var halfOpenMaxWait: Duration?
    /// Calls that take strictly longer than this are counted as slow in the statistics
    /// (`slow_call_duration_seconds`, default `nil` = not counted). Slow-call *tripping*
    /// is configured with ``TripPolicy/slowCallRate(percent:slowerThan:window:minimumCalls:)``.
    public var slowCallDuration: Duration?

    private var explicitTripPolicies: [TripPolicy]?

    /// The trip policies; the first that fires trips the breaker.
    ///
    /// Unless set explicitly this is `[.consecutiveFailures(failureThreshold)]`, and it
    /// follows later changes of ``failureThreshold``.
    public var tripPolicies: [TripPolicy] {
        get { explicitTripPolicies ?? [.consecutiveFailures(failureThreshold)] }
        set { explicitTripPolicies = newValue }
    }

    /// Creates a configuration; every parameter defaults to the documented value.
    ///
    /// - Parameters:
    ///   - failureThreshold: Consecutive failures that trip (default 5).
    ///   - openTimeout: Base open duration (default 300 s).
    ///   - halfOpenMaxCalls: Maximum concurrent probes (default 3).
    ///   - halfOpenSuccessThreshold: Probe successes that close (default 2).
    ///   - backoffMultiplier: Open-duration factor per failed recovery (default 1.5).
    ///   - maxOpenTimeout: Cap on the open duration (default 3600 s).
    ///   - minimumOpenDuration: Least time in open before half-open (default 0).
    ///   - halfOpenMaxWait: Optional half-open time limit, after which it reopens (default `nil`).
    ///   - slowCallDuration: Optional slow-call threshold for statistics (default `nil`).
    ///   - tripPolicies: Explicit trip policies; `nil` means `[.consecutiveFailures(failureThreshold)]`.
    public init(
        failureThreshold: Int = 5,
        openTimeout: Duration = .seconds(300),
        halfOpenMaxCalls: Int = 3,
        halfOpenSuccessThreshold: Int = 2,
        backoffMultiplier: Double = 1.5,
        maxOpenTimeout: Duration = .seconds(3600),
        minimumOpenDuration: Duration = .zero,
        halfOpenMaxWait: Duration? = nil,
        slowCallDuration: Duration? = nil,
        tripPolicies: [TripPolicy]? = nil
    ) {
        self.failureThreshold = failureThreshold
        self.openTimeout = openTimeout
        self.halfOpenMaxCalls = halfOpenMaxCalls
        self.halfOpenSuccessThreshold = halfOpenSuccessThreshold
        self.backoffMultiplier = backoffMultiplier
        self.maxOpenTimeout = maxOpenTimeout
        self.minimumOpenDuration = minimumOpenDuration
        self.halfOpenMaxWait = halfOpenMaxWait
        self.slowCallDuration = slowCallDuration
        self.explicitTripPolicies = tripPolicies
    }

    /// Compares the effective configuration (explicit `[.consecutiveFailures(5)]`
    /// equals the derived default with `failureThreshold` 5).
    ///
    /// - Parameters:
    ///   - lhs: A configuration.
    ///   - rhs: Another configuration.
    /// - Returns: `true` when both behave identically.
    public static func == (lhs: BreakerConfig, rhs: BreakerConfig) -> Bool {
        lhs.failureThreshold == rhs.failureThreshold
            && lhs.openTimeout == rhs.openTimeout
            && lhs.halfOpenMaxCalls == rhs.halfOpenMaxCalls
            && lhs.halfOpenSuccessThreshold == rhs.halfOpenSuccessThreshold
            && lhs.backoffMultiplier == rhs.backoffMultiplier
            && lhs.maxOpenTimeout == rhs.maxOpenTimeout
            && lhs.minimumOpenDuration == rhs.minimumOpenDuration
            && lhs.halfOpenMaxWait == rhs.halfOpenMaxWait
            && lhs.slowCallDuration == rhs.slowCallDuration
            && lhs.tripPolicies == rhs.tripPolicies
    }

    /// Checks every field and reports **all** problems at once.
    ///
    /// Field names are the snake_case config keys (docs/configuration.md) (`failure_threshold`,
    /// `open_timeout_seconds`, …, `trip_policies[1].percent`).
    ///
    /// - Throws: ``BreakerConfigError`` listing each invalid field with a reason such
    ///   as `must be >= 1, got 0`.
    /// The largest failure threshold, failure-window count and minimum number of calls: the
    /// shared store's script bounds its work by these (a larger one is refused there too).
    public static let maximumCount = 10_000
    /// The largest `half_open_max_calls` and `half_open_success_threshold`.
    public static let maximumProbes = 1_000
    /// The largest backoff multiplier (the shared store refuses larger ones).
    public static let maximumBackoffMultiplier = 1_000.0
    /// The longest timeout, window or wait: a year.
    public static let maximumDuration: Duration = .seconds(31_536_000)

    public func validate() throws(BreakerConfigError) {
        var problems: [BreakerConfigError.Problem] = []
        func add(_ field: String, _ reason: String) {
            problems.append(.init(field: field, reason: reason))
        }
        func seconds(_ d: Duration) -> String { "\(d.secondsDouble)" }

        if failureThreshold < 1 {
            add("failure_threshold", "must be >= 1, got \(failureThreshold)")
        } else if failureThreshold > Self.maximumCount {
            add("failure_threshold", "must be <= \(Self.maximumCount), got \(failureThreshold)")
        }
        // Whole milliseconds at least: a sub-millisecond timeout rounds to 0 in the shared store,
        // which would half-open at once and write on every call.
        if openTimeout < .milliseconds(1) {
            add("open_timeout_seconds", "must be >= 0.001 (1 ms), got \(seconds(openTimeout))")
        } else if openTimeout > Self.maximumDuration {
            add("open_timeout_seconds", "must be <= \(seconds(Self.maximumDuration)) (a year), got \(seconds(openTimeout))")
        }
        if halfOpenMaxCalls < 1 {
            add("half_open_max_calls", "must be >= 1, got \(halfOpenMaxCalls)")
        } else if halfOpenMaxCalls > Self.maximumProbes {
            add("half_open_max_calls", "must be <= \(Self.maximumProbes), got \(halfOpenMaxCalls)")
        }
        if halfOpenSuccessThreshold > Self.maximumProbes {
            add("half_open_success_threshold", "must be <= \(Self.maximumProbes), got \(halfOpenSuccessThreshold)")
        } else if halfOpenSuccessThreshold < 1 {
            add("half_open_success_threshold", "must be >= 1, got \(halfOpenSuccessThreshold)")
        } else if halfOpenMaxCalls >= 1 && halfOpenSuccessThreshold > halfOpenMaxCalls {
            add("half_open_success_threshold",
                "must be <= half_open_max_calls (\(halfOpenMaxCalls)), got \(halfOpenSuccessThreshold)")
        }
        if !(backoffMultiplier >= 1) || !backoffMultiplier.isFinite {
            add("backoff_multiplier", "must be a finite number >= 1, got \(backoffMultiplier)")
        } else if backoffMultiplier > Self.maximumBackoffMultiplier {
            add("backoff_multiplier", "must be <= \(Int(Self.maximumBackoffMultiplier)), got \(backoffMultiplier)")
        }
        if maxOpenTimeout < .milliseconds(1) {
            add("max_open_timeout_seconds", "must be >= 0.001 (1 ms), got \(seconds(maxOpenTimeout))")
        } else if maxOpenTimeout > Self.maximumDuration {
            add("max_open_timeout_seconds", "must be <= \(seconds(Self.maximumDuration)) (a year), got \(seconds(maxOpenTimeout))")
        } else if maxOpenTimeout < openTimeout {
            add("max_open_timeout_seconds",
                "must be >= open_timeout_seconds (\(seconds(openTimeout))), got \(seconds(maxOpenTimeout))")
        }
        if minimumOpenDuration < .zero {
            add("minimum_open_duration_seconds", "must be >= 0, got \(seconds(minimumOpenDuration))")
        } else if minimumOpenDuration > Self.maximumDuration {
            add("minimum_open_duration_seconds", "must be <= \(seconds(Self.maximumDuration)) (a year), got \(seconds(minimumOpenDuration))")
        }
        if let wait = halfOpenMaxWait, wait < .milliseconds(1) {
            add("half_open_max_wait_seconds", "must be >= 0.001 (1 ms) when set, got \(seconds(wait))")
        } else if let wait = halfOpenMaxWait, wait > Self.maximumDuration {
            add("half_open_max_wait_seconds", "must be <= \(seconds(Self.maximumDuration)) (a year) when set, got \(seconds(wait))")
        }
        if let slow = slowCallDuration, slow <= .zero {
            add("slow_call_duration_seconds", "must be > 0 when set, got \(seconds(slow))")
        }

        let policies = tripPolicies
        if policies.isEmpty {
            add("trip_policies", "must contain at least one policy, got none")
        }
        for (index, policy) in policies.enumerated() {
            let prefix = "trip_policies[\(index)]"
            func checkPercent(_ percent: Double) {
                if !(percent > 0 && percent <= 100) {
                    add("\(prefix).percent", "must be > 0 and <= 100, got \(percent)")
                }
            }
            func checkWindow(_ window: SlidingWindow, minimumCalls: Int) {
                if minimumCalls < 1 {
                    add("\(prefix).minimum_calls", "must be >= 1, got \(minimumCalls)")
                } else if minimumCalls > Self.maximumCount {
                    add("\(prefix).minimum_calls", "must be <= \(Self.maximumCount), got \(minimumCalls)")
                }
                switch window {
                case .count(let n):
                    if n < 1 || n > SlidingWindow.maximumCount {
                        add("\(prefix).window_size",
                            "must be between 1 and \(SlidingWindow.maximumCount), got \(n)")
                    } else if minimumCalls > n {
                        add("\(prefix).minimum_calls",
                            "must be <= window_size (\(n)), got \(minimumCalls)")
                    }
                case .time(let d):
                    if d <= .zero {
                        add("\(prefix).window_seconds", "must be > 0, got \(seconds(d))")
                    } else if d > Self.maximumDuration {
                        add("\(prefix).window_seconds", "must be <= a year, got \(seconds(d))")
                    }
                }
            }
            switch policy {
            case .consecutiveFailures(let n):
                if n < 1 { add("\(prefix).failure_threshold", "must be >= 1, got \(n)") }
                if n > Self.maximumCount { add("\(prefix).failure_threshold", "must be <= \(Self.maximumCount), got \(n)") }
            case .failuresInWindow(let count, let window):
                if count < 1 { add("\(prefix).failure_threshold", "must be >= 1, got \(count)") }
                if count > Self.maximumCount { add("\(prefix).failure_threshold", "must be <= \(Self.maximumCount), got \(count)") }
                if window <= .zero { add("\(prefix).window_seconds", "must be > 0, got \(seconds(window))") }
                if window > Self.maximumDuration { add("\(prefix).window_seconds", "must be <= a year, got \(seconds(window))") }
            case .failureRate(let percent, let window, let minimumCalls):
                checkPercent(percent)
                checkWindow(window, minimumCalls: minimumCalls)
            case .slowCallRate(let percent, let slowerThan, let window, let minimumCalls):
                checkPercent(percent)
                if slowerThan <= .zero {
                    add("\(prefix).slow_call_duration_seconds", "must be > 0, got \(seconds(slowerThan))")
                }
                checkWindow(window, minimumCalls: minimumCalls)
            }
        }
        if !problems.isEmpty { throw BreakerConfigError(problems: problems) }
    }
}
