import ArgumentParser
import BreakwaterDaemon
import Foundation
import Logging
import RedisClient
import SharedBreaker

/// `--redis-url`, shared by every subcommand.
struct RedisOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: "Redis URL: redis://[user[:password]@]host[:port][/db], unix:///path, or redis-sentinel://[[user:]password@]host[:port][,host[:port]…][/db]#MASTER (sentinels' password: REDIS_SENTINEL_PASSWORD); rediss:// and rediss-sentinel:// for TLS (REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE, REDIS_TLS_SERVER_NAME, REDIS_TLS_VERIFY) (env REDIS_URL; default redis://127.0.0.1:6379). The password may come from REDIS_PASSWORD or REDIS_PASSWORD_FILE.")
    var url: String?

    /// The explicit URL: the option, else `REDIS_URL`.
    var override: String? {
        url ?? ProcessInfo.processInfo.environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The Redis configuration for operator commands (exit 2 on a malformed URL).
    func configuration() throws -> RedisConfiguration {
        do {
            var configuration = try RedisEndpoint.configuration(override: override, environment: ProcessInfo.processInfo.environment)
            configuration.connectTimeout = .seconds(2)
            if configuration.tls?.verify == RedisConfiguration.TLS.Verification.none {
                FileHandle.standardError.write(Data("warning: redis TLS verification is off (REDIS_TLS_VERIFY=none): the server is not authenticated\n".utf8))
            }
            return configuration
        } catch {
            throw CommandFailure.usage("\(error)")
        }
    }

    /// A one-connection pool for a short-lived command.
    func pool() throws -> RedisConnectionPool {
        RedisConnectionPool(configuration: try configuration(), size: 1, logger: Logger(label: "breakwater.cli", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

/// The instance id the CLI writes as `updated_by` for manual actions.
func cliInstanceID() -> String {
    "cli@" + ProcessInfo.processInfo.hostName
}

/// Maps a Redis failure to exit 1 with a one-line reason.
func runtimeFailure(_ error: any Error) -> CommandFailure {
    if let failure = error as? CommandFailure { return failure }
    if let redis = error as? RedisError { return .runtime(redis.description) }
    return .runtime("\(error)")
}

/// Validates breaker names given on the command line (exit 2 naming the bad one).
func breakerNames(_ names: [String]) throws -> [BreakerName] {
    try names.map { name in
        do {
            return try BreakerName(name)
        } catch {
            throw CommandFailure.usage("\(error)")
        }
    }
}
