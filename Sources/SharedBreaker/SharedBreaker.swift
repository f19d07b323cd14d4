@_exported import BreakerSchema
import BreakerCore
import Logging
import Metrics
import RedisClient
import SafeNumbers
import Synchronization

/// One circuit breaker whose state is shared by every instance through `cb_state:<name>`.
///
/// Admission (``acquire()``) decides from the local view with no Redis round trip, except
/// when a half-open probe permit must be leased cluster-wide. The common case, a closed
/// breaker, takes neither the lock nor a clock reading: it loads one atomic flag
/// (``closedFastPath``) that mirrors the locked state; every other case decides under the
/// lock. Outcomes on the closed path are queued and sent in batches by
/// ``SharedBreakerGroup``'s flusher (`SharedBreaker+Flush.swift`); probe outcomes are sent at
/// once. Every state change happens in the Lua script (`Lua/breaker.lua`); the view is kept in sync by `SharedBreaker+Sync.swift`.
public final class SharedBreaker: Sendable {
    /// What a call that was admitted carries until its outcome is recorded.
    public struct Ticket: Sendable {
        /// When the call was admitted; `nil` from the lock-free closed path, which reads no
        /// clock (``run(timeout:_:)`` stamps the start itself right after admission).
        let start: BreakerInstant?
        let probeToken: String?
        /// The stored version when the probe lease was granted (its half-open period).
        let probeVersion: Int
        let localPermit: ProbePermit?

        @usableFromInline
        init(start: BreakerInstant?, probeToken: String? = nil, probeVersion: Int = 0, localPermit: ProbePermit?) {
            self.start = start
            self.probeToken = probeToken
            self.probeVersion = probeVersion
            self.localPermit = localPermit
        }
    }

    struct Inner: ~Copyable {
        var view = SharedBreakerView()
        /// Redis server ms minus local clock ms, estimated from script replies.
        var serverOffsetMilliseconds: Int64?
        var local: BreakerMachine
        /// Queued closed-path outcomes, run-length encoded in call order.
        var pending: [OutcomeRun] = []
        /// Outcomes not queued because `pending` held ``maximumPendingRuns`` runs (alternating
        /// outcomes while the flusher could not run); counted in a metric.
        var droppedOutcomes = 0
        /// Batches taken from `pending` whose script call has not returned yet.
        var batchesInFlight = 0
        var storeAvailable = true
        /// After a denied probe, do not ask Redis again before this local time (same version).
        var probeRetryAt: BreakerInstant?
        var probeRetryVersion = -1
        var probeCounter: UInt64 = 0
        /// The local breaker opened while Redis was unreachable (reconciled when it returns;
        /// cleared only once the reconcile call succeeded).
        var trippedDuringOutage = false
        /// With `trip_quorum` > 1: outcomes recorded while Redis was unreachable, sent as an
        /// ordinary batch when it returns (the quorum decides, not a reconcile-open).
        var outageRuns: [OutcomeRun] = []
        /// Local time of the last change of the shared state this instance saw (metrics).
        var stateSince: BreakerInstant
        /// Local time of the last reply, event or poll that confirmed or updated the view.
        var viewConfirmedAt: BreakerInstant
    }

    /// The breaker's name.
    public let name: BreakerName
    /// Its options.
    public let options: SharedBreakerOptions
    /// This instance's id (`updated_by` in Redis).
    public let instanceID: String
    /// The local clock this breaker measures call durations with.
    public let clock: any BreakerClock
    let classifier: OutcomeClassifier
    let inner: Mutex<Inner>
    let store: RedisConnectionPool
    let logger: Logger
    let observers = Mutex<[@Sendable (SharedTransition) -> Void]>([])
    let wakeFlusher: @Sendable () -> Void
    let scriptConfiguration: String
    let slowCallThreshold: Duration?
    /// `minimum_open`, in ms: the open deadline is `opened_at + max(open_timeout, this)`.
    let minimumOpenMilliseconds: Int64
    let metrics: BreakerMetrics
    /// Random per process: probe tokens of a restarted instance with a fixed id never collide
    /// with leases its previous run left behind.
    let probeTokenPrefix: String
    /// Outcomes that never reached Redis (also `breakwater_outcomes_dropped_total`).
    let droppedOutcomeCount = Atomic<Int>(0)
    /// Shadow mode: calls admitted that enforcement would have rejected.
    let wouldRejectCount = Atomic<Int>(0)
    /// `true` exactly when ``admitLocally()`` would admit with no further condition: the
    /// shared view is closed, Redis is reachable and no local breaker is consulted
    /// (`trip_quorum` 1). A cache of the locked state, never a second source of truth: it is
    /// stored (releasing) inside the same critical section as every change of the view or of
    /// store availability (``updateLocked(_:)``), so a reader that loads `true` is ordered as if
    /// it had taken the lock just before that change — the decision the lock would have made.
    @usableFromInline let closedFastPath = Atomic<Bool>(false)

    init(
        name: BreakerName,
        options: SharedBreakerOptions,
        instanceID: String,
        store: RedisConnectionPool,
        clock: any BreakerClock,
        classifier: OutcomeClassifier,
        logger: Logger,
        wakeFlusher: @escaping @Sendable () -> Void
    ) throws(BreakerConfigError) {
        var problems: [BreakerConfigError.Problem] = []
        do { try options.validate() } catch { problems = error.problems }
        if let reason = InstanceID.problem(with: instanceID) {
            problems.append(.init(field: "instance_id", reason: reason))
        }
        if !problems.isEmpty { throw BreakerConfigError(problems: problems) }
        self.name = name
        self.options = options
        self.instanceID = instanceID
        self.store = store
        self.clock = clock
        self.classifier = classifier
        var logger = logger
        logger[metadataKey: "breaker"] = "\(name)"
        logger[metadataKey: "instance"] = "\(instanceID)"
        self.logger = logger
        self.wakeFlusher = wakeFlusher
        self.scriptConfiguration = options.scriptConfiguration
        self.slowCallThreshold = options.slowCallThreshold
        self.minimumOpenMilliseconds = options.breaker.minimumOpenDuration.millisecondsClamped
        self.metrics = BreakerMetrics(name: name)
        self.probeTokenPrefix = "\(instanceID)#\(String(UInt32.random(in: .min ... .max), radix: 36))-"
        let machine = try BreakerMachine(config: options.breaker)
        let now = clock.now()
        var initial = Inner(local: machine, stateSince: now, viewConfirmedAt: now)
        initial.view.openTimeoutMilliseconds = options.breaker.openTimeout.millisecondsClamped
        let admits = Self.admitsWithoutLock(initial, tripQuorum: options.tripQuorum)
        self.inner = Mutex(initial)
        closedFastPath.store(admits, ordering: .releasing)
        metrics.recordState(.closed)
    }

    /// Registers an observer called once per transition this instance sees (any source).
    public func onTransition(_ observer: @escaping @Sendable (SharedTransition) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    // MARK: - Admission

    /// Asks to make a call.
    ///
    /// Inlinable so that the closed path, one atomic load, costs no call into this module.
    /// - Returns: a ticket to pass to ``record(_:duration:ticket:)``.
    /// - Throws: ``CircuitOpenError`` when the call must not be made.
    @inlinable
    public func acquire() async throws(CircuitOpenError) -> Ticket {
        if closedFastPath.load(ordering: .acquiring) { return Ticket(start: nil, localPermit: nil) }
        return try await acquire(callTimeout: nil)
    }

    /// Asks to make a call that will take at most `callTimeout`.
    ///
    /// A half-open probe permit is leased for `callTimeout` plus a margin (5 s), so the lease
    /// never outlives the call; without a timeout the lease is ``SharedBreakerOptions/probeLease``.
    /// - Throws: ``CircuitOpenError`` when the call must not be made.
    public func acquire(callTimeout: Duration?) async throws(CircuitOpenError) -> Ticket {
        if closedFastPath.load(ordering: .acquiring) { return Ticket(start: nil, localPermit: nil) }
        switch admitLocally() {
        case .allowed(let ticket):
            return ticket
        case .rejected(let state, let retryAfter):
            if options.mode == .shadow { return shadowAdmit() }
            metrics.rejected.increment()
            throw CircuitOpenError(name: name.rawValue, state: state, retryAfter: retryAfter)
        case .needsProbe(let localPermit):
            let lease = callTimeout.map { $0 + Self.probeLeaseMargin } ?? options.probeLease
            do {
                return try await acquireProbe(localPermit: localPermit, lease: lease)
            } catch {
                if options.mode == .shadow { return shadowAdmit() }
                throw error
            }
        }
    }

    /// Shadow mode: the call goes ahead although enforcement would have rejected it; its
    /// outcome is recorded like any closed-path outcome (the shared state stays evaluated).
    private func shadowAdmit() -> Ticket {
        metrics.wouldReject.increment()
        wouldRejectCount.add(1, ordering: .relaxed)
        return Ticket(start: clock.now(), localPermit: nil)
    }

    /// Extra lease time beyond a probe call's own timeout (the result's trip to Redis).
    public static let probeLeaseMargin: Duration = .seconds(5)

    enum LocalDecision {
        case allowed(Ticket)
        case rejected(BreakerState, Duration?)
        case needsProbe(ProbePermit?)
    }

    /// Whether `inner` admits every call with no further check (the value of ``closedFastPath``).
    static func admitsWithoutLock(_ inner: borrowing Inner, tripQuorum: Int) -> Bool {
        inner.storeAvailable && inner.view.state == .closed && tripQuorum == 1
    }

    /// Runs `body` under the lock, then refreshes ``closedFastPath`` from the state it left
    /// (still under the lock). Every change of `view` or `storeAvailable` goes through here.
    func updateLocked<Result: Sendable>(_ body: (inout Inner) -> Result) -> Result {
        inner.withLock { inner in
            let result = body(&inner)
            closedFastPath.store(Self.admitsWithoutLock(inner, tripQuorum: options.tripQuorum), ordering: .releasing)
            return result
        }
    }

    /// Whether ``closedFastPath`` agrees with the locked state right now (tests).
    var fastPathAgreesWithLockedState: Bool {
        inner.withLock { inner in
            closedFastPath.load(ordering: .acquiring) == Self.admitsWithoutLock(inner, tripQuorum: options.tripQuorum)
        }
    }

    /// The admission decision that needs no I/O, under the lock (every case but the
    /// lock-free closed one).
    ///
    /// The shared view is checked first; the local breaker (trip_quorum > 1) is asked only
    /// when the shared one would admit, so a rejection never holds a local probe permit.
    func admitLocally() -> LocalDecision {
        let now = clock.now()
        return inner.withLock { inner -> LocalDecision in
            if !inner.storeAvailable {
                switch options.onStoreFailure {
                case .failOpen:
                    return .allowed(Ticket(start: now, localPermit: nil))
                case .failClosed:
                    return .rejected(inner.view.state == .closed ? .open : inner.view.state, nil)
                case .local:
                    // A manual override known before the outage holds through it (`fail_open`
                    // and `fail_closed` are absolute by definition and ignore it).
                    switch inner.view.forced {
                    case .open: return .rejected(.open, nil)
                    case .closed: return .allowed(Ticket(start: now, localPermit: nil))
                    case nil: break
                    }
                    if inner.view.state == .open, let retry = openRemaining(inner: inner, now: now) {
                        return .rejected(.open, retry)
                    }
                    switch inner.local.admit(at: now) {
                    case .allowed(let permit): return .allowed(Ticket(start: now, localPermit: permit))
                    case .rejected(let retryAfter): return .rejected(inner.local.state, retryAfter)
                    }
                }
            }
            var needsProbe = false
            switch inner.view.state {
            case .closed:
                break
            case .open:
                if inner.view.forced == .open { return .rejected(.open, nil) }
                if let retry = openRemaining(inner: inner, now: now) { return .rejected(.open, retry) }
                needsProbe = true
            case .halfOpen:
                needsProbe = true
            }
            if needsProbe, let retryAt = inner.probeRetryAt, inner.probeRetryVersion == inner.view.version, now < retryAt {
                return .rejected(inner.view.state, retryAt - now)
            }
            var localPermit: ProbePermit?
            if options.tripQuorum > 1 && inner.view.forced != .closed {
                // Below quorum the shared breaker may stay closed; the local one protects this instance.
                switch inner.local.admit(at: now) {
                case .allowed(let permit): localPermit = permit
                case .rejected(let retryAfter): return .rejected(inner.local.state, retryAfter)
                }
            }
            return needsProbe ? .needsProbe(localPermit) : .allowed(Ticket(start: now, localPermit: localPermit))
        }
    }

    /// Redis server time now, estimated from this process's clock and the offset measured on
    /// the last round trip.
    func serverNowMilliseconds() -> Int64 {
        let now = clock.now()
        return inner.withLock { now.milliseconds.addingClamped($0.serverOffsetMilliseconds ?? 0) }
    }

    /// Time left before the open deadline (estimated server clock, minimum open duration
    /// included), or `nil` if it has passed.
    func openRemaining(inner: borrowing Inner, now: BreakerInstant) -> Duration? {
        let serverNow = now.milliseconds.addingClamped(inner.serverOffsetMilliseconds ?? 0)
        let openFor = max(inner.view.openTimeoutMilliseconds, minimumOpenMilliseconds)
        let remaining = inner.view.openedAtMilliseconds.addingClamped(openFor).subtractingClamped(serverNow)
        return remaining > 0 ? .milliseconds(remaining) : nil
    }

    private func acquireProbe(localPermit: ProbePermit?, lease: Duration) async throws(CircuitOpenError) -> Ticket {
        let token = inner.withLock { inner -> String in
            inner.probeCounter += 1
            return probeTokenPrefix + String(inner.probeCounter)
        }
        let reply: BreakerReply
        do {
            reply = try await runScript(.acquire, argument: token, extra: "\(lease.clamped(to: .milliseconds(1) ... SharedBreakerOptions.maximumProbeLease).millisecondsClamped)")
        } catch {
            // Redis failed mid-admission: fall back per policy on the next call; reject this one.
            releaseLocal(localPermit)
            if options.mode == .enforce { metrics.rejected.increment() }
            throw CircuitOpenError(name: name.rawValue, state: .open, retryAfter: nil)
        }
        switch reply.result {
        case BreakerResult.granted.rawValue:
            return Ticket(start: clock.now(), probeToken: token, probeVersion: reply.version, localPermit: localPermit)
        case BreakerResult.closed.rawValue:
            return Ticket(start: clock.now(), localPermit: localPermit)
        default:
            let now = clock.now()
            let retry: Duration? = inner.withLock { inner in
                if let localPermit { inner.local.release(localPermit) }
                inner.probeRetryAt = now + .milliseconds(100)
                inner.probeRetryVersion = inner.view.version
                return inner.view.state == .open ? openRemaining(inner: inner, now: now) : .milliseconds(100)
            }
            if options.mode == .enforce { metrics.rejected.increment() }
            throw CircuitOpenError(name: name.rawValue, state: reply.state, retryAfter: retry)
        }
    }

    private func releaseLocal(_ permit: ProbePermit?) {
        guard let permit else { return }
        inner.withLock { $0.local.release(permit) }
    }

    // MARK: - Outcomes

    /// Records the outcome of an admitted call.
    ///
    /// Closed-path outcomes are queued (never a round trip); a probe outcome goes to Redis
    /// at once so the half-open decision is made cluster-wide.
    /// - Parameters:
    ///   - outcome: success, failure or ignored.
    ///   - duration: how long the call took (slow-call policies: slower than the threshold).
    ///   - ticket: the ticket ``acquire()`` returned.
    public func record(_ outcome: CallOutcome, duration: Duration, ticket: Ticket) async {
        metrics.count(outcome)
        let now = clock.now()
        let slow = slowCallThreshold.map { duration > $0 } ?? false
        let shouldWake = inner.withLock { inner -> Bool in
            let localTransition = inner.local.record(outcome, duration: duration, permit: ticket.localPermit, at: now)
            if localTransition?.to == .open && !inner.storeAvailable { inner.trippedDuringOutage = true }
            guard ticket.probeToken == nil, outcome != .ignored else { return false }
            let code = OutcomeRun.code(failure: outcome == .failure, slow: slow)
            guard inner.storeAvailable else {
                if options.tripQuorum > 1 { Self.append(code, to: &inner.outageRuns, dropped: &inner.droppedOutcomes) }
                return false
            }
            let wasEmpty = inner.pending.isEmpty
            Self.append(code, to: &inner.pending, dropped: &inner.droppedOutcomes)
            return wasEmpty
        }
        if shouldWake { wakeFlusher() }
        guard let token = ticket.probeToken else { return }
        let code: OutcomeCode
        switch outcome {
        case .success: code = .success
        case .failure: code = .failure
        case .ignored: code = .ignored
        }
        do {
            _ = try await runScript(.probe, argument: BreakerScriptCall.probeArgument(token: token, outcome: code, version: ticket.probeVersion))
        } catch {
            logger.warning("probe outcome not stored; its lease will expire", metadata: ["error": "\(error)"])
        }
    }

    /// Counts outcomes that will never reach Redis.
    func countDropped(_ count: Int) {
        guard count > 0 else { return }
        metrics.droppedOutcomes.increment(by: count)
        droppedOutcomeCount.add(count, ordering: .relaxed)
    }

    /// Shadow mode: how many admitted calls enforcement would have rejected (also
    /// `breakwater_would_reject_total`).
    public var wouldRejectedCalls: Int { wouldRejectCount.load(ordering: .relaxed) }

    /// How many outcomes never reached Redis since this breaker was created.
    public var droppedOutcomes: Int { droppedOutcomeCount.load(ordering: .relaxed) }

    /// Appends one outcome to a run-length queue, bounded by ``maximumPendingRuns``.
    static func append(_ code: UInt8, to runs: inout [OutcomeRun], dropped: inout Int) {
        append(OutcomeRun(code: code, count: 1), to: &runs, dropped: &dropped)
    }

    /// Appends a run to a run-length queue, bounded by ``maximumPendingRuns`` runs.
    static func append(_ run: OutcomeRun, to runs: inout [OutcomeRun], dropped: inout Int) {
        if let last = runs.indices.last, runs[last].code == run.code {
            runs[last].count += run.count
        } else if runs.count < maximumPendingRuns {
            runs.append(run)
        } else {
            dropped += run.count
        }
    }

    /// Admits, runs `operation` with a timeout, and records the outcome.
    ///
    /// A half-open probe is always bounded: without `timeout` it gets
    /// ``SharedBreakerOptions/probeLease``, so its result reaches Redis while its lease holds.
    /// - Parameters:
    ///   - timeout: a per-call timeout; exceeding it is a failure.
    ///   - operation: the guarded call.
    /// - Returns: the operation's result.
    /// - Throws: ``CircuitOpenError`` when rejected, ``CallTimeoutError``, or the operation's error.
    public func run<T: Sendable>(timeout: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let ticket = try await acquire(callTimeout: timeout)
        let start = ticket.start ?? clock.now()
        let bound = timeout ?? (ticket.probeToken != nil ? options.probeLease : nil)
        do {
            let value: T
            if let bound {
                value = try await withCallTimeout(bound, name: name.rawValue, operation)
            } else {
                value = try await operation()
            }
            await record(.success, duration: clock.now() - start, ticket: ticket)
            return value
        } catch {
            await record(classifier(error), duration: clock.now() - start, ticket: ticket)
            throw error
        }
    }

    // MARK: - Manual control

    /// Forces the breaker open on every instance until ``reset()``.
    public func forceOpen() async throws { _ = try await runScript(.forceOpen, argument: "") }
    /// Forces the breaker closed on every instance until ``reset()``.
    public func forceClose() async throws { _ = try await runScript(.forceClose, argument: "") }
    /// Clears overrides and trip counters and closes the breaker (statistics are kept).
    public func reset() async throws { _ = try await runScript(.reset, argument: "") }

    // MARK: - Status

    /// The shared view and the local breaker, for `/breakers`.
    public func status() -> SharedBreakerStatus {
        let now = clock.now()
        return inner.withLock { inner in
            let openedAt: Int64? = inner.view.openedAtMilliseconds > 0 ? inner.view.openedAtMilliseconds : nil
            let retry: Int64? = inner.view.state == .open ? openRemaining(inner: inner, now: now).map(\.millisecondsClamped) : nil
            return SharedBreakerStatus(
                name: name.rawValue, instance: instanceID, state: inner.view.state, version: inner.view.version,
                failureCount: inner.view.failureCount, openTimeoutMilliseconds: inner.view.openTimeoutMilliseconds,
                openedAtMilliseconds: openedAt, retryAfterMilliseconds: retry, failedRecoveries: inner.view.failedRecoveries,
                forced: inner.view.forced, updatedBy: inner.view.updatedBy, tripQuorum: options.tripQuorum,
                onStoreFailure: options.onStoreFailure, storeAvailable: inner.storeAvailable,
                local: inner.local.status(name: name.rawValue, at: now), mode: options.mode,
                thresholds: .init(
                    failureThreshold: options.breaker.failureThreshold, openTimeoutMilliseconds: options.breaker.openTimeout.millisecondsClamped,
                    maxOpenTimeoutMilliseconds: options.breaker.maxOpenTimeout.millisecondsClamped, backoffMultiplier: options.breaker.backoffMultiplier,
                    halfOpenMaxCalls: options.breaker.halfOpenMaxCalls, halfOpenSuccessThreshold: options.breaker.halfOpenSuccessThreshold,
                    tripQuorum: options.tripQuorum
                ),
                fleet: nil
            )
        }
    }

    /// The current local view of the shared state.
    public var view: SharedBreakerView { inner.withLock { $0.view } }
}

extension SharedBreaker {
    /// The most runs queued between two flushes (bounded memory even if the flusher starves).
    static let maximumPendingRuns = 65_536
    /// The most runs sent in one script call (bounded work inside Redis per call).
    static let maximumRunsPerCall = 1_024
}

