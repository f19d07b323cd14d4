import Foundation
import Hummingbird
import Logging
import RedisClient
import SharedBreaker
import ServiceLifecycle
import Synchronization

/// Pages and text files embedded at build time (`*.html` next to this file; EmbedText plugin).
enum WebAsset {}

/// The operator view (SPEC §10): the page at `/`, every breaker in Redis at `/api/breakers`,
/// and transitions live at `/events` (Server-Sent Events fed by one `PSUBSCRIBE cb_events:*`).
///
/// Served by every daemon and by `breakwater dashboard --listen ADDR`. Call ``run()`` for as
/// long as the routes are served: it owns the subscriber and fans events out to the clients.
public final class FleetDashboard: Sendable {
    private let admin: BreakerAdmin
    private let redis: RedisConfiguration
    private let instance: String
    private let logger: Logger
    private let clients = Mutex<[UInt64: AsyncStream<String>.Continuation]>([:])
    private let nextClient = Atomic<UInt64>(0)

    /// - Parameters:
    ///   - store: the pool used to read breakers.
    ///   - redis: where the subscriber connects (its own connection).
    ///   - instance: shown on the page (the daemon's instance id, or `dashboard@host`).
    public init(store: RedisConnectionPool, redis: RedisConfiguration, instance: String, logger: Logger) {
        self.admin = BreakerAdmin(store: store, instanceID: instance)
        self.redis = redis
        self.instance = instance
        self.logger = logger
    }

    /// Most ledger entries shown per breaker.
    static let recentEntries = 5

    /// Relays `cb_events:*` to every connected page until cancelled; keep-alives every 15 s.
    public func run() async {
        let subscriber: RedisSubscriber
        do {
            subscriber = try RedisSubscriber(configuration: redis, logger: logger)
        } catch {
            logger.error("dashboard: cannot start the pub/sub listener", metadata: ["error": "\(error)"])
            return
        }
        defer { subscriber.close() }
        Task { try? await subscriber.psubscribe(["cb_events:*"]) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscriber.events {
                    guard case .message(let message) = event, message.channel.hasPrefix("cb_events:") else { continue }
                    // A garbage payload is relayed as JSON-escaped text only if it is valid JSON.
                    guard (try? JSONSerialization.jsonObject(with: Data(message.payload))) != nil else { continue }
                    self.broadcast("event: transition\ndata: \(message.text)\n\n")
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(15))
                    self.broadcast(": keep-alive\n\n")
                }
            }
            await withTaskCancellationHandler {
                await group.waitForAll()
            } onCancel: {
                subscriber.close()
                // Finished outside the lock: finish() runs onTermination, which takes it.
                let open = self.clients.withLock { clients in
                    defer { clients.removeAll() }
                    return Array(clients.values)
                }
                for client in open { client.finish() }
            }
        }
    }

    private func broadcast(_ text: String) {
        for client in clients.withLock({ Array($0.values) }) { client.yield(text) }
    }

    /// Adds `/`, `/api/breakers` and `/events` to `router`.
    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: WebAsset.dashboard)))
        }
        router.get("/api/breakers") { _, _ -> Response in
            do {
                let data = try await self.snapshot()
                return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            } catch {
                let body = (try? JSONSerialization.data(withJSONObject: ["error": "\(error)"])) ?? Data()
                return Response(status: .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
        }
        router.get("/events") { _, _ -> Response in
            let id = self.nextClient.add(1, ordering: .relaxed).newValue
            let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(256))
            self.clients.withLock { $0[id] = continuation }
            continuation.onTermination = { _ in _ = self.clients.withLock { $0.removeValue(forKey: id) } }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: .init { writer in
                    try await writer.write(ByteBuffer(string: ": connected\n\n"))
                    for await text in stream { try await writer.write(ByteBuffer(string: text)) }
                    try await writer.finish(nil)
                }
            )
        }
    }

    /// Every breaker in Redis with its statistics and recent ledger entries, as the page reads it.
    func snapshot() async throws -> Data {
        let entries = try await admin.list()
        let now = try await admin.serverTimeMilliseconds()
        var breakers: [[String: Any]] = []
        for entry in entries {
            let state = entry.state
            let recent = (try? await admin.history(entry.name, limit: Self.recentEntries)) ?? []
            breakers.append([
                "name": entry.name.rawValue, "state": state.state.rawValue, "version": state.version,
                "forced": state.forced?.rawValue as Any? ?? NSNull(), "forced_until_ms": state.forcedUntilMilliseconds,
                "forced_note": state.forcedNote, "forced_actor": state.forcedActor, "mode": state.mode,
                "opened_at_ms": state.openedAtMilliseconds, "open_timeout_ms": state.openTimeoutMilliseconds,
                "open_until_ms": state.state == .open ? state.openUntilMilliseconds : 0,
                "failed_recoveries": state.failedRecoveries, "failed_recoveries_total": state.failedRecoveriesTotal,
                "health_score": state.healthScore.map { $0 as Any } ?? NSNull(),
                "total_successes": state.totalSuccesses, "total_failures": state.totalFailures,
                "circuit_opens": state.circuitOpens, "successful_recoveries": state.successfulRecoveries,
                "time_in_open_ms": state.timeInOpen(at: now),
                "last_failure_at_ms": state.lastFailureAtMilliseconds, "last_transition_at_ms": state.lastTransitionAtMilliseconds,
                "ttl_seconds": entry.ttlSeconds,
                "recent": recent.map { [
                    "version": $0.version, "from": $0.from, "to": $0.to, "reason": $0.reason, "by": $0.by,
                    "at_ms": $0.atMilliseconds, "actor": $0.actor, "note": $0.note,
                ] as [String: Any] },
            ])
        }
        return try JSONSerialization.data(withJSONObject: ["now_ms": now, "instance": instance, "breakers": breakers], options: [.sortedKeys])
    }
}

/// Runs a ``FleetDashboard``'s relay as a service; on graceful shutdown it ends every open
/// `/events` stream first, so the HTTP server can drain (list it after the HTTP service).
public struct DashboardService: Service {
    let dashboard: FleetDashboard

    public init(dashboard: FleetDashboard) { self.dashboard = dashboard }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await dashboard.run() }
    }
}

/// `breakwater dashboard --listen ADDR`: the operator view without collectors.
public enum DashboardServer {
    /// Serves `/`, `/api/breakers`, `/events` and `/healthz` until SIGTERM/SIGINT.
    ///
    /// - Throws: when the address cannot be bound.
    public static func run(redis: RedisConfiguration, host: String, port: Int, logger: Logger) async throws {
        let store = RedisConnectionPool(configuration: redis, size: 2, logger: logger)
        let instance = "dashboard@" + ProcessInfo.processInfo.hostName
        let dashboard = FleetDashboard(store: store, redis: redis, instance: instance, logger: logger)
        let router = Router()
        router.get("/healthz") { _, _ in "ok" }
        dashboard.addRoutes(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "breakwater-dashboard"), logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: DashboardService(dashboard: dashboard))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("dashboard listening", metadata: ["address": "\(host):\(port)", "redis": "\(redis)"])
        defer { Task { await store.shutdown() } }
        try await group.run()
    }
}
