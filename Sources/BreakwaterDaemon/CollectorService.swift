import BreakerCore
import BreakwaterConfig
import Collectors
import FleetCollection
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SharedBreaker

/// Polls one upstream source, coordinated with every other instance running it
/// (see docs/semantics.md#fleet-polling).
///
/// `schedule: fleet` claims each slot in `cb_sched:<name>`, so the fleet polls once per
/// interval whatever the replica count; `per_instance` polls on this instance's own interval.
/// Both honour a fleet-wide pause after a 429. Each slot runs through ``PollSlot`` (shared
/// rate limit, breaker, retries, cursor). While Redis is unreachable the instance falls
/// back to its own interval (and its own copy of the rate limit): availability first.
struct CollectorService: Service {
    let configuration: CollectorConfiguration
    let slot: PollSlot
    let schedule: CollectorSchedule
    let logger: Logger

    func run() async throws {
        // Graceful shutdown cancels the loop: the pending sleep or in-flight poll ends at once.
        await cancelWhenGracefulShutdown { await pollUntilCancelled() }
    }

    private func pollUntilCancelled() async {
        var slot = self.slot
        let name = configuration.name
        let mode: ScheduleMode = configuration.schedule == .perInstance ? .perInstance : .fleet
        let interval = configuration.interval
        logger.info("collector started", metadata: [
            "kind": "\(configuration.kind.rawValue)", "interval": "\(interval)", "schedule": "\(mode.rawValue)",
        ])
        let lag = Gauge(label: "breakwater_schedule_lag_seconds", dimensions: [("breaker", name)])
        let lastPoll = Gauge(label: "breakwater_last_poll_timestamp_seconds", dimensions: [("breaker", name)])
        Gauge(label: "breakwater_poll_interval_seconds", dimensions: [("breaker", name)]).record(interval.secondsDouble)
        var cursor: String?
        var storeDown = false
        while !Task.isCancelled {
            let delay: Duration
            do {
                let claim = try await schedule.claim(
                    interval: interval, mode: mode, group: configuration.rateLimit?.group, kind: configuration.kind.rawValue
                )
                if storeDown {
                    storeDown = false
                    logger.notice("schedule reachable again; coordinating with the fleet")
                }
                if !claim.repairs.isEmpty {
                    logger.warning("repaired \(schedule.key)", metadata: ["repairs": "\(claim.repairs)"])
                }
                cursor = claim.cursor ?? cursor
                if let last = claim.lastPollMilliseconds { lastPoll.record(Double(last) / 1000) }
                switch claim.decision {
                case .poll(let slotLag):
                    lag.record(slotLag.secondsDouble)
                    lastPoll.record(Date().timeIntervalSince1970)
                    let outcome = await slot.run(cursor: cursor)
                    cursor = outcome.cursor ?? cursor
                    delay = mode == .fleet ? .zero : interval
                case .wait(let wait):
                    delay = wait + wakeJitter(interval: interval, unit: Double.random(in: 0..<1))
                case .paused(let wait):
                    delay = wait + wakeJitter(interval: interval, unit: Double.random(in: 0..<1))
                }
            } catch {
                // Redis unreachable: keep collecting on this instance's own interval.
                if !storeDown {
                    storeDown = true
                    logger.warning("schedule unreachable; polling on this instance's own interval until Redis is back", metadata: ["error": "\(error)"])
                }
                let outcome = await slot.run(cursor: cursor)
                cursor = outcome.cursor ?? cursor
                lastPoll.record(Date().timeIntervalSince1970)
                delay = max(interval, outcome.localPause ?? .zero)
            }
            if delay > .zero { try? await Task.sleep(for: delay) }
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
