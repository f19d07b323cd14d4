import BreakerCore
import Foundation
import Hummingbird
import Prometheus
import RedisClient
import SharedBreaker

/// The daemon's HTTP surface: `/healthz`, `/readyz`, `/metrics`, `/breakers`.
enum HTTPEndpoints {
    /// Builds the router.
    ///
    /// - Parameters:
    ///   - group: the breakers this instance runs.
    ///   - registry: the Prometheus registry swift-metrics reports into.
    static func router(group: SharedBreakerGroup, registry: PrometheusCollectorRegistry) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/healthz") { _, _ in
            jsonResponse(.ok, ["status": "ok", "instance": group.instanceID])
        }
        router.get("/readyz") { _, _ -> Response in
            let reachable = group.store.isReachable ?? false
            let breakers = group.all.map { $0.status() }
            let unavailable = breakers.filter { !$0.storeAvailable }.map(\.name)
            var body: [String: any Sendable] = ["instance": group.instanceID, "config_loaded": true, "redis_reachable": reachable]
            if !unavailable.isEmpty { body["store_unavailable"] = unavailable }
            return jsonResponse(reachable && unavailable.isEmpty ? .ok : .serviceUnavailable, body)
        }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("/breakers") { _, _ -> Response in
            // The local view and local breaker, plus the fleet statistics read from Redis now
            // (left out, not an error, when Redis cannot be read).
            let admin = BreakerAdmin(store: group.store, instanceID: group.instanceID)
            let now = try? await admin.serverTimeMilliseconds()
            var statuses: [SharedBreakerStatus] = []
            for breaker in group.all {
                var status = breaker.status()
                if let now, let entry = try? await admin.read(breaker.name) {
                    status.fleet = .init(stored: entry.state, nowMilliseconds: now, halfOpenMaxCalls: breaker.options.breaker.halfOpenMaxCalls)
                    status.stored = entry.view(nowMilliseconds: now)
                }
                statuses.append(status)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = (try? encoder.encode(statuses)) ?? Data("[]".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    private static func jsonResponse(_ status: HTTPResponse.Status, _ object: [String: any Sendable]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
