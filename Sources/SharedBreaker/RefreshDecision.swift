import BreakerSchema
import BreakerCore

/// What an instance does after reading `cb_state:<name>` (start-up, lost-message repair,
/// Redis coming back): the reconcile rule of the README, as a pure function.
///
/// The more cautious state wins, but never over a decision the fleet made meanwhile:
/// - With `trip_quorum` 1, a local breaker that tripped while Redis was unreachable opens the
///   stored breaker only if nobody changed it since this instance last saw it (compare-and-set
///   on the version the instance *last saw*, so an operator's reset during the outage stands).
/// - With `trip_quorum` > 1, the outage's outcomes are sent as ordinary outcomes (the quorum
///   decides), never as a reconcile-open.
/// - If Redis lost the key (stored version older than one the store itself reported) while the
///   instance knew the breaker open, the stored breaker is reopened (compare-and-set on the
///   stored version). A version learnt only from an event never counts: events are hints, and
///   anyone who can PUBLISH could claim any version.
/// - A snapshot older than an event applied while it was being read is stale: keep the view.
enum RefreshDecision: Equatable, Sendable {
    /// Nothing to change.
    case keep
    /// Replace the view with the stored state.
    case adopt
    /// Open the stored breaker by `reconcile_open`, expecting this stored version.
    case reopen(expectedVersion: Int)
    /// Send the outcomes recorded during the outage as an ordinary batch, then adopt.
    case replayOutage

    /// - Parameters:
    ///   - view: the view now (after the read returned).
    ///   - versionAtRead: the view's version when the read was sent.
    ///   - stored: what the read returned.
    ///   - trippedDuringOutage: the local breaker tripped while Redis was unreachable (`local` policy).
    ///   - hasOutageOutcomes: outcomes were recorded during the outage (kept only with a quorum).
    ///   - quorum: the breaker's `trip_quorum`.
    static func decide(
        view: SharedBreakerView, versionAtRead: Int, stored: StoredBreakerState,
        trippedDuringOutage: Bool, hasOutageOutcomes: Bool, quorum: Int
    ) -> RefreshDecision {
        if quorum > 1 && hasOutageOutcomes { return .replayOutage }
        // Older than the view, and the view moved while the read was in flight: a stale snapshot.
        if stored.version < view.version && view.version != versionAtRead { return .keep }
        let storedClosed = stored.state == .closed && stored.forced == nil
        let localTrip = trippedDuringOutage && quorum == 1
        if storedClosed && (localTrip || view.state == .open) {
            if localTrip && stored.version == view.version { return .reopen(expectedVersion: view.version) }
            if stored.version < view.confirmedVersion { return .reopen(expectedVersion: stored.version) }
        }
        if stored.version == view.version && stored.state == view.state { return .keep }
        return .adopt
    }
}
