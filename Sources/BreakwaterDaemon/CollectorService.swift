import BreakerCore
import BreakwaterConfig
import Collectors
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SharedBreaker

/// Polls one upstream source on its interval, every poll through the shared breaker.
///
/// While the breaker is open no request leaves the process. Timeouts, connection errors,
/// 5xx and malformed payloads are failures; other 4xx are logged and not counted; a 429
/// is not a failure either, but the next poll waits for its `Retry-After`.
struct CollectorService: Service {
    let configuration: CollectorConfiguration
    let source: SourceDefinition
    let breaker: SharedBreaker
    let fetcher: UpstreamFetcher
    let writer: RecordWriter
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the loop: the pending sleep or in-flight poll ends at once.
        await cancelWhenGracefulShutdown { await pollUntilCancelled() }
    }

    private func pollUntilCancelled() async {
        let name = breaker.name
        var logger = logger
        logger[metadataKey: "breaker"] = "\(name)"
        logger[metadataKey: "instance"] = "\(breaker.instanceID)"
        logger.info("collector started", metadata: ["kind": "\(configuration.kind.rawValue)", "interval": "\(configuration.interval)"])
        let polls = Counter(label: "breakwater_polls_total", dimensions: [("breaker", name.rawValue), ("result", "polled")])
        let skipped = Counter(label: "breakwater_polls_total", dimensions: [("breaker", name.rawValue), ("result", "rejected")])
        // For "poll overdue" alerts: when this instance last polled, and how often it should.
        let lastPoll = Gauge(label: "breakwater_last_poll_timestamp_seconds", dimensions: [("breaker", name.rawValue)])
        Gauge(label: "breakwater_poll_interval_seconds", dimensions: [("breaker", name.rawValue)]).record(configuration.interval.secondsDouble)
        while !Task.isCancelled {
            var delay = configuration.interval
            do {
                let ticket = try await breaker.acquire(callTimeout: configuration.timeout)
                polls.increment()
                lastPoll.record(Date().timeIntervalSince1970)
                let started = breaker.clock.now()
                let verdict = await fetcher.poll(source)
                let elapsed = breaker.clock.now() - started
                switch verdict {
                case .success(let records):
                    await breaker.record(.success, duration: elapsed, ticket: ticket)
                    await writer.write(records, to: name, maxLength: configuration.streamMaxLength)
                case .failure(let reason):
                    await breaker.record(.failure, duration: elapsed, ticket: ticket)
                    logger.debug("poll failed", metadata: ["reason": "\(reason)"])
                case .notCounted(let reason):
                    await breaker.record(.ignored, duration: elapsed, ticket: ticket)
                    logger.warning("upstream refused the request; not a breaker failure", metadata: ["reason": "\(reason)"])
                case .rateLimited(let retryAfter):
                    await breaker.record(.ignored, duration: elapsed, ticket: ticket)
                    if let retryAfter, retryAfter > delay { delay = retryAfter }
                    logger.notice("rate limited by upstream", metadata: ["retry_after": "\(retryAfter.map { "\($0)" } ?? "none")"])
                }
            } catch {
                skipped.increment()
            }
            try? await Task.sleep(for: delay)
        }
        logger.info("collector stopped")
    }
}

/// Runs a ``SharedBreakerGroup``'s background work as a service and flushes it on shutdown.
struct BreakerGroupService: Service {
    let group: SharedBreakerGroup

    func run() async throws {
        await cancelWhenGracefulShutdown { await group.run() }
        await group.shutdown()
    }
}
