import BreakerSchema
import BreakerCore
import SafeNumbers

/// Everything a shared breaker needs beyond its name.
public struct SharedBreakerOptions: Sendable, Equatable {
    /// The policy: thresholds, trip policies, timeouts and backoff.
    public var breaker: BreakerConfig
    /// Distinct instances whose failures must contribute before the shared breaker trips.
    public var tripQuorum: Int
    /// Behaviour while Redis is unreachable.
    public var onStoreFailure: StoreFailurePolicy
    /// How long a half-open probe permit lives if its result never arrives.
    public var probeLease: Duration
    /// `enforce`, or `shadow`: full evaluation fleet-wide, never a rejection.
    public var mode: BreakerMode

    /// Creates options; defaults as documented in docs/semantics.md.
    public init(
        breaker: BreakerConfig = BreakerConfig(),
        tripQuorum: Int = 1,
        onStoreFailure: StoreFailurePolicy = .local,
        probeLease: Duration = .seconds(15),
        mode: BreakerMode = .enforce
    ) {
        self.mode = mode
        self.breaker = breaker
        self.tripQuorum = tripQuorum
        self.onStoreFailure = onStoreFailure
        self.probeLease = probeLease
    }

    /// Checks the breaker policy plus what the shared store supports.
    ///
    /// - Throws: ``BreakerConfigError`` listing every problem with its field name.
    /// The longest probe lease the shared store grants: a day.
    public static let maximumProbeLease: Duration = .seconds(86_400)

    public func validate() throws(BreakerConfigError) {
        var problems: [BreakerConfigError.Problem] = []
        do {
            try breaker.validate()
        } catch {
            problems = error.problems
        }
        if tripQuorum < 1 || tripQuorum > SharedBreakerLimits.maximumTripQuorum {
            problems.append(.init(field: "trip_quorum", reason: "must be between 1 and \(SharedBreakerLimits.maximumTripQuorum), got \(tripQuorum)"))
        }
        if probeLease <= .zero || probeLease > Self.maximumProbeLease {
            problems.append(.init(field: "probe_lease", reason: "must be > 0 and at most a day"))
        }
        let timeWindows = Set(breaker.tripPolicies.compactMap(\.timeWindow))
        if timeWindows.count > 1 {
            problems.append(.init(field: "trip_policies", reason: "a shared breaker supports one time-window length across policies, got \(timeWindows.count)"))
        }
        let countWindows = Set(breaker.tripPolicies.compactMap(\.countWindow))
        if countWindows.count > 1 {
            problems.append(.init(field: "trip_policies", reason: "a shared breaker supports one count-window length across policies, got \(countWindows.count)"))
        }
        if let size = countWindows.first, size > SharedBreakerLimits.maximumCountWindow {
            problems.append(.init(field: "trip_policies", reason: "a shared count window holds at most \(SharedBreakerLimits.maximumCountWindow) calls, got \(size)"))
        }
        if !problems.isEmpty { throw BreakerConfigError(problems: problems) }
    }

    /// The policy as the `k=v;…` string the breaker script reads (``PolicyEncoding``).
    var scriptConfiguration: String {
        PolicyEncoding.encode(breaker, tripQuorum: tripQuorum, mode: mode)
    }

    /// Calls at least this slow count as slow (from a slow-call-rate policy or `slowCallDuration`).
    var slowCallThreshold: Duration? {
        for case .slowCallRate(_, let slowerThan, _, _) in breaker.tripPolicies { return slowerThan }
        return breaker.slowCallDuration
    }
}

extension TripPolicy {
    var timeWindow: Duration? {
        switch self {
        case .failuresInWindow(_, let window): return window
        case .failureRate(_, .time(let window), _), .slowCallRate(_, _, .time(let window), _): return window
        default: return nil
        }
    }

    var countWindow: Int? {
        switch self {
        case .failureRate(_, .count(let size), _), .slowCallRate(_, _, .count(let size), _): return size
        default: return nil
        }
    }
}

