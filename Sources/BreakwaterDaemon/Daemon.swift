import UnixSignals
import AsyncHTTPClient
import BreakwaterConfig
import Collectors
import FleetCollection
import Foundation
import Hummingbird
import Logging
import Prometheus
import RedisClient
import ServiceLifecycle
import SharedBreaker

/// `breakwater run`: every collector of a config, the shared breakers, and the HTTP endpoints,
/// as services in one `ServiceGroup` that drains on SIGTERM/SIGINT.
public struct Daemon: Sendable {
    /// The validated configuration.
    public let configuration: BreakwaterConfiguration
    /// Where Redis is.
    public let redis: RedisConfiguration
    /// The registry `/metrics` renders (the one swift-metrics was bootstrapped with).
    public let registry: PrometheusCollectorRegistry
    /// The environment API keys are read from.
    public let environment: [String: String]
    /// An env file laid over ``environment`` and re-read on SIGHUP with the key files.
    public let environmentFile: String?
    public let logger: Logger

    /// Creates a daemon; nothing starts until ``run()``.
    public init(configuration: BreakwaterConfiguration, redis: RedisConfiguration, registry: PrometheusCollectorRegistry, environment: [String: String], environmentFile: String? = nil, logger: Logger) {
        self.configuration = configuration
        self.redis = redis
        self.registry = registry
        self.environment = environment
        self.environmentFile = environmentFile
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT, then stops polling, flushes pending breaker writes, closes
    /// Redis and returns.
    ///
    /// - Throws: ``DaemonError`` when a secret is missing or a breaker cannot be built; a down
    ///   Redis is not an error (it is logged, counted and retried).
    public func run() async throws {
        let instanceID = configuration.resolvedInstanceID
        var logger = logger
        logger[metadataKey: "instance"] = "\(instanceID)"
        let group = SharedBreakerGroup(instanceID: instanceID, redis: redis, logger: logger)
        let httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: UpstreamFetcher.clientConfiguration)
        let fetcher = UpstreamFetcher(client: httpClient, logger: logger)
        let writer = RecordWriter(store: group.store, logger: logger)

        var collectors: [any Service] = []
        let keys: APIKeys
        do {
            keys = try APIKeys(collectors: configuration.collectors, environment: environment, environmentFile: environmentFile)
            for collector in configuration.collectors {
                let name = try BreakerName(collector.name)
                let options = SharedBreakerOptions(settings: collector.breaker, callTimeout: collector.timeout)
                let breaker = try await group.breaker(named: name, options: options)
                let schedule = CollectorSchedule(
                    name: collector.name, instanceID: instanceID, group: collector.rateLimit?.group,
                    maximumPause: collector.maximumPause, store: group.store
                )
                let rateLimit = collector.rateLimit.map {
                    SharedRateLimit(group: $0.group, requests: $0.requests, period: $0.period, requestTimeout: collector.timeout, store: group.store)
                }
                var collectorLogger = logger
                collectorLogger[metadataKey: "breaker"] = "\(name)"
                let slot = PollSlot(
                    configuration: collector, breaker: breaker, keys: keys, fetcher: fetcher, writer: writer,
                    schedule: schedule, rateLimit: rateLimit, logger: collectorLogger
                )
                collectors.append(CollectorService(configuration: collector, slot: slot, schedule: schedule, logger: collectorLogger))
            }
        } catch {
            try? await httpClient.shutdown()
            await group.shutdown()
            throw DaemonError(message: "\(error)")
        }

        let router = HTTPEndpoints.router(group: group, registry: registry)
        let dashboard = FleetDashboard(store: group.store, redis: redis, instance: instanceID, logger: logger)
        dashboard.addRoutes(to: router)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "breakwater"),
            logger: logger
        )
        // Shutdown runs in reverse order: collectors stop first, then the dashboard ends its
        // event streams, then HTTP, then the breaker group flushes its queued outcomes and
        // closes Redis.
        let services: [any Service] = [BreakerGroupService(group: group), app, DashboardService(dashboard: dashboard), KeyReloadService(keys: keys, redisTLS: redis.tls, logger: logger)] + collectors
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        if let tls = redis.tls {
            if tls.verify == .none {
                logger.warning("redis TLS verification is off (verify: none): the server is not authenticated; for development only")
            }
            KeyReloadService.checkTLSFiles(tls, logger: logger, when: "start")
        }
        logger.info("breakwater started", metadata: ["collectors": "\(configuration.collectors.count)", "http": "\(configuration.http.host):\(configuration.http.port)", "redis": "\(redis)"])
        do {
            try await serviceGroup.run()
        } catch {
            try? await httpClient.shutdown()
            throw DaemonError(message: "\(error)")
        }
        try? await httpClient.shutdown()
        logger.info("breakwater stopped")
    }
}

/// Why the daemon could not start or run.
public struct DaemonError: Error, CustomStringConvertible {
    /// One line, naming what is wrong (never a secret).
    public var message: String
    public var description: String { message }
}
