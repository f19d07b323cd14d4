import Synchronization
import Metrics
import Logging
import BreakerSchema
import BreakerCore
import RedisClient
import SafeNumbers

/// Keeping the local view in sync with `cb_state:<name>`: script replies, pub/sub events,
/// periodic reads, and reconciliation when Redis returns (rules in ``RefreshDecision``).
extension SharedBreaker {
    /// Runs one breaker script operation and adopts its reply.
    @discardableResult
    func runScript(_ operation: BreakerOperation, argument: String, extra: String = "") async throws -> BreakerReply {
        let sentAt = clock.now()
        let value: RedisValue
        do {
            value = try await BreakerScriptCall(operation, name: name, instanceID: instanceID, policy: scriptConfiguration, argument: argument, extra: extra).run(on: store)
        } catch let error as RedisError where error.breaksConnection || error.code == .unavailable {
            setStoreAvailable(false, because: error)
            throw error
        }
        let receivedAt = clock.now()
        metrics.redisRoundTrip.recordNanoseconds((receivedAt - sentAt).nanosecondsClamped)
        let reply = try BreakerReply(value)
        if !reply.repairs.isEmpty {
            logger.warning("repaired corrupted breaker state", metadata: ["key": "\(name.stateKey)", "repairs": "\(reply.repairs)"])
        }
        let midpoint = sentAt.milliseconds / 2 + receivedAt.milliseconds / 2
        adopt(reply, serverOffset: reply.serverNowMilliseconds.subtractingClamped(midpoint))
        setStoreAvailable(true)
        return reply
    }

    /// Adopts a script reply. Announces only when the version moved forward: the same
    /// transition may already have arrived as this instance's own pub/sub event.
    private func adopt(_ reply: BreakerReply, serverOffset: Int64) {
        let confirmedAt = clock.now()
        let transition = updateLocked { inner -> SharedTransition? in
            inner.serverOffsetMilliseconds = serverOffset
            inner.viewConfirmedAt = confirmedAt
            guard reply.version >= inner.view.version else { return nil }
            let before = inner.view
            inner.view.apply(reply, by: instanceID)
            guard reply.version > before.version else { return nil }
            return SharedTransition(name: name, from: before.state, to: inner.view.state, version: reply.version, reason: reply.reason, by: reply.transitioned ? instanceID : "")
        }
        if let transition { announce(transition) }
    }

    /// Applies a `cb_events:<name>` message.
    func apply(_ event: BreakerEvent) {
        guard let to = event.toState else {
            logger.warning("ignored breaker event with an unknown state", metadata: ["to": "\(event.to.prefix(32))"])
            return
        }
        // Anyone who can PUBLISH can send an event: every number is bounded as a stored one is.
        guard (0...StoredBreakerState.maximumInteger).contains(Int64(event.version)) else {
            logger.warning("ignored breaker event with an impossible version", metadata: ["version": "\(event.version)"])
            return
        }
        let event = event.bounded
        let confirmedAt = clock.now()
        let transition = updateLocked { inner -> SharedTransition? in
            guard event.version > inner.view.version else { return nil }
            inner.viewConfirmedAt = confirmedAt
            let from = inner.view.state
            inner.view.state = to
            inner.view.version = event.version
            inner.view.updatedBy = String(event.by.prefix(200))
            if let openedAt = event.openedAtMilliseconds { inner.view.openedAtMilliseconds = openedAt }
            if let timeout = event.openTimeoutMilliseconds { inner.view.openTimeoutMilliseconds = timeout }
            inner.view.forced = event.forced.flatMap { $0.isEmpty ? nil : ForcedState(rawValue: $0) }
            if let failedRecoveries = event.failedRecoveries { inner.view.failedRecoveries = failedRecoveries }
            return SharedTransition(name: name, from: from, to: to, version: event.version, reason: String(event.reason.prefix(64)), by: String(event.by.prefix(200)))
        }
        if let transition { announce(transition) }
    }

    /// Reads `cb_state:<name>` and adopts it (start-up, restart, lost message repair), or
    /// reconciles after an outage as ``RefreshDecision`` says.
    func refresh() async throws {
        let versionAtRead = inner.withLock { $0.view.version }
        let sentAt = clock.now()
        let replies = try await store.pipeline([RedisCommand("HGETALL", name.stateKey), RedisCommand("TIME")])
        let receivedAt = clock.now()
        let value = try replies[0].get()
        if let time = try? replies[1].get().array, time.count == 2, let seconds = time[0].int, let micros = time[1].int {
            let midpoint = sentAt.milliseconds / 2 + receivedAt.milliseconds / 2
            let offset = Int64.milliseconds(seconds: seconds, microseconds: micros).subtractingClamped(midpoint)
            inner.withLock { $0.serverOffsetMilliseconds = offset }
        }
        let stored: StoredBreakerState
        if let fields = value.fieldDictionary {
            stored = StoredBreakerState(fields: fields)
            if !stored.problems.isEmpty {
                logger.warning("corrupted breaker state; the next write repairs it", metadata: ["key": "\(name.stateKey)", "fields": "\(stored.problems.joined(separator: ", "))"])
            }
        } else {
            stored = StoredBreakerState()
        }
        let (decision, transition, outage) = updateLocked { inner -> (RefreshDecision, SharedTransition?, [OutcomeRun]) in
            inner.viewConfirmedAt = receivedAt
            if let health = stored.healthScore { metrics.healthScore.record(health) }
            let localTripped = inner.trippedDuringOutage && inner.local.state == .open && options.onStoreFailure == .local
            let decision = RefreshDecision.decide(
                view: inner.view, versionAtRead: versionAtRead, stored: stored,
                trippedDuringOutage: localTripped, hasOutageOutcomes: !inner.outageRuns.isEmpty, quorum: options.tripQuorum
            )
            if !localTripped { inner.trippedDuringOutage = false }
            if decision == .replayOutage {
                // Taken out under the lock: a concurrent refresh cannot send them twice.
                defer { inner.outageRuns.removeAll() }
                return (decision, nil, inner.outageRuns)
            }
            guard decision == .adopt else { return (decision, nil, []) }
            let before = inner.view.state
            inner.view = SharedBreakerView(stored: stored)
            if inner.view.openTimeoutMilliseconds == 0 { inner.view.openTimeoutMilliseconds = options.breaker.openTimeout.millisecondsClamped }
            guard before != stored.state else { return (decision, nil, []) }
            return (decision, SharedTransition(name: name, from: before, to: stored.state, version: stored.version, reason: stored.lastReason.isEmpty ? "adopted" : stored.lastReason, by: stored.updatedBy), [])
        }
        if let transition { announce(transition) }
        switch decision {
        case .keep, .adopt:
            inner.withLock { $0.trippedDuringOutage = false }
        case .reopen(let expected):
            let reply = try await runScript(.reconcileOpen, argument: "\(expected)")
            inner.withLock { $0.trippedDuringOutage = false }
            if reply.result == BreakerResult.kept.rawValue {
                try await refresh()
            } else {
                logger.notice("reconciled: opened the shared breaker after an outage (the more cautious state wins)")
            }
        case .replayOutage:
            let count = outage.reduce(0) { $0 + $1.count }
            for chunk in stride(from: 0, to: outage.count, by: Self.maximumRunsPerCall) {
                let runs = outage[chunk..<min(outage.count, chunk + Self.maximumRunsPerCall)]
                do {
                    try await runScript(.record, argument: OutcomeRun.encode(runs))
                } catch {
                    // Not sent: keep the rest (in order, ahead of newer ones) for the next attempt.
                    inner.withLock { inner in
                        var dropped = 0
                        var merged: [OutcomeRun] = []
                        for run in outage[chunk...] { Self.append(run, to: &merged, dropped: &dropped) }
                        for run in inner.outageRuns { Self.append(run, to: &merged, dropped: &dropped) }
                        inner.outageRuns = merged
                        inner.droppedOutcomes += dropped
                    }
                    throw error
                }
            }
            inner.withLock { $0.trippedDuringOutage = false }
            logger.notice("reconciled: sent the outcomes recorded during the outage (the quorum decides)", metadata: ["outcomes": "\(count)"])
            try await refresh()
        }
        // The local breaker was only a stand-in; once Redis is back, it follows the shared state.
        let now = clock.now()
        inner.withLock { inner in
            if inner.view.state == .closed && inner.local.state != .closed && options.tripQuorum == 1 {
                _ = inner.local.reset(at: now)
            }
        }
    }

    /// Marks Redis reachable or not (logged once per change by the pool).
    ///
    /// Going unreachable drops the queued closed-path outcomes (counted as dropped), except
    /// with `trip_quorum` > 1, where they are kept for the replay when Redis returns.
    func setStoreAvailable(_ available: Bool, because error: (any Error)? = nil) {
        let (changed, dropped) = updateLocked { inner -> (Bool, Int) in
            defer { inner.storeAvailable = available }
            var dropped = 0
            if !available && !inner.pending.isEmpty {
                if options.tripQuorum > 1 {
                    for run in inner.pending { Self.append(run, to: &inner.outageRuns, dropped: &dropped) }
                } else {
                    dropped = inner.pending.reduce(0) { $0 + $1.count }
                }
                inner.pending.removeAll()
            }
            return (inner.storeAvailable != available, dropped)
        }
        countDropped(dropped)
        if changed {
            metrics.storeAvailable.record(available ? 1 : 0)
            if !available {
                logger.warning("redis unavailable; deciding locally", metadata: ["policy": "\(options.onStoreFailure.rawValue)", "error": "\(error.map { "\($0)" } ?? "unknown")"])
            }
        }
    }

    var isStoreAvailable: Bool { inner.withLock { $0.storeAvailable } }

    func announce(_ transition: SharedTransition) {
        let now = clock.now()
        inner.withLock { inner in
            if transition.from != transition.to { inner.stateSince = now }
            // A manual close or reset reaches the local breaker too, whatever the quorum; with
            // quorum 1 the local breaker is only a stand-in for outages and follows every close.
            let manualClose = transition.reason == "forced_closed" || transition.reason == "reset"
            if transition.to == .closed && (manualClose || options.tripQuorum == 1) && inner.local.state != .closed {
                _ = inner.local.reset(at: now)
            }
        }
        metrics.recordTransition(transition)
        logger.info("breaker transition", metadata: [
            "from": "\(transition.from.rawValue)", "to": "\(transition.to.rawValue)",
            "version": "\(transition.version)", "reason": "\(transition.reason)", "by": "\(transition.by)",
        ])
        for observer in observers.withLock({ $0 }) { observer(transition) }
    }
}

extension SharedBreaker {
    /// A periodic poll confirmed the view (the stored version matched) and read the fleet's
    /// lifetime counts: refresh the health, time-in-state, staleness and forced gauges.
    func notePoll(confirmed: Bool, successes: Int64?, failures: Int64?) {
        let now = clock.now()
        let (since, confirmedAt, forced) = inner.withLock { inner -> (BreakerInstant, BreakerInstant, ForcedState?) in
            if confirmed { inner.viewConfirmedAt = now }
            return (inner.stateSince, inner.viewConfirmedAt, inner.view.forced)
        }
        if let successes, let failures, let health = StoredBreakerState.healthScore(successes: successes, failures: failures) {
            metrics.healthScore.record(health)
        }
        metrics.stateSeconds.record((now - since).secondsDouble)
        metrics.viewStaleness.record((now - confirmedAt).secondsDouble)
        metrics.forced.record(forced == .open ? 1 : forced == .closed ? 2 : 0)
    }
}
