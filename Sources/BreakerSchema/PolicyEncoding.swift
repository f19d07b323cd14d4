import BreakerCore
import SafeNumbers

/// The policy a caller sends with every breaker script call, as `k=v;k=v`.
///
/// The keys and the range the script accepts for each are defined here once; the script gets
/// them as `POLICY` when loaded and rejects a value outside its range, naming the key. A key
/// the script does not know is ignored, so a newer caller may send more during an upgrade.
public enum PolicyKey: String, CaseIterable, Sendable {
    case baseOpenTimeout = "base_ms"
    case maxOpenTimeout = "max_ms"
    case backoffMultiplier = "mult"
    case halfOpenMaxCalls = "ho_max"
    case halfOpenSuccesses = "ho_success"
    case tripQuorum = "quorum"
    case minimumOpen = "min_open_ms"
    case halfOpenMaxWait = "ho_max_wait_ms"
    case consecutiveFailures = "threshold"
    case windowFailures = "fw_count"
    case timeWindow = "tw_ms"
    case failureRate = "rate"
    case slowCallRate = "slow_rate"
    case minimumCalls = "min_calls"
    case countWindow = "cw"
    case mode

    /// The accepted values: an integer or decimal range, or a set of words.
    public enum Range: Sendable, Equatable {
        case integer(ClosedRange<Int64>)
        case number(ClosedRange<Double>)
        case words([String])
    }

    /// A year in milliseconds: the longest duration a policy holds.
    public static let yearMilliseconds: Int64 = BreakerConfig.maximumDuration.millisecondsClamped

    /// The values the script accepts.
    public var range: Range {
        switch self {
        case .baseOpenTimeout, .maxOpenTimeout, .minimumOpen: .integer(0...Self.yearMilliseconds)
        case .halfOpenMaxWait, .timeWindow: .integer(1...Self.yearMilliseconds)
        case .backoffMultiplier: .number(1...BreakerConfig.maximumBackoffMultiplier)
        case .halfOpenMaxCalls, .halfOpenSuccesses: .integer(1...Int64(BreakerConfig.maximumProbes))
        case .countWindow: .integer(1...Int64(SharedBreakerLimits.maximumCountWindow))
        case .tripQuorum: .integer(1...Int64(SharedBreakerLimits.maximumTripQuorum))
        case .consecutiveFailures: .integer(0...Int64(BreakerConfig.maximumCount))
        case .windowFailures, .minimumCalls: .integer(1...Int64(BreakerConfig.maximumCount))
        case .failureRate, .slowCallRate: .number(0...100)
        case .mode: .words(BreakerMode.allCases.map(\.rawValue))
        }
    }
}

/// What the shared store supports beyond the breaker policy's own limits (``BreakerConfig``).
public enum SharedBreakerLimits {
    /// The most distinct instances a trip can require.
    public static let maximumTripQuorum = 100
    /// The most calls a shared count window holds (the window is stored in the hash).
    public static let maximumCountWindow = 1_000
}

/// Builds the policy string from the breaker policy.
public enum PolicyEncoding {
    /// The `k=v;…` string for `config`, the trip quorum and the mode.
    public static func encode(_ config: BreakerConfig, tripQuorum: Int, mode: BreakerMode) -> String {
        var values: [(PolicyKey, String)] = [
            (.baseOpenTimeout, "\(config.openTimeout.millisecondsClamped)"),
            (.backoffMultiplier, "\(config.backoffMultiplier)"),
            (.maxOpenTimeout, "\(config.maxOpenTimeout.millisecondsClamped)"),
            (.halfOpenMaxCalls, "\(config.halfOpenMaxCalls)"),
            (.halfOpenSuccesses, "\(config.halfOpenSuccessThreshold)"),
            (.tripQuorum, "\(tripQuorum)"),
            (.minimumOpen, "\(config.minimumOpenDuration.millisecondsClamped)"),
            (.mode, mode.rawValue),
        ]
        if let maxWait = config.halfOpenMaxWait {
            values.append((.halfOpenMaxWait, "\(maxWait.millisecondsClamped)"))
        }
        var threshold = 0
        for policy in config.tripPolicies {
            switch policy {
            case .consecutiveFailures(let count):
                threshold = count
            case .failuresInWindow(let count, let window):
                values.append((.windowFailures, "\(count)"))
                values.append((.timeWindow, "\(window.millisecondsClamped)"))
            case .failureRate(let percent, let window, let minimumCalls):
                values.append((.failureRate, "\(percent)"))
                values.append((.minimumCalls, "\(minimumCalls)"))
                values.append(entry(for: window))
            case .slowCallRate(let percent, _, let window, let minimumCalls):
                values.append((.slowCallRate, "\(percent)"))
                values.append((.minimumCalls, "\(minimumCalls)"))
                values.append(entry(for: window))
            }
        }
        values.append((.consecutiveFailures, "\(threshold)"))
        return values.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ";")
    }

    private static func entry(for window: SlidingWindow) -> (PolicyKey, String) {
        switch window {
        case .count(let size): (.countWindow, "\(size)")
        case .time(let length): (.timeWindow, "\(length.millisecondsClamped)")
        }
    }
}
