import BreakerCore
import Testing
@testable import SharedBreaker

/// Decoding what the store and events hold (no server): huge or fractional numbers never trap,
/// and transition reasons become metric labels only from a closed set.
@Suite("Stored and published values are decoded defensively")
struct DecodingStoredValuesTests {
    @Test("StoredBreakerState never traps on huge or fractional numbers", arguments: ["1e19", "1e20", "inf", "-1", "3.5", "9007199254740993"])
    func storedStateNeverTraps(garbage: String) {
        let state = StoredBreakerState(fields: ["state": "open", "version": garbage, "opened_at_ms": garbage, "total_successes": garbage, "time_in_open_ms": garbage])
        #expect(state.version == 0)
        #expect(state.problems.contains { $0.hasPrefix("version=") })
        #expect(state.problems.contains { $0.hasPrefix("time_in_open_ms=") })
    }

    @Test("transition reasons from events become metric labels only from a closed set")
    func reasonLabelsClosed() {
        for reason in TransitionReason.allCases.map(\.rawValue) + ["override_expired", "reconciled_after_outage", "restored_from_ledger"] {
            #expect(BreakerMetrics.reasonLabel(reason) == reason)
        }
        for forged in ["x1", "forged", String(repeating: "a", count: 5000), "failure_threshold ", "\u{0}"] {
            #expect(BreakerMetrics.reasonLabel(forged) == "other")
        }
        #expect(BreakerMetrics.reasonLabel("") == "unknown")
    }
}
