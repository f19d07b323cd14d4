import BreakerCore
import Testing
@testable import SharedBreaker

/// Which stored snapshot an instance adopts when it refreshes its view (no server).
@Suite("Refreshing the view: a stored snapshot older than the view is not adopted")
struct RefreshDecisionTests {
    @Test("a stored snapshot older than an event applied during the read is not adopted")
    func staleSnapshotKept() {
        var view = SharedBreakerView()
        view.state = .open
        view.version = 6
        view.confirmedVersion = 6 // the store itself reported version 6
        var stored = StoredBreakerState()
        stored.state = .halfOpen
        stored.version = 5
        #expect(RefreshDecision.decide(view: view, versionAtRead: 5, stored: stored, trippedDuringOutage: false, hasOutageOutcomes: false, quorum: 1) == .keep)
        // Redis lost the key (no event meanwhile): the cautious state is restored.
        stored = StoredBreakerState()
        #expect(RefreshDecision.decide(view: view, versionAtRead: 6, stored: stored, trippedDuringOutage: false, hasOutageOutcomes: false, quorum: 1) == .reopen(expectedVersion: 0))
        // A newer stored version is always adopted.
        stored.version = 7
        #expect(RefreshDecision.decide(view: view, versionAtRead: 6, stored: stored, trippedDuringOutage: true, hasOutageOutcomes: false, quorum: 1) == .adopt)
    }
}
