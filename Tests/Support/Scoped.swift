import Foundation
import RedisClient
import Testing

extension Tag {
    /// The test needs a redis-server (the shared one named by `REDIS_URL`, or one it starts
    /// itself) or spawns processes. Untagged suites are unit tests: no server, no processes.
    @Tag public static var integration: Self
}

/// Runs `body` with `resource`, then awaits `cleanUp(resource)` on every path: a return, a
/// thrown error and a failed `#require` (which throws) alike. The cleanup finishes before this
/// function returns or rethrows, so nothing outlives the test.
///
/// - Parameters:
///   - resource: what `body` uses and `cleanUp` releases.
///   - cleanUp: deletes keys, stops processes, closes connections; must not throw.
///   - body: the test's work.
/// - Returns: what `body` returns.
public func withCleanup<Resource: Sendable, Result>(
    _ resource: Resource,
    cleanUp: (Resource) async -> Void,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (Resource) async throws -> Result
) async throws -> Result {
    let result: Result
    do {
        result = try await body(resource)
    } catch {
        await cleanUp(resource)
        throw error
    }
    await cleanUp(resource)
    return result
}

/// A connection pool to `configuration` for the duration of `body`, shut down afterwards on
/// every path.
public func withPool<Result>(
    _ configuration: RedisConfiguration,
    size: Int = 1,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisConnectionPool) async throws -> Result
) async throws -> Result {
    try await withCleanup(RedisConnectionPool(configuration: configuration, size: size), cleanUp: { await $0.shutdown() }, body)
}

/// One connection to `configuration` for the duration of `body`, shut down afterwards on every
/// path.
public func withConnection<Result>(
    _ configuration: RedisConfiguration,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisConnection) async throws -> Result
) async throws -> Result {
    try await withCleanup(RedisConnection(configuration: configuration), cleanUp: { await $0.shutdown() }, body)
}

/// Runs `body`, then deletes every key starting with `prefix` through `pool` on every path
/// (for suites that own a pool and a prefix).
public func withKeyCleanup<Result>(
    prefix: String,
    pool: RedisConnectionPool,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withCleanup(prefix, cleanUp: { await TestRedis.cleanUp(prefix: $0, pool: pool) }) { _ in try await body() }
}

/// Runs `body`, then deletes `keys` through `pool` on every path (for keys without a common
/// prefix, e.g. `cb_state:<name>` of a breaker a spawned daemon owns).
public func withKeysDeleted<Result>(
    _ keys: [String],
    pool: RedisConnectionPool,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withCleanup(keys, cleanUp: { keys in
        if !keys.isEmpty { _ = try? await pool.execute(RedisCommand("DEL", keys)) }
    }) { _ in try await body() }
}

/// A throwaway `redis-server` (see ``RedisServerProcess/init(arguments:port:configFile:tls:)``)
/// for the duration of `body`, stopped and its directory removed afterwards on every path.
public func withRedisServer<Result>(
    arguments: [String] = [],
    configFile: String? = nil,
    tls: RedisServerProcess.TLS? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServerProcess) async throws -> Result
) async throws -> Result {
    try await withCleanup(try RedisServerProcess(arguments: arguments, configFile: configFile, tls: tls), cleanUp: { $0.stop() }, body)
}

/// A settled Sentinel cluster (see ``SentinelCluster/start(tls:)``) for the duration of `body`,
/// every process stopped afterwards on every path.
public func withSentinelCluster<Result>(
    tls certificates: TestCertificates? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (SentinelCluster) async throws -> Result
) async throws -> Result {
    try await withCleanup(try await SentinelCluster.start(tls: certificates), cleanUp: { $0.stop() }, body)
}
