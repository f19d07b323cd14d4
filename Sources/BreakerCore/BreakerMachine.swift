import SafeNumbers

/// The pure circuit-breaker state machine: decides admission and transitions from
/// events (admissions, call outcomes, time passing, manual actions). It performs no I/O
/// and never reads a clock; every event carries its instant.
///
/// States and edges (every edge increments ``version`` and yields one ``Transition``):
///
/// | from | to | reason |
/// |---|---|---|
/// | closed | open | a trip policy fired (`failure_threshold`, `failures_in_window`, `failure_rate`, `slow_call_rate`) |
/// | open | half-open | `open_timeout_elapsed` (checked on ``admit(at:transition:)`` and ``advance(to:)``) |
/// | half-open | closed | `probes_succeeded` |
/// | half-open | open | `probe_failed`, `half_open_max_wait` (both count as a failed recovery: backoff) |
/// | any | open | `forced_open` (held until reset) |
/// | any | closed | `forced_closed` (held until reset), `reset` |
///
/// Every transition clears the closed-state counters (consecutive failures and all
/// sliding windows) and the half-open counters. Closing (by probes, force-close or
/// reset) also clears the failed-recovery count, so the open timeout returns to its base.
/// ``statistics`` are never cleared.
///
/// Calls admitted in one state and recorded in another only update the statistics:
/// a probe result counts only with a ``ProbePermit`` of the current half-open episode,
/// and closed-state policies only see outcomes recorded while closed.
public struct BreakerMachine: Sendable {
    /// The validated configuration.
    public let config: BreakerConfig
    /// The current state.
    public private(set) var state: BreakerState = .closed
    /// The manual override in force, if any.
    public private(set) var forced: ForcedState?
    /// Increments by one on every transition or manual action.
    public private(set) var version = 0
    /// Lifetime counters (kept across reset).
    public private(set) var statistics = BreakerStatistics()
    /// Consecutive failures recorded while closed (cleared by a success or any transition).
    public private(set) var failureCount = 0
    /// Consecutive half-open → open transitions since the last close.
    public private(set) var failedRecoveries = 0
    /// Probes admitted in the current half-open episode.
    public private(set) var halfOpenAttempts = 0
    /// Probe successes in the current half-open episode.
    public private(set) var halfOpenSuccesses = 0
    /// Probes admitted and not yet recorded in the current half-open episode.
    public private(set) var halfOpenInFlight = 0
    /// When the breaker last entered open, if ever.
    public private(set) var openedAt: BreakerInstant?

    private var halfOpenEnteredAt = BreakerInstant.origin
    private var timeInOpenNanos: Int64 = 0
    private var episode: UInt64 = 0
    private var openTimeoutNanos: Int64
    private var trackers: [PolicyTracker]
    private let consecutiveThreshold: Int
    private let baseOpenNanos: Int64
    private let maxOpenNanos: Int64
    private let minimumOpenNanos: Int64
    private let halfOpenMaxWaitNanos: Int64
    private let slowCallNanos: Int64
    private let needsDuration: Bool

    /// Creates a closed machine at version 0.
    ///
    /// - Parameter config: The policy; it is validated first.
    /// - Throws: ``BreakerConfigError`` listing every invalid field.
    public init(config: BreakerConfig = BreakerConfig()) throws(BreakerConfigError) {
        try config.validate()
        self.config = config
        var threshold = Int.max
        var trackers: [PolicyTracker] = []
        for policy in config.tripPolicies {
            if case .consecutiveFailures(let n) = policy {
                threshold = min(threshold, n)
            } else if let tracker = PolicyTracker(policy) {
                trackers.append(tracker)
            }
        }
        consecutiveThreshold = threshold
        self.trackers = trackers
        baseOpenNanos = config.openTimeout.nanosecondsClamped
        maxOpenNanos = config.maxOpenTimeout.nanosecondsClamped
        minimumOpenNanos = config.minimumOpenDuration.nanosecondsClamped
        halfOpenMaxWaitNanos = config.halfOpenMaxWait?.nanosecondsClamped ?? .max
        slowCallNanos = config.slowCallDuration?.nanosecondsClamped ?? .max
        needsDuration = !trackers.isEmpty || config.slowCallDuration != nil
        openTimeoutNanos = baseOpenNanos
    }

    // MARK: - Reading

    /// The current open duration: base × multiplier^failed recoveries, capped.
    public var openTimeout: Duration { .nanoseconds(openTimeoutNanos) }

    /// When half-open may be entered, if the breaker is open and not forced.
    public var halfOpenDueAt: BreakerInstant? {
        guard state == .open, forced == nil, let openedAt else { return nil }
        return BreakerInstant(nanoseconds: openedAt.nanoseconds.addingClamped(effectiveOpenNanos))
    }

    private var effectiveOpenNanos: Int64 { max(openTimeoutNanos, minimumOpenNanos) }

    /// A snapshot in the `/breakers` shape.
    ///
    /// - Parameters:
    ///   - name: The breaker's name.
    ///   - now: The instant used for `retry_after_ms` and the current open period.
    /// - Returns: The status; it does not apply due time-driven transitions (see ``advance(to:)``).
    public func status(name: String, at now: BreakerInstant) -> BreakerStatus {
        var stats = statistics
        if state == .open, let openedAt {
            let current = max(0, now.nanoseconds.addingClamped(-openedAt.nanoseconds))
            stats.timeInOpenMilliseconds = timeInOpenNanos.addingClamped(current) / 1_000_000
        }
        var retryAfter: Int64?
        if let due = halfOpenDueAt {
            retryAfter = max(0, due.nanoseconds.addingClamped(-now.nanoseconds)) / 1_000_000
        }
        return BreakerStatus(
            name: name, state: state, version: version, failureCount: failureCount,
            openTimeoutMilliseconds: openTimeoutNanos / 1_000_000, failedRecoveries: failedRecoveries,
            halfOpenAttempts: halfOpenAttempts, halfOpenSuccesses: halfOpenSuccesses,
            halfOpenInFlight: halfOpenInFlight, forced: forced, openedAtMilliseconds: openedAt?.milliseconds,
            retryAfterMilliseconds: retryAfter, statistics: stats
        )
    }

    // MARK: - Admission

    /// Decides whether a call may proceed, applying any due time-driven transition first.
    ///
    /// This form drops that transition (the ``version`` still moves); use
    /// ``admit(at:transition:)`` when observers must see every transition.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: The admission; in half-open an allowed call carries a ``ProbePermit``.
    @inline(__always)
    public mutating func admit(at now: BreakerInstant) -> Admission {
        if state == .closed { return .allowed(permit: nil) }
        var ignored: Transition?
        return admit(at: now, transition: &ignored)
    }

    /// Decides whether a call may proceed and reports the time-driven transition it
    /// caused, if any (open → half-open, or half-open → open on max wait).
    ///
    /// Closed (including forced closed): allowed, no permit. Open: rejected with the
    /// remaining time until half-open (`nil` when forced open); once that time has passed
    /// the machine enters half-open and this call becomes its first probe. Half-open:
    /// allowed with a permit while fewer than `half_open_max_calls` probes are in flight,
    /// rejected with `retryAfter: nil` otherwise. Rejections count in ``statistics``.
    ///
    /// - Parameters:
    ///   - now: The current instant.
    ///   - transition: Set to the transition this admission caused, if any (left unchanged otherwise).
    /// - Returns: The admission.
    public mutating func admit(at now: BreakerInstant, transition: inout Transition?) -> Admission {
        switch state {
        case .closed:
            return .allowed(permit: nil)
        case .open:
            if forced == .open {
                statistics.rejectedCalls += 1
                return .rejected(retryAfter: nil)
            }
            let due = (openedAt ?? now).nanoseconds.addingClamped(effectiveOpenNanos)
            if now.nanoseconds < due {
                statistics.rejectedCalls += 1
                return .rejected(retryAfter: .nanoseconds(due - now.nanoseconds))
            }
            transition = enterHalfOpen(at: now)
            return admitProbe()
        case .halfOpen:
            if halfOpenMaxWaitExpired(at: now) {
                transition = reopen(.halfOpenMaxWait, at: now)
                statistics.rejectedCalls += 1
                return .rejected(retryAfter: .nanoseconds(effectiveOpenNanos))
            }
            return admitProbe()
        }
    }

    /// Gives back a probe permit whose call was never made (admission was refused further on,
    /// e.g. by the shared breaker): frees its half-open slot without counting an outcome.
    ///
    /// - Parameter permit: The permit from ``admit(at:transition:)``; one of an earlier
    ///   half-open episode is ignored.
    public mutating func release(_ permit: ProbePermit) {
        guard state == .halfOpen, permit.episode == episode else { return }
        halfOpenInFlight = max(0, halfOpenInFlight - 1)
        halfOpenAttempts = max(0, halfOpenAttempts - 1)
    }

    private mutating func admitProbe() -> Admission {
        guard halfOpenInFlight < config.halfOpenMaxCalls else {
            statistics.rejectedCalls += 1
            return .rejected(retryAfter: nil)
        }
        halfOpenInFlight += 1
        halfOpenAttempts += 1
        return .allowed(permit: ProbePermit(episode: episode))
    }

    private func halfOpenMaxWaitExpired(at now: BreakerInstant) -> Bool {
        halfOpenMaxWaitNanos != .max
            && now.nanoseconds.addingClamped(-halfOpenEnteredAt.nanoseconds) >= halfOpenMaxWaitNanos
    }

    /// Applies the time-driven transition due at `now`, if any: open → half-open once
    /// the open timeout (and minimum open duration) has elapsed (never when forced), or
    /// half-open → open once ``BreakerConfig/halfOpenMaxWait`` has elapsed.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: The transition, or `nil` when none was due.
    public mutating func advance(to now: BreakerInstant) -> Transition? {
        switch state {
        case .closed:
            return nil
        case .open:
            guard let due = halfOpenDueAt, now >= due else { return nil }
            return enterHalfOpen(at: now)
        case .halfOpen:
            return halfOpenMaxWaitExpired(at: now) ? reopen(.halfOpenMaxWait, at: now) : nil
        }
    }

    // MARK: - Outcomes

    /// Records the outcome of a finished call.
    ///
    /// Statistics always count it. With a permit of the current half-open episode it is
    /// a probe result: a success counts toward `half_open_success_threshold` (closing at
    /// the threshold), a failure reopens with backoff, `ignored` just frees the probe
    /// slot. Otherwise, while closed and not forced, successes and failures feed the trip
    /// policies (ignored outcomes do not).
    ///
    /// - Parameters:
    ///   - outcome: How the call counts.
    ///   - duration: How long the call took (for slow-call policies and statistics).
    ///   - permit: The permit from ``admit(at:transition:)``, if any.
    ///   - now: The current instant.
    /// - Returns: The transition the outcome caused, if any.
    public mutating func record(
        _ outcome: CallOutcome, duration: Duration, permit: ProbePermit? = nil, at now: BreakerInstant
    ) -> Transition? {
        var durationNanos: Int64 = 0
        if needsDuration { durationNanos = duration.nanosecondsClamped }
        switch outcome {
        case .success: statistics.totalSuccesses += 1
        case .failure: statistics.totalFailures += 1
        case .ignored:
            statistics.totalIgnored += 1
            if let permit, state == .halfOpen, permit.episode == episode {
                halfOpenInFlight = max(0, halfOpenInFlight - 1)
            }
            return nil
        }
        if durationNanos > slowCallNanos { statistics.slowCalls += 1 }

        if let permit, state == .halfOpen, permit.episode == episode {
            halfOpenInFlight = max(0, halfOpenInFlight - 1)
            if outcome == .failure { return reopen(.probeFailed, at: now) }
            halfOpenSuccesses += 1
            if halfOpenSuccesses >= config.halfOpenSuccessThreshold {
                statistics.successfulRecoveries += 1
                return close(.probesSucceeded, at: now)
            }
            return nil
        }
        guard state == .closed, forced == nil else { return nil }

        let failure = outcome == .failure
        if failure {
            failureCount += 1
            if failureCount >= consecutiveThreshold { return trip(.failureThreshold, at: now) }
        } else {
            failureCount = 0
        }
        if !trackers.isEmpty {
            for i in trackers.indices {
                if let reason = trackers[i].record(failure: failure, durationNanoseconds: durationNanos, at: now) {
                    return trip(reason, at: now)
                }
            }
        }
        return nil
    }

    // MARK: - Manual actions

    /// Forces the breaker open until ``reset(at:)``: every call is rejected and it never
    /// moves to half-open by itself. The open timeout and failed recoveries are kept.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: The transition (always non-`nil`: every manual action bumps the version,
    ///   even when already open).
    @discardableResult
    public mutating func forceOpen(at now: BreakerInstant) -> Transition? {
        forced = .open
        return move(to: .open, reason: .forcedOpen, at: now)
    }

    /// Forces the breaker closed until ``reset(at:)``: every call is admitted and trip
    /// policies never fire. Counts as a close: the open timeout returns to its base.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: The transition (always non-`nil`).
    @discardableResult
    public mutating func forceClose(at now: BreakerInstant) -> Transition? {
        forced = .closed
        return close(.forcedClosed, at: now)
    }

    /// Resets to closed: clears any override, the counters, the failed recoveries and
    /// the open timeout; statistics are kept.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: The transition (always non-`nil`).
    @discardableResult
    public mutating func reset(at now: BreakerInstant) -> Transition? {
        forced = nil
        return close(.reset, at: now)
    }

    // MARK: - Transitions

    private mutating func trip(_ reason: TransitionReason, at now: BreakerInstant) -> Transition {
        openTimeoutNanos = currentBackoff()
        return move(to: .open, reason: reason, at: now)
    }

    private mutating func reopen(_ reason: TransitionReason, at now: BreakerInstant) -> Transition {
        failedRecoveries += 1
        statistics.failedRecoveries += 1
        openTimeoutNanos = currentBackoff()
        return move(to: .open, reason: reason, at: now)
    }

    private mutating func close(_ reason: TransitionReason, at now: BreakerInstant) -> Transition {
        failedRecoveries = 0
        openTimeoutNanos = baseOpenNanos
        return move(to: .closed, reason: reason, at: now)
    }

    private mutating func enterHalfOpen(at now: BreakerInstant) -> Transition {
        episode &+= 1
        halfOpenEnteredAt = now
        return move(to: .halfOpen, reason: .openTimeoutElapsed, at: now)
    }

    private func currentBackoff() -> Int64 {
        openTimeoutNanoseconds(
            afterFailedRecoveries: failedRecoveries, base: baseOpenNanos,
            multiplier: config.backoffMultiplier, cap: maxOpenNanos)
    }

    /// Changes state, bumps the version, clears the per-state counters and keeps the
    /// time-in-open statistic.
    private mutating func move(to next: BreakerState, reason: TransitionReason, at now: BreakerInstant) -> Transition {
        let previous = state
        if previous == .open, next != .open, let openedAt {
            timeInOpenNanos = timeInOpenNanos.addingClamped(max(0, now.nanoseconds.addingClamped(-openedAt.nanoseconds)))
            statistics.timeInOpenMilliseconds = timeInOpenNanos / 1_000_000
        }
        if next == .open, previous != .open {
            openedAt = now
            statistics.circuitOpens += 1
        }
        state = next
        version += 1
        failureCount = 0
        for i in trackers.indices { trackers[i].window.clear() }
        halfOpenAttempts = 0
        halfOpenSuccesses = 0
        halfOpenInFlight = 0
        return Transition(from: previous, to: next, reason: reason, version: version, at: now)
    }
}
