import UnixSignals
import BreakerSchema
import Foundation
import Hummingbird
import Logging
import RedisClient
import SharedBreaker
import ServiceLifecycle
import Synchronization

/// Pages and text files embedded at build time (`*.html` next to this file; EmbedText plugin).
enum WebAsset {}

/// The operator view: the page at `/`, every breaker in Redis at `/api/breakers`,
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
        Task { try? await subscriber.psubscribe([BreakerKeys.Prefix.events.pattern]) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscriber.events {
                    guard case .message(let message) = event, BreakerKeys.Prefix.events.name(in: message.channel) != nil else { continue }
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
        var breakers: [BreakerView] = []
        for entry in entries {
            let recent = (try? await admin.history(entry.name, limit: Self.recentEntries)) ?? []
            breakers.append(entry.view(nowMilliseconds: now, recent: recent))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(Snapshot(nowMilliseconds: now, instance: instance, breakers: breakers))
    }

    /// The `/api/breakers` document.
    struct Snapshot: Encodable {
        var nowMilliseconds: Int64
        var instance: String
        var breakers: [BreakerView]

        enum CodingKeys: String, CodingKey {
            case nowMilliseconds = "now_ms"
            case instance, breakers
        }
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
