import SafeNumbers

/// The running state of one windowed trip policy.
struct PolicyTracker: Sendable {
    enum Rule: Sendable {
        case failuresInWindow(count: Int)
        case failureRate(percent: Double, minimumCalls: Int)
        case slowCallRate(percent: Double, slowerThanNanoseconds: Int64, minimumCalls: Int)
    }

    let rule: Rule
    var window: WindowCounter

    /// A tracker for a windowed policy, or `nil` for `.consecutiveFailures` (tracked by the machine).
    init?(_ policy: TripPolicy) {
        switch policy {
        case .consecutiveFailures:
            return nil
        case .failuresInWindow(let count, let window):
            rule = .failuresInWindow(count: count)
            self.window = WindowCounter(.time(window))
        case .failureRate(let percent, let window, let minimumCalls):
            rule = .failureRate(percent: percent, minimumCalls: minimumCalls)
            self.window = WindowCounter(window)
        case .slowCallRate(let percent, let slowerThan, let window, let minimumCalls):
            rule = .slowCallRate(
                percent: percent, slowerThanNanoseconds: slowerThan.nanosecondsClamped, minimumCalls: minimumCalls)
            self.window = WindowCounter(window)
        }
    }

    /// Records a success or failure and reports the reason if the policy now fires.
    mutating func record(failure: Bool, durationNanoseconds: Int64, at now: BreakerInstant) -> TransitionReason? {
        switch rule {
        case .failuresInWindow(let count):
            // Successes cannot raise the failure count, so only failures are stored.
            if failure {
                window.add(failure: true, slow: false, at: now)
                return window.failures >= count ? .failuresInWindow : nil
            }
            return nil
        case .failureRate(let percent, let minimumCalls):
            window.add(failure: failure, slow: false, at: now)
            return Self.reached(window.failures, of: window.calls, percent: percent, minimumCalls: minimumCalls)
                ? .failureRate : nil
        case .slowCallRate(let percent, let threshold, let minimumCalls):
            window.add(failure: failure, slow: durationNanoseconds > threshold, at: now)
            return Self.reached(window.slow, of: window.calls, percent: percent, minimumCalls: minimumCalls)
                ? .slowCallRate : nil
        }
    }

    /// Whether `part / total >= percent / 100` with at least `minimumCalls` calls.
    @inline(__always)
    static func reached(_ part: Int, of total: Int, percent: Double, minimumCalls: Int) -> Bool {
        total >= minimumCalls && total > 0 && Double(part) * 100 >= percent * Double(total)
    }
}
