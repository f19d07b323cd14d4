import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing
@testable import SharedBreaker

/// A suite that drives the breaker script directly and runs instances against the shared test
/// Redis: the configuration, a pool, and the helpers its tests share.
protocol ScriptSuite {
    /// The shared test Redis (`REDIS_URL`).
    var redis: RedisConfiguration { get }
    /// A pool to it.
    var pool: RedisConnectionPool { get }
}

extension ScriptSuite {
    /// Runs one script operation as `by` with the policy `config` ("k=v;…").
    @discardableResult
    func op(_ name: BreakerName, _ operation: String, by: String = "A", config: String, _ argument: String = "", extra: String = "") async throws -> ScriptReply {
        try ScriptReply(try await BreakerScript.call(pool, name: name, operation: operation, instanceID: by, configuration: config, argument: argument, extra: extra))
    }

    /// Up to `count` events from `subscriber`, or fewer once `timeout` has passed (never hangs).
    func collectEvents(_ subscriber: RedisSubscriber, count: Int, timeout: Duration = .seconds(10)) async -> [BreakerEvent?] {
        let watchdog = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { subscriber.close() }
        }
        defer { watchdog.cancel() }
        var events: [BreakerEvent?] = []
        for await event in subscriber.events {
            if case .message(let message) = event { events.append(BreakerEvent.decode(message.payload)) }
            if events.count >= count { break }
        }
        return events
    }

    /// Waits until Redis server time has moved `milliseconds` past `start` (a condition, not a sleep).
    func waitServerTime(past start: Int64, by milliseconds: Int64) async throws {
        let passed = await eventually(timeout: .seconds(30)) {
            guard let time = try? await pool.execute("TIME").array, let s = time[0].int, let us = time[1].int else { return false }
            return s * 1000 + us / 1000 > start + milliseconds
        }
        #expect(passed)
    }

    /// A group that is not running: no pub/sub, no polling (an instance cut off from events).
    func idleGroup(_ id: String, redis: RedisConfiguration? = nil) -> SharedBreakerGroup {
        SharedBreakerGroup(instanceID: id, redis: redis ?? self.redis, pollInterval: .seconds(3600))
    }
}
