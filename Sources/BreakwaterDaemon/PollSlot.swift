import BreakerCore
import BreakwaterConfig
import Collectors
import FleetCollection
import Foundation
import Logging
import Metrics
import SharedBreaker

/// One poll slot of a collector: take a token from the shared rate limit, ask the breaker,
/// send, and retry a transient failure (timeout, connection error, 5xx) with capped,
/// jittered backoff — every try through the breaker and the rate limit. A 429 pauses the
/// fleet for its `Retry-After` and is never retried within the slot.
///
/// While the breaker is open no request leaves the process, and no token is spent.
struct PollSlot: Sendable {
    let configuration: CollectorConfiguration
    let breaker: SharedBreaker
    let keys: APIKeys
    let fetcher: UpstreamFetcher
    let writer: RecordWriter
    let schedule: CollectorSchedule
    let rateLimit: SharedRateLimit?
    let logger: Logger
    /// The rate limit this instance enforces alone while Redis is unreachable.
    private var localLimit: LocalRateLimit?
    private let started = ContinuousClock.now

    init(configuration: CollectorConfiguration, breaker: SharedBreaker, keys: APIKeys, fetcher: UpstreamFetcher,
         writer: RecordWriter, schedule: CollectorSchedule, rateLimit: SharedRateLimit?, logger: Logger) {
        self.configuration = configuration
        self.breaker = breaker
        self.keys = keys
        self.fetcher = fetcher
        self.writer = writer
        self.schedule = schedule
        self.rateLimit = rateLimit
        self.logger = logger
        localLimit = rateLimit.map { LocalRateLimit(requests: $0.requests, hold: $0.period + $0.guard) }
    }

    /// How a slot ended.
    struct Outcome {
        /// `ok`, `failed`, `not_counted`, `rate_limited`, `rejected` or `cancelled`.
        var result: String
        /// The cursor after this slot's records were written, when it moved.
        var cursor: String?
        /// A pause this instance must honour on its own (a 429 seen while Redis is unreachable).
        var localPause: Duration?
    }

    /// Runs the slot.
    ///
    /// - Parameter cursor: The newest item already collected (incremental sources).
    /// - Returns: How it ended.
    mutating func run(cursor: String?) async -> Outcome {
        let name = configuration.name
        let backoff = RetryBackoff(retries: configuration.retries)
        var outcome = Outcome(result: "cancelled")
        for attempt in 0...backoff.retries {
            if attempt > 0 {
                Self.count(name, "retried")
                do { try await Task.sleep(for: backoff.delay(beforeRetry: attempt, unit: Double.random(in: 0..<1))) } catch { break }
            }
            if Task.isCancelled { break }
            if breakerWillReject() {
                outcome.result = "rejected"
                break
            }
            guard let token = await takeToken() else { break }
            let ticket: SharedBreaker.Ticket
            do {
                ticket = try await breaker.acquire(callTimeout: configuration.timeout)
            } catch {
                outcome.result = "rejected"
                if let rateLimit, case .shared(let grant) = token { try? await rateLimit.release(grant) }
                break
            }
            Self.count(name, "polled")
            let source = SourceDefinition(
                name: name, kind: configuration.kind,
                baseURL: configuration.baseURL, apiKey: keys.key(for: name), params: configuration.params,
                timeout: configuration.timeout, cursor: cursor
            )
            let begun = breaker.clock.now()
            let verdict = await fetcher.poll(source)
            let elapsed = breaker.clock.now() - begun
            if let rateLimit, case .shared(let grant) = token { try? await rateLimit.release(grant) }
            switch verdict {
            case .success(let records):
                await breaker.record(.success, duration: elapsed, ticket: ticket)
                outcome.result = "ok"
                if source.kind.isIncremental {
                    outcome.cursor = await writer.commit(records, schedule: schedule, maxLength: configuration.streamMaxLength)
                } else {
                    await writer.write(records, to: breaker.name, maxLength: configuration.streamMaxLength)
                }
            case .failure(let reason):
                await breaker.record(.failure, duration: elapsed, ticket: ticket)
                outcome.result = "failed"
                logger.debug("poll failed", metadata: ["reason": "\(reason)", "attempt": "\(attempt + 1)"])
                if Self.isTransient(reason), attempt < backoff.retries { Self.count(name, outcome.result); continue }
            case .notCounted(let reason):
                await breaker.record(.ignored, duration: elapsed, ticket: ticket)
                outcome.result = "not_counted"
                logger.warning("upstream refused the request; not a breaker failure", metadata: ["reason": "\(reason)"])
            case .rateLimited(let retryAfter):
                await breaker.record(.ignored, duration: elapsed, ticket: ticket)
                outcome.result = "rate_limited"
                let requested = retryAfter ?? configuration.interval
                let pause = Swift.min(requested, configuration.maximumPause)
                if requested > configuration.maximumPause {
                    logger.warning("Retry-After is longer than max_pause; pausing for max_pause", metadata: [
                        "retry_after_seconds": "\(requested.secondsDouble)", "max_pause_seconds": "\(pause.secondsDouble)",
                    ])
                }
                logger.notice("rate limited by upstream; pausing the fleet", metadata: ["retry_after": "\(pause)"])
                do {
                    try await schedule.pause(for: pause)
                } catch {
                    outcome.localPause = pause
                }
            }
            Self.count(name, outcome.result)
            break
        }
        if outcome.result == "rejected" { Self.count(name, "rejected") }
        try? await schedule.finish(outcome.result)
        return outcome
    }

    /// Whether the breaker is open and not yet due to half-open: then no token is spent.
    private func breakerWillReject() -> Bool {
        let status = breaker.status()
        guard status.mode == .enforce, status.forced != .closed else { return false }
        return status.state == .open && (status.retryAfterMilliseconds ?? 0) > 0
    }

    /// A token to send one request under.
    enum Token {
        /// No rate limit configured.
        case unlimited
        /// From the shared ring: release it when the request completes.
        case shared(TokenGrant)
        /// From this instance's own ring (Redis unreachable).
        case local
    }

    /// Waits for a token of the shared rate limit (or the local one while Redis is down).
    ///
    /// - Returns: `nil` when cancelled, or when the group is claimed by another kind.
    private mutating func takeToken() async -> Token? {
        guard let rateLimit else { return .unlimited }
        let kind = configuration.kind.rawValue
        while !Task.isCancelled {
            let wait: Duration
            do {
                let decision = try await rateLimit.take(kind: kind, instanceID: breaker.instanceID)
                if !decision.repairs.isEmpty {
                    logger.warning("repaired \(SharedRateLimit.key(for: rateLimit.group))", metadata: ["repairs": "\(decision.repairs)"])
                }
                switch decision.outcome {
                case .granted(let grant):
                    return .shared(grant)
                case .wait(let duration):
                    wait = duration
                case .kindConflict(let storedKind):
                    logger.error("rate_limit group is used by collectors of another kind; not polling", metadata: [
                        "group": "\(rateLimit.group)", "stored_kind": "\(storedKind)", "kind": "\(kind)",
                    ])
                    Self.count(configuration.name, "misconfigured")
                    return nil
                }
            } catch {
                guard var local = localLimit else { return .local }
                let now = ContinuousClock.now - started
                let localWait = local.take(now: now)
                localLimit = local
                guard let localWait else { return .local }
                wait = localWait
            }
            do { try await Task.sleep(for: wait) } catch { return nil }
        }
        return nil
    }

    private static func isTransient(_ reason: FailureReason) -> Bool {
        switch reason.category {
        case .timeout, .connection, .serverError: true
        case .malformedPayload: false
        }
    }

    private static func count(_ name: String, _ result: String) {
        Counter(label: "breakwater_polls_total", dimensions: [("breaker", name), ("result", result)]).increment()
    }
}
