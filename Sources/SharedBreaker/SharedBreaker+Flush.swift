import Synchronization
import Logging
import BreakerSchema
import RedisClient

/// Batched closed-path outcomes: the flusher side of ``SharedBreaker``.
extension SharedBreaker {
    /// Sends queued closed-path outcomes in one script call (at most ``maximumRunsPerCall``
    /// runs; the rest waits for the next call). Called by the group's flusher.
    ///
    /// A batch whose call fails is counted in `breakwater_outcomes_dropped_total` and logged;
    /// with `trip_quorum` > 1 a batch lost to an outage is kept for the replay instead.
    /// - Returns: whether anything was sent.
    @discardableResult
    func flush() async -> Bool {
        let (batch, dropped, more) = inner.withLock { inner -> ([OutcomeRun], Int, Bool) in
            let batch = Array(inner.pending.prefix(Self.maximumRunsPerCall))
            inner.pending.removeFirst(batch.count)
            let dropped = inner.droppedOutcomes
            inner.droppedOutcomes = 0
            if !batch.isEmpty { inner.batchesInFlight += 1 }
            return (batch, dropped, !inner.pending.isEmpty)
        }
        countDropped(dropped)
        guard !batch.isEmpty else { return false }
        if more { wakeFlusher() }
        defer { inner.withLock { $0.batchesInFlight -= 1 } }
        do {
            _ = try await runScript(.record, argument: OutcomeRun.encode(batch))
        } catch {
            let count = batch.reduce(0) { $0 + $1.count }
            let kept = inner.withLock { inner -> Bool in
                guard options.tripQuorum > 1, !inner.storeAvailable else { return false }
                for run in batch { Self.append(run, to: &inner.outageRuns, dropped: &inner.droppedOutcomes) }
                return true
            }
            if !kept {
                countDropped(count)
                logger.warning("outcome batch not stored; dropped", metadata: ["outcomes": "\(count)", "error": "\(error)"])
            }
        }
        return true
    }

    /// Sends everything queued and waits until no batch of this breaker is still in flight.
    func drain() async {
        while true {
            await flush()
            let settled = inner.withLock { ($0.pending.isEmpty || !$0.storeAvailable) && $0.batchesInFlight == 0 }
            if settled { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    var hasPending: Bool { inner.withLock { !$0.pending.isEmpty } }
}
