import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
@testable import SharedBreaker

/// Several instances (groups) in one process, sharing one Redis, each with its own id.
final class Fleet: @unchecked Sendable {
    let groups: [SharedBreakerGroup]
    private var runners: [Task<Void, Never>] = []

    init(count: Int, redis: RedisConfiguration, clocks: [any BreakerClock]? = nil, pollInterval: Duration = .milliseconds(200)) {
        groups = (0..<count).map { index in
            SharedBreakerGroup(
                instanceID: "inst-\(index)", redis: redis,
                clock: clocks?[index] ?? ContinuousBreakerClock(), pollInterval: pollInterval
            )
        }
        runners = groups.map { group in Task { await group.run() } }
    }

    func breakers(_ name: BreakerName, options: SharedBreakerOptions) async throws -> [SharedBreaker] {
        var result: [SharedBreaker] = []
        for group in groups { result.append(try await group.breaker(named: name, options: options)) }
        return result
    }

    func stop() async {
        for runner in runners { runner.cancel() }
        for group in groups { await group.shutdown() }
    }
}

/// A fleet of `count` running instances on `redis` for the duration of `body`, stopped (every
/// group shut down, its connections closed) afterwards on every path.
func withFleet<Result>(
    count: Int, redis: RedisConfiguration, clocks: [any BreakerClock]? = nil, pollInterval: Duration = .milliseconds(200),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (Fleet) async throws -> Result
) async throws -> Result {
    try await withCleanup(Fleet(count: count, redis: redis, clocks: clocks, pollInterval: pollInterval), cleanUp: { await $0.stop() }, body)
}

/// `group` for the duration of `body`, shut down afterwards on every path.
func withGroup<Result>(
    _ group: SharedBreakerGroup,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (SharedBreakerGroup) async throws -> Result
) async throws -> Result {
    try await withCleanup(group, cleanUp: { await $0.shutdown() }, body)
}

/// Runs `body`, then deletes breaker `name`'s keys (state, ledger) through a short-lived pool
/// on every path (for tests without a pool of their own).
func withBreakerKeysDeleted<Result>(
    _ name: BreakerName, redis: RedisConfiguration,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> Result
) async throws -> Result {
    try await withCleanup(name, cleanUp: { name in
        let pool = RedisConnectionPool(configuration: redis, size: 1)
        _ = try? await pool.execute("DEL", name.stateKey, name.logKey)
        await pool.shutdown()
    }) { _ in try await body() }
}

/// A configuration for `server` that notices an outage and reconnects fast (outage tests).
func quickReconnecting(_ server: RedisServerProcess) throws -> RedisConfiguration {
    var configuration = try RedisConfiguration(url: server.url)
    configuration.initialReconnectDelay = .milliseconds(20)
    configuration.maximumReconnectDelay = .milliseconds(200)
    configuration.connectTimeout = .milliseconds(500)
    return configuration
}

/// A unique, valid breaker name for one test.
func uniqueName(_ label: String) throws -> BreakerName {
    try BreakerName("t-\(UUID().uuidString.prefix(8).lowercased())-\(label)")
}

/// Options with a short open timeout for tests.
func fastOptions(threshold: Int = 5, openTimeout: Duration = .milliseconds(300), halfOpenMax: Int = 3, successes: Int = 2, quorum: Int = 1, onStoreFailure: StoreFailurePolicy = .local, lease: Duration = .seconds(15)) -> SharedBreakerOptions {
    var config = BreakerConfig(failureThreshold: threshold, openTimeout: openTimeout, halfOpenMaxCalls: halfOpenMax, halfOpenSuccessThreshold: successes)
    config.maxOpenTimeout = .seconds(3600)
    return SharedBreakerOptions(breaker: config, tripQuorum: quorum, onStoreFailure: onStoreFailure, probeLease: lease)
}

/// Records `count` outcomes through the breaker (admission included).
func record(_ breaker: SharedBreaker, _ outcome: CallOutcome, count: Int = 1) async {
    for _ in 0..<count {
        guard let ticket = try? await breaker.acquire() else { continue }
        await breaker.record(outcome, duration: .milliseconds(1), ticket: ticket)
    }
}

/// Reads `cb_state:<name>` as a dictionary.
func storedFields(_ name: BreakerName, _ pool: RedisConnectionPool) async throws -> [String: String] {
    try await pool.execute("HGETALL", name.stateKey).fieldDictionary ?? [:]
}

/// A clock that runs `offset` ahead of (or behind) the real one: a host with a skewed clock.
struct SkewedClock: BreakerClock {
    let offset: Duration
    func now() -> BreakerInstant { ContinuousBreakerClock().now() + offset }
}

/// The path of an executable built next to the test bundle.
func builtExecutable(_ name: String) -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for directory in [bundle, bundle.deletingLastPathComponent()] {
        let candidate = directory.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return bundle.appendingPathComponent(name).path
}
