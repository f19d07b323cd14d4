import BreakerCore
import Logging
import Metrics
import RedisClient
import Synchronization

/// One circuit breaker whose state is shared by every instance through `cb_state:<name>`.
///
/// Admission (``acquire()``) decides from the local view under a lock, with no Redis round
/// trip, except when a half-open probe permit must be leased cluster-wide. Outcomes on the
/// closed path are queued and sent in batches by ``SharedBreakerGroup``'s flusher; probe
/// outcomes are sent at once. Every state change happens in the Lua script (compare-and-set
/// by construction: the script runs atomically against the stored `version`).
public final class SharedBreaker: Sendable {
    /// What a call that was admitted carries until its outcome is recorded.
    public struct Ticket: Sendable {
        let start: BreakerInstant
        let probeToken: String?
        let localPermit: ProbePermit?
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
        /// The local breaker opened while Redis was unreachable (reconciled when it returns).
        var trippedDuringOutage = false
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
    private let inner: Mutex<Inner>
    private let store: RedisConnectionPool
    private let logger: Logger
    private let observers = Mutex<[@Sendable (SharedTransition) -> Void]>([])
    private let wakeFlusher: @Sendable () -> Void
    private let scriptConfiguration: String
    private let slowCallThreshold: Duration?
    private let metrics: BreakerMetrics

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
        try options.validate()
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
        self.metrics = BreakerMetrics(name: name)
        let machine = try BreakerMachine(config: options.breaker)
        var initial = Inner(local: machine)
        initial.view.openTimeoutMilliseconds = options.breaker.openTimeout.wholeMilliseconds
        self.inner = Mutex(initial)
        metrics.recordState(.closed)
    }

    /// Registers an observer called once per transition this instance sees (any source).
    public func onTransition(_ observer: @escaping @Sendable (SharedTransition) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    // MARK: - Admission

    /// Asks to make a call.
    ///
    /// - Returns: a ticket to pass to ``record(_:duration:ticket:)``.
    /// - Throws: ``CircuitOpenError`` when the call must not be made.
    public func acquire() async throws(CircuitOpenError) -> Ticket {
        switch admitLocally() {
        case .allowed(let ticket):
            return ticket
        case .rejected(let state, let retryAfter):
            metrics.rejected.increment()
            throw CircuitOpenError(name: name.rawValue, state: state, retryAfter: retryAfter)
        case .needsProbe(let localPermit):
            return try await acquireProbe(localPermit: localPermit)
        }
    }

    enum LocalDecision {
        case allowed(Ticket)
        case rejected(BreakerState, Duration?)
        case needsProbe(ProbePermit?)
    }

    /// The admission decision that needs no I/O (the hot path).
    func admitLocally() -> LocalDecision {
        let now = clock.now()
        return inner.withLock { inner -> LocalDecision in
            if !inner.storeAvailable {
                switch options.onStoreFailure {
                case .failOpen:
                    return .allowed(Ticket(start: now, probeToken: nil, localPermit: nil))
                case .failClosed:
                    return .rejected(inner.view.state == .closed ? .open : inner.view.state, nil)
                case .local:
                    if inner.view.state == .open, let retry = Self.openRemaining(inner: inner, now: now) {
                        return .rejected(.open, retry)
                    }
                    switch inner.local.admit(at: now) {
                    case .allowed(let permit): return .allowed(Ticket(start: now, probeToken: nil, localPermit: permit))
                    case .rejected(let retryAfter): return .rejected(inner.local.state, retryAfter)
                    }
                }
            }
            var localPermit: ProbePermit?
            if options.tripQuorum > 1 {
                // Below quorum the shared breaker may stay closed; the local one protects this instance.
                switch inner.local.admit(at: now) {
                case .allowed(let permit): localPermit = permit
                case .rejected(let retryAfter): return .rejected(inner.local.state, retryAfter)
                }
            }
            switch inner.view.state {
            case .closed:
                return .allowed(Ticket(start: now, probeToken: nil, localPermit: localPermit))
            case .open:
                if inner.view.forced == .open { return .rejected(.open, nil) }
                if let retry = Self.openRemaining(inner: inner, now: now) { return .rejected(.open, retry) }
                fallthrough
            case .halfOpen:
                if let retryAt = inner.probeRetryAt, inner.probeRetryVersion == inner.view.version, now < retryAt {
                    return .rejected(inner.view.state, retryAt - now)
                }
                return .needsProbe(localPermit)
            }
        }
    }

    /// Time left before the open deadline (estimated server clock), or `nil` if it has passed.
    private static func openRemaining(inner: borrowing Inner, now: BreakerInstant) -> Duration? {
        let serverNow = now.milliseconds + (inner.serverOffsetMilliseconds ?? 0)
        let remaining = inner.view.openUntilMilliseconds - serverNow
        return remaining > 0 ? .milliseconds(remaining) : nil
    }

    private func acquireProbe(localPermit: ProbePermit?) async throws(CircuitOpenError) -> Ticket {
        let token = inner.withLock { inner -> String in
            inner.probeCounter += 1
            return "\(instanceID)#\(inner.probeCounter)"
        }
        let reply: ScriptReply
        do {
            reply = try await runScript("acquire", argument: token, extra: "\(options.probeLease.wholeMilliseconds)")
        } catch {
            // Redis failed mid-admission: fall back per policy on the next call; reject this one.
            metrics.rejected.increment()
            throw CircuitOpenError(name: name.rawValue, state: .open, retryAfter: nil)
        }
        switch reply.result {
        case "granted":
            return Ticket(start: clock.now(), probeToken: token, localPermit: localPermit)
        case "closed":
            return Ticket(start: clock.now(), probeToken: nil, localPermit: localPermit)
        default:
            let now = clock.now()
            let retry: Duration? = inner.withLock { inner in
                inner.probeRetryAt = now + .milliseconds(100)
                inner.probeRetryVersion = inner.view.version
                return inner.view.state == .open ? Self.openRemaining(inner: inner, now: now) : .milliseconds(100)
            }
            metrics.rejected.increment()
            throw CircuitOpenError(name: name.rawValue, state: reply.state, retryAfter: retry)
        }
    }

    // MARK: - Outcomes

    /// Records the outcome of an admitted call.
    ///
    /// Closed-path outcomes are queued (never a round trip); a probe outcome goes to Redis
    /// at once so the half-open decision is made cluster-wide.
    /// - Parameters:
    ///   - outcome: success, failure or ignored.
    ///   - duration: how long the call took (slow-call policies).
    ///   - ticket: the ticket ``acquire()`` returned.
    public func record(_ outcome: CallOutcome, duration: Duration, ticket: Ticket) async {
        metrics.count(outcome)
        let now = clock.now()
        let slow = slowCallThreshold.map { duration >= $0 } ?? false
        let shouldWake = inner.withLock { inner -> Bool in
            let localTransition = inner.local.record(outcome, duration: duration, permit: ticket.localPermit, at: now)
            if localTransition?.to == .open && !inner.storeAvailable { inner.trippedDuringOutage = true }
            guard ticket.probeToken == nil, inner.storeAvailable, outcome != .ignored else { return false }
            let code: UInt8
            switch (outcome, slow) {
            case (.failure, false): code = UInt8(ascii: "F")
            case (.failure, true): code = UInt8(ascii: "f")
            case (_, false): code = UInt8(ascii: "S")
            case (_, true): code = UInt8(ascii: "s")
            }
            if let last = inner.pending.indices.last, inner.pending[last].code == code {
                inner.pending[last].count += 1
                return false
            }
            let wasEmpty = inner.pending.isEmpty
            if inner.pending.count < Self.maximumPendingRuns {
                inner.pending.append(OutcomeRun(code: code, count: 1))
            } else {
                inner.droppedOutcomes += 1
            }
            return wasEmpty
        }
        if shouldWake { wakeFlusher() }
        guard let token = ticket.probeToken else { return }
        let code: String
        switch outcome {
        case .success: code = "S"
        case .failure: code = "F"
        case .ignored: code = "I"
        }
        do {
            _ = try await runScript("probe", argument: "\(token):\(code)")
        } catch {
            logger.debug("probe outcome not stored; its lease will expire", metadata: ["error": "\(error)"])
        }
    }

    /// Admits, runs `operation` with an optional timeout, and records the outcome.
    ///
    /// - Parameters:
    ///   - timeout: a per-call timeout; exceeding it is a failure.
    ///   - operation: the guarded call.
    /// - Returns: the operation's result.
    /// - Throws: ``CircuitOpenError`` when rejected, ``CallTimeoutError``, or the operation's error.
    public func run<T: Sendable>(timeout: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let ticket = try await acquire()
        do {
            let value: T
            if let timeout {
                value = try await withCallTimeout(timeout, name: name.rawValue, operation)
            } else {
                value = try await operation()
            }
            await record(.success, duration: clock.now() - ticket.start, ticket: ticket)
            return value
        } catch {
            await record(classifier(error), duration: clock.now() - ticket.start, ticket: ticket)
            throw error
        }
    }

    /// Sends queued closed-path outcomes in one script call. Called by the group's flusher.
    ///
    /// - Returns: whether anything was sent.
    @discardableResult
    func flush() async -> Bool {
        let (batch, dropped) = inner.withLock { inner -> ([OutcomeRun], Int) in
            defer {
                inner.pending.removeAll(keepingCapacity: true)
                inner.droppedOutcomes = 0
            }
            if !inner.pending.isEmpty { inner.batchesInFlight += 1 }
            return (inner.pending, inner.droppedOutcomes)
        }
        if dropped > 0 { metrics.droppedOutcomes.increment(by: dropped) }
        guard !batch.isEmpty else { return false }
        defer { inner.withLock { $0.batchesInFlight -= 1 } }
        var encoded = ""
        encoded.reserveCapacity(batch.count * 4)
        for run in batch {
            encoded.unicodeScalars.append(Unicode.Scalar(run.code))
            encoded += String(run.count)
        }
        do {
            _ = try await runScript("record", argument: encoded)
        } catch {
            logger.debug("outcome batch not stored", metadata: ["runs": "\(batch.count)", "error": "\(error)"])
        }
        return true
    }

    /// Sends everything queued and waits until no batch of this breaker is still in flight.
    func drain() async {
        while true {
            await flush()
            let settled = inner.withLock { $0.pending.isEmpty && $0.batchesInFlight == 0 }
            if settled { return }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    var hasPending: Bool { inner.withLock { !$0.pending.isEmpty } }

    // MARK: - Manual control

    /// Forces the breaker open on every instance until ``reset()``.
    public func forceOpen() async throws { _ = try await runScript("force_open", argument: "") }
    /// Forces the breaker closed on every instance until ``reset()``.
    public func forceClose() async throws { _ = try await runScript("force_close", argument: "") }
    /// Clears overrides and trip counters and closes the breaker (statistics are kept).
    public func reset() async throws {
        _ = try await runScript("reset", argument: "")
        let now = clock.now()
        inner.withLock { _ = $0.local.reset(at: now) }
    }

    // MARK: - Status

    /// The shared view and the local breaker, for `/breakers`.
    public func status() -> SharedBreakerStatus {
        let now = clock.now()
        return inner.withLock { inner in
            let openedAt: Int64? = inner.view.openedAtMilliseconds > 0 ? inner.view.openedAtMilliseconds : nil
            let retry: Int64? = inner.view.state == .open ? Self.openRemaining(inner: inner, now: now).map(\.wholeMilliseconds) : nil
            return SharedBreakerStatus(
                name: name.rawValue, instance: instanceID, state: inner.view.state, version: inner.view.version,
                failureCount: inner.view.failureCount, openTimeoutMilliseconds: inner.view.openTimeoutMilliseconds,
                openedAtMilliseconds: openedAt, retryAfterMilliseconds: retry, failedRecoveries: inner.view.failedRecoveries,
                forced: inner.view.forced, updatedBy: inner.view.updatedBy, tripQuorum: options.tripQuorum,
                onStoreFailure: options.onStoreFailure, storeAvailable: inner.storeAvailable,
                local: inner.local.status(name: name.rawValue, at: now)
            )
        }
    }

    /// The current local view of the shared state.
    public var view: SharedBreakerView { inner.withLock { $0.view } }

    // MARK: - Keeping the view in sync

    /// Runs one breaker script operation and adopts its reply.
    @discardableResult
    func runScript(_ operation: String, argument: String, extra: String = "") async throws -> ScriptReply {
        let sentAt = clock.now()
        let value: RedisValue
        do {
            value = try await BreakerScript.call(store, name: name, operation: operation, instanceID: instanceID, configuration: scriptConfiguration, argument: argument, extra: extra)
        } catch let error as RedisError where error.breaksConnection || error.code == .unavailable {
            setStoreAvailable(false, because: error)
            throw error
        }
        let receivedAt = clock.now()
        metrics.redisRoundTrip.recordNanoseconds((receivedAt - sentAt).wholeNanoseconds)
        let reply = try ScriptReply(value)
        if !reply.repairs.isEmpty {
            logger.warning("repaired corrupted breaker state", metadata: ["key": "\(name.stateKey)", "repairs": "\(reply.repairs)"])
        }
        let midpoint = (sentAt.milliseconds + receivedAt.milliseconds) / 2
        adopt(reply, serverOffset: reply.serverNowMilliseconds - midpoint)
        setStoreAvailable(true)
        return reply
    }

    private func adopt(_ reply: ScriptReply, serverOffset: Int64) {
        let transition = inner.withLock { inner -> SharedTransition? in
            inner.serverOffsetMilliseconds = serverOffset
            guard reply.version >= inner.view.version else { return nil }
            let before = inner.view
            inner.view.apply(reply, by: instanceID)
            guard reply.transitioned || before.state != inner.view.state else { return nil }
            return SharedTransition(name: name, from: before.state, to: inner.view.state, version: reply.version, reason: reply.reason, by: reply.transitioned ? instanceID : "")
        }
        if let transition { announce(transition) }
    }

    /// Applies a `cb_events:<name>` message.
    func apply(_ event: BreakerEvent) {
        guard let to = event.toState else {
            logger.warning("ignored breaker event with an unknown state", metadata: ["to": "\(event.to)"])
            return
        }
        let transition = inner.withLock { inner -> SharedTransition? in
            guard event.version > inner.view.version else { return nil }
            let from = inner.view.state
            inner.view.state = to
            inner.view.version = event.version
            inner.view.updatedBy = event.by
            if let openedAt = event.openedAtMilliseconds { inner.view.openedAtMilliseconds = openedAt }
            if let timeout = event.openTimeoutMilliseconds { inner.view.openTimeoutMilliseconds = timeout }
            inner.view.forced = event.forced.flatMap { $0.isEmpty ? nil : ForcedState(rawValue: $0) }
            if let failedRecoveries = event.failedRecoveries { inner.view.failedRecoveries = failedRecoveries }
            return SharedTransition(name: name, from: from, to: to, version: event.version, reason: event.reason, by: event.by)
        }
        if let transition { announce(transition) }
    }

    /// Reads `cb_state:<name>` and adopts it (start-up, restart, lost message repair).
    ///
    /// If Redis lost the breaker (older version than ours) or this instance tripped its local
    /// breaker while Redis was away, the more cautious state wins: the stored breaker is opened
    /// by a compare-and-set on the stored version.
    func refresh() async throws {
        let sentAt = clock.now()
        let replies = try await store.pipeline([RedisCommand("HGETALL", name.stateKey), RedisCommand("TIME")])
        let receivedAt = clock.now()
        let value = try replies[0].get()
        if let time = try? replies[1].get().array, time.count == 2, let seconds = time[0].int, let micros = time[1].int {
            let midpoint = (sentAt.milliseconds + receivedAt.milliseconds) / 2
            let offset = seconds * 1000 + micros / 1000 - midpoint
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
        let (mustReopen, transition) = inner.withLock { inner -> (Bool, SharedTransition?) in
            let localTripped = inner.trippedDuringOutage && inner.local.state == .open && options.onStoreFailure == .local
            inner.trippedDuringOutage = false
            let viewOpen = inner.view.state == .open
            if stored.state == .closed && stored.forced == nil && (localTripped || (viewOpen && stored.version < inner.view.version)) {
                return (true, nil)
            }
            guard stored.version != inner.view.version || stored.state != inner.view.state else { return (false, nil) }
            let before = inner.view.state
            inner.view = SharedBreakerView(stored: stored)
            if inner.view.openTimeoutMilliseconds == 0 { inner.view.openTimeoutMilliseconds = options.breaker.openTimeout.wholeMilliseconds }
            guard before != stored.state else { return (false, nil) }
            return (false, SharedTransition(name: name, from: before, to: stored.state, version: stored.version, reason: "adopted", by: stored.updatedBy))
        }
        if let transition { announce(transition) }
        if mustReopen {
            let reply = try await runScript("reconcile_open", argument: "\(stored.version)")
            if reply.result == "kept" {
                try await refresh()
            } else {
                logger.notice("reconciled: opened the shared breaker after an outage (the more cautious state wins)")
            }
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
    func setStoreAvailable(_ available: Bool, because error: (any Error)? = nil) {
        let changed = inner.withLock { inner -> Bool in
            defer { inner.storeAvailable = available }
            if !available { inner.pending.removeAll() }
            return inner.storeAvailable != available
        }
        if changed {
            metrics.storeAvailable.record(available ? 1 : 0)
            if !available {
                logger.warning("redis unavailable; deciding locally", metadata: ["policy": "\(options.onStoreFailure.rawValue)", "error": "\(error.map { "\($0)" } ?? "unknown")"])
            }
        }
    }

    var isStoreAvailable: Bool { inner.withLock { $0.storeAvailable } }

    private func announce(_ transition: SharedTransition) {
        if transition.to == .closed && options.tripQuorum == 1 {
            // With quorum 1 the local breaker is only a stand-in for outages: follow the shared close.
            let now = clock.now()
            inner.withLock { inner in
                if inner.local.state != .closed { _ = inner.local.reset(at: now) }
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

/// Consecutive identical outcomes, as queued for the flusher.
struct OutcomeRun: Sendable {
    var code: UInt8
    var count: Int
}

extension SharedBreaker {
    /// The most runs queued between two flushes (bounded memory even if the flusher starves).
    static let maximumPendingRuns = 65_536
}

extension Duration {
    var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
