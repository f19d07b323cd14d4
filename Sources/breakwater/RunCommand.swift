import ArgumentParser
import BreakwaterConfig
import BreakwaterDaemon
import Foundation
import Logging
import Metrics
import Prometheus
import RedisClient

/// `breakwater run --config FILE`: the collector daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run every collector of a config until SIGTERM/SIGINT, then drain and exit 0.")

    @OptionGroup var redis: RedisOptions
    @Option(name: .long, help: "The YAML config file.") var config: String
    @Option(name: .long, help: "An env file (NAME=value lines) laid over the environment for API keys; re-read with the key files on SIGHUP (env BREAKWATER_ENV_FILE).") var envFile: String?
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (env LOG_LEVEL).") var logLevel: String?

    func run() async throws {
        let configuration: BreakwaterConfiguration
        do {
            configuration = try BreakwaterConfiguration.load(path: config)
        } catch {
            throw CommandFailure.usage("invalid config \(config):\n\(error)")
        }
        let environment = ProcessInfo.processInfo.environment
        let redisConfiguration = try resolveRedis(configuration, environment: environment)

        let level = Logger.Level(rawValue: logLevel ?? environment["LOG_LEVEL"] ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let daemon = Daemon(configuration: configuration, redis: redisConfiguration, registry: registry, environment: environment, environmentFile: (envFile ?? environment["BREAKWATER_ENV_FILE"]).flatMap { $0.isEmpty ? nil : $0 }, logger: Logger(label: "breakwater"))
        do {
            try await daemon.run()
        } catch {
            throw CommandFailure.runtime("\(error)")
        }
    }

    private func resolveRedis(_ configuration: BreakwaterConfiguration, environment: [String: String]) throws -> RedisConfiguration {
        do {
            return try RedisEndpoint.configuration(override: redis.override, settings: configuration.redis, environment: environment)
        } catch {
            throw CommandFailure.usage("\(error)")
        }
    }
}
