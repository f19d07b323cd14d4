import BreakerSchema
import BreakerCore
import Metrics

/// The metrics of one breaker, created once (bounded labels: breaker, outcome, state).
struct BreakerMetrics: Sendable {
    let state: Gauge
    let successes: Counter
    let failures: Counter
    let ignored: Counter
    let rejected: Counter
    let wouldReject: Counter
    let droppedOutcomes: Counter
    let storeAvailable: Gauge
    let stateSeconds: Gauge
    let healthScore: Gauge
    let viewStaleness: Gauge
    let forced: Gauge
    let redisRoundTrip: Timer
    let name: BreakerName

    init(name: BreakerName) {
        self.name = name
        let breaker = [("breaker", name.rawValue)]
        state = Gauge(label: "breakwater_breaker_state", dimensions: breaker)
        successes = Counter(label: "breakwater_calls_total", dimensions: breaker + [("outcome", "success")])
        failures = Counter(label: "breakwater_calls_total", dimensions: breaker + [("outcome", "failure")])
        ignored = Counter(label: "breakwater_calls_total", dimensions: breaker + [("outcome", "ignored")])
        rejected = Counter(label: "breakwater_rejected_calls_total", dimensions: breaker)
        wouldReject = Counter(label: "breakwater_would_reject_total", dimensions: breaker)
        droppedOutcomes = Counter(label: "breakwater_outcomes_dropped_total", dimensions: breaker)
        storeAvailable = Gauge(label: "breakwater_breaker_store_available", dimensions: breaker)
        stateSeconds = Gauge(label: "breakwater_breaker_state_seconds", dimensions: breaker)
        healthScore = Gauge(label: "breakwater_breaker_health_score", dimensions: breaker)
        viewStaleness = Gauge(label: "breakwater_breaker_view_staleness_seconds", dimensions: breaker)
        forced = Gauge(label: "breakwater_breaker_forced", dimensions: breaker)
        redisRoundTrip = Timer(label: "breakwater_redis_roundtrip_seconds", dimensions: [("operation", "breaker_script")], preferredDisplayUnit: .seconds)
        storeAvailable.record(1)
    }

    func count(_ outcome: CallOutcome) {
        switch outcome {
        case .success: successes.increment()
        case .failure: failures.increment()
        case .ignored: ignored.increment()
        }
    }

    /// 0 closed, 1 half-open, 2 open.
    func recordState(_ value: BreakerState) {
        switch value {
        case .closed: state.record(0)
        case .halfOpen: state.record(1)
        case .open: state.record(2)
        }
    }

    /// Every reason the shared breaker writes; a label outside this set (an event anyone could
    /// publish, a value from another version) is counted as `other`, so labels stay a closed set.
    static let reasonLabels: Set<String> = Set(TransitionReason.allCases.map(\.rawValue)).union([
        "override_expired", "reconciled_after_outage", "restored_from_ledger", "adopted",
    ])

    static func reasonLabel(_ reason: String) -> String {
        if reason.isEmpty { return "unknown" }
        return reasonLabels.contains(reason) ? reason : "other"
    }

    func recordTransition(_ transition: SharedTransition) {
        recordState(transition.to)
        Counter(label: "breakwater_transitions_total", dimensions: [
            ("breaker", name.rawValue), ("from", transition.from.rawValue), ("to", transition.to.rawValue),
            ("reason", Self.reasonLabel(transition.reason)),
        ]).increment()
    }
}
