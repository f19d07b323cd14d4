import BreakerSchema
import BreakerCore
import Logging
import Metrics
import RedisClient
import Synchronization

/// The shared breakers of one instance and the background work that keeps them in sync:
/// a pub/sub listener on `cb_events:<name>`, a flusher for batched outcomes, and a
/// periodic version check that repairs lost messages and detects Redis coming back.
///
/// Call ``run()`` in a task (or as a service) for as long as the breakers are used;
/// cancel it to stop, then call ``shutdown()`` to flush what is queued.
public final class SharedBreakerGroup: Sendable {
    /// This instance's id, written as `updated_by`.
    public let instanceID: String
    /// The Redis pool used for every breaker operation.
    public let store: RedisConnectionPool
    private let redisConfiguration: RedisConfiguration
    private let breakers = Mutex<[BreakerName: SharedBreaker]>([:])
    private let clock: any BreakerClock
    private let logger: Logger
    private let wakeups: AsyncStream<Void>
    private let wakeupSink: AsyncStream<Void>.Continuation
    private let subscriber: Mutex<RedisSubscriber?> = Mutex(nil)
    private let reachabilityChanges: AsyncStream<Bool>
    private let reachabilitySink: AsyncStream<Bool>.Continuation
    /// How often each breaker's stored `version` is compared with the local view.
    public let pollInterval: Duration

    /// Creates a group.
    ///
    /// - Parameters:
    ///   - instanceID: this instance's id (e.g. `onchain-1`, default hostname-pid elsewhere).
    ///   - redis: where the shared state lives.
    ///   - clock: the local clock (monotonic); decisions that instances share use Redis time.
    ///   - pollInterval: how often stored versions are checked (lost-message repair).
    ///   - logger: receives one line per transition and per reachability change.
    public init(
        instanceID: String,
        redis: RedisConfiguration,
        clock: any BreakerClock = ContinuousBreakerClock(),
        pollInterval: Duration = .seconds(2),
        logger: Logger = Logger(label: "breakwater.breaker")
    ) {
        self.instanceID = instanceID
        self.redisConfiguration = redis
        self.store = RedisConnectionPool(configuration: redis, size: 4, logger: logger)
        self.clock = clock
        self.pollInterval = pollInterval
        self.logger = logger
        (wakeups, wakeupSink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (reachabilityChanges, reachabilitySink) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(8))
        let sink = reachabilitySink
        let connected = Gauge(label: "breakwater_redis_connected")
        store.onReachabilityChange { up in
            connected.record(up ? 1 : 0)
            sink.yield(up)
        }
    }

    /// Creates (or returns the existing) breaker for `name` and adopts its stored state.
    ///
    /// - Parameters:
    ///   - name: the breaker name (`cb_state:<name>`).
    ///   - options: its policy.
    ///   - classifier: maps thrown errors to outcomes in ``SharedBreaker/run(timeout:_:)``.
    /// - Returns: the breaker; usable at once even if Redis is unreachable.
    /// - Throws: ``BreakerConfigError`` for an invalid policy.
    public func breaker(named name: BreakerName, options: SharedBreakerOptions = SharedBreakerOptions(), classifier: OutcomeClassifier = .default) async throws(BreakerConfigError) -> SharedBreaker {
        if let existing = breakers.withLock({ $0[name] }) { return existing }
        let sink = wakeupSink
        let breaker = try SharedBreaker(
            name: name, options: options, instanceID: instanceID, store: store, clock: clock,
            classifier: classifier, logger: logger, wakeFlusher: { sink.yield() }
        )
        let inserted = breakers.withLock { all -> SharedBreaker in
            if let existing = all[name] { return existing }
            all[name] = breaker
            return breaker
        }
        guard inserted === breaker else { return inserted }
        do {
            try await breaker.refresh()
        } catch {
            logger.warning("cannot read breaker state yet; starting from the local view", metadata: ["breaker": "\(name)", "error": "\(error)"])
        }
        if let subscriber = subscriber.withLock({ $0 }) {
            try? await subscriber.subscribe([name.eventsChannel])
        }
        return breaker
    }

    /// Every breaker of this group, by name.
    public var all: [SharedBreaker] {
        breakers.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// Runs the listener, the flusher and the version poller until cancelled.
    public func run() async {
        let subscriber: RedisSubscriber
        do {
            subscriber = try RedisSubscriber(configuration: redisConfiguration, logger: logger)
        } catch {
            logger.error("cannot start the pub/sub listener", metadata: ["error": "\(error)"])
            return
        }
        self.subscriber.withLock { $0 = subscriber }
        defer { subscriber.close() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen(subscriber) }
            group.addTask { await self.flushLoop() }
            group.addTask { await self.pollLoop() }
            group.addTask { await self.reconcileLoop() }
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                subscriber.close()
                self.wakeupSink.finish()
                self.reachabilitySink.finish()
            }
        }
    }

    /// Sends every queued outcome and waits for batches already in flight (shutdown, tests).
    public func flush() async {
        for breaker in all { await breaker.drain() }
    }

    /// Flushes queued outcomes and closes the Redis connections.
    public func shutdown() async {
        await flush()
        subscriber.withLock { $0?.close() }
        await store.shutdown()
    }

    // MARK: - Background loops

    private func listen(_ subscriber: RedisSubscriber) async {
        let channels = breakers.withLock { $0.keys.map(\.eventsChannel) }
        if !channels.isEmpty {
            // Retries in the background until Redis is reachable (the subscriber reconnects itself).
            Task { try? await subscriber.subscribe(channels) }
        }
        for await event in subscriber.events {
            switch event {
            case .message(let message):
                guard let raw = BreakerKeys.Prefix.events.name(in: message.channel),
                      let name = try? BreakerName(raw),
                      let breaker = breakers.withLock({ $0[name] }) else { continue }
                guard let decoded = BreakerEvent.decode(message.payload) else {
                    logger.warning("ignored a malformed breaker event", metadata: ["channel": "\(message.channel)", "payload": "\(message.text.prefix(200))"])
                    continue
                }
                breaker.apply(decoded)
            case .reconnected:
                // Messages may have been missed while disconnected: re-read everything.
                await refreshAll()
            case .disconnected:
                continue
            }
        }
    }

    private func flushLoop() async {
        for await _ in wakeups {
            // Natural batching: outcomes that arrive during a round trip go in the next batch.
            for breaker in all where breaker.hasPending { await breaker.flush() }
        }
    }

    private func pollLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            if Task.isCancelled { return }
            await checkVersions()
        }
    }

    private func reconcileLoop() async {
        for await up in reachabilityChanges {
            if up {
                logger.info("redis is back; reconciling breakers")
                await refreshAll()
            } else {
                for breaker in all { breaker.setStoreAvailable(false) }
            }
        }
    }

    /// Compares each stored `version` with the local view (one pipelined HGET and TTL per
    /// breaker), and keeps the keys of the breakers this instance uses alive: a key
    /// whose TTL fell below ``keepAliveBelowSeconds`` gets its 24 h back, so neither a breaker
    /// nor a manual override lapses while an instance still uses it.
    func checkVersions() async {
        let list = all
        guard !list.isEmpty else { return }
        let commands = list.flatMap { [
            RedisCommand("HMGET", $0.name.stateKey, StoredField.version.name, StoredField.totalSuccesses.name, StoredField.totalFailures.name, StoredField.forcedUntil.name),
            RedisCommand("TTL", $0.name.stateKey),
        ] }
        do {
            let results = try await store.pipeline(commands)
            var expiring: [BreakerName] = []
            for (index, breaker) in list.enumerated() {
                if let ttl = (try? results[2 * index + 1].get())?.int, ttl >= 0, ttl < Self.keepAliveBelowSeconds {
                    expiring.append(breaker.name)
                }
            }
            if !expiring.isEmpty {
                _ = try await store.pipeline(expiring.map { RedisCommand("EXPIRE", $0.stateKey, "\(Self.stateTTLSeconds)") })
            }
            for (index, breaker) in list.enumerated() {
                let values = (try? results[2 * index].get())?.array ?? []
                let stored = values.first?.int.map(Int.init)
                breaker.notePoll(confirmed: stored == breaker.view.version, successes: values.dropFirst().first?.int, failures: values.dropFirst(2).first?.int)
                let wasUnavailable = !breaker.isStoreAvailable
                breaker.setStoreAvailable(true)
                // A timed override lapses by server time even on an idle closed breaker: touch it once due.
                let forcedUntil = values.dropFirst(3).first?.int ?? 0
                let lapseDue = breaker.view.forced != nil && forcedUntil > 0 && breaker.serverNowMilliseconds() >= forcedUntil
                if wasUnavailable || stored != breaker.view.version || breaker.view.state != .closed || lapseDue {
                    try? await breaker.refresh()
                    if breaker.view.state == .open || breaker.view.state == .halfOpen || breaker.view.forced != nil {
                        // Lets an open breaker move to half-open, and an override with --for
                        // lapse, on the server clock even when idle.
                        _ = try? await breaker.runScript(.touch, argument: "")
                    }
                }
            }
        } catch let error as RedisError where error.breaksConnection || error.code == .unavailable {
            for breaker in list {
                breaker.setStoreAvailable(false, because: error)
                // Gauges keep moving while Redis is away: staleness grows, time in state too.
                breaker.notePoll(confirmed: false, successes: nil, failures: nil)
            }
        } catch {
            logger.debug("version check failed", metadata: ["error": "\(error)"])
        }
    }

    /// The TTL every write gives `cb_state:<name>` (docs/protocol.md).
    static let stateTTLSeconds: Int64 = 86_400
    /// A used breaker's key is renewed once its TTL falls below this (at most hourly per key).
    static let keepAliveBelowSeconds: Int64 = 86_400 - 3_600

    private func refreshAll() async {
        for breaker in all {
            do {
                try await breaker.refresh()
                breaker.setStoreAvailable(true)
            } catch {
                logger.debug("refresh failed", metadata: ["breaker": "\(breaker.name)", "error": "\(error)"])
            }
        }
    }
}
