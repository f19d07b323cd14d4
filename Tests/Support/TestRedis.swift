import Foundation
import RedisClient

/// Access to the shared test Redis named by `REDIS_URL` (started by `scripts/test` or `.ci/run`).
public enum TestRedis {
    /// The configuration from `REDIS_URL`.
    ///
    /// - Throws: when `REDIS_URL` is unset: integration tests fail rather than skip, so a
    ///   missing Redis in CI can never pass silently.
    public static func configuration() throws -> RedisConfiguration {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            throw RedisError(.invalidConfiguration, "REDIS_URL is not set: run the tests with scripts/test, which starts a throwaway redis-server")
        }
        return try RedisConfiguration(url: url)
    }

    /// A key prefix unique to one test, e.g. `t:3F2A…:`.
    public static func uniquePrefix(_ label: String = "t") -> String {
        "\(label):\(UUID().uuidString.prefix(8)):"
    }

    /// Deletes every key starting with `prefix` (SCAN + DEL).
    public static func cleanUp(prefix: String, pool: RedisConnectionPool) async {
        var cursor = "0"
        repeat {
            guard let reply = try? await pool.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000),
                  let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else { return }
            cursor = next
            let names = keys.compactMap(\.string)
            if !names.isEmpty { _ = try? await pool.execute(RedisCommand("DEL", names)) }
        } while cursor != "0"
    }
}

/// Polls `condition` until it holds or `timeout` passes (for asynchronous propagation in tests).
public func eventually(timeout: Duration = .seconds(15), interval: Duration = .milliseconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
