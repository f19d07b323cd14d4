import SafeNumbers
import BreakerSchema
import BreakerCore
import Foundation
import Logging
import RedisClient
import SharedBreaker

/// Shared-breaker figures from one run: admission cost (no round trip), outcomes recorded
/// per second per instance (as counted by Redis), and trip propagation latency between two
/// instances (A records the tripping failure → B rejects), p50/p99.
enum SharedBench {
    static func run(url: String, trials: Int) async throws {
        let redis = try RedisConfiguration(url: url)
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let name = try BreakerName("bench-\(UUID().uuidString.prefix(8).lowercased())")
        let a = SharedBreakerGroup(instanceID: "bench-a", redis: redis, logger: quiet)
        let b = SharedBreakerGroup(instanceID: "bench-b", redis: redis, logger: quiet)
        let runners = [Task { await a.run() }, Task { await b.run() }]
        var config = BreakerConfig(failureThreshold: 1, openTimeout: .seconds(3600))
        config.halfOpenMaxCalls = 1
        config.halfOpenSuccessThreshold = 1
        let options = SharedBreakerOptions(breaker: config)
        let breakerA = try await a.breaker(named: name, options: options)
        let breakerB = try await b.breaker(named: name, options: options)
        let pool = RedisConnectionPool(configuration: redis, size: 1, logger: quiet)
        try await breakerA.reset()
        try await Task.sleep(for: .milliseconds(200))
        print("shared breaker (\(redis.endpoint))")

        // 1. Admission on the closed path: local view only.
        let iterations = 1_000_000
        var admitted = 0
        let clock = ContinuousClock()
        let admitTime = await clock.measure {
            for _ in 0..<iterations {
                if (try? await breakerB.acquire()) != nil { admitted += 1 }
            }
        }
        precondition(admitted == iterations)
        print(String(format: "  admission (closed, acquire)            %8.1f ns/op", nanoseconds(admitTime) / Double(iterations)))

        // 2. Outcomes recorded per second per instance (8 tasks, 2 s), counted by Redis.
        let before = try await pool.execute("HGET", name.stateKey, StoredField.totalSuccesses.name).int ?? 0
        let window = Duration.seconds(2)
        let started = ContinuousClock.now
        let local = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now - started < window {
                        for _ in 0..<256 {
                            guard let ticket = try? await breakerB.acquire() else { continue }
                            await breakerB.record(.success, duration: .microseconds(50), ticket: ticket)
                            count += 1
                        }
                        // Real callers suspend on I/O; without this the 8 tight loops would
                        // starve the flusher on a 2-core machine.
                        await Task.yield()
                    }
                    return count
                }
            }
            var total = 0
            for await count in group { total += count }
            return total
        }
        await b.flush()
        let elapsed = ContinuousClock.now - started
        let after = try await pool.execute("HGET", name.stateKey, StoredField.totalSuccesses.name).int ?? 0
        let stored = Int(after - before)
        print(String(format: "  acquire+record, 8 tasks                %8.0f outcomes/s per instance (%d recorded, %d in Redis)", Double(stored) / (nanoseconds(elapsed) / 1e9), local, stored))

        // 3. Propagation: A records the tripping failure -> B rejects.
        var latencies: [Double] = []
        for _ in 0..<trials {
            try await breakerA.reset()
            while breakerB.view.state != .closed || breakerA.view.state != .closed { await Task.yield() }
            let ticket = try await breakerA.acquire()
            let t0 = ContinuousClock.now
            await breakerA.record(.failure, duration: .milliseconds(1), ticket: ticket)
            while true {
                if (try? await breakerB.acquire()) == nil { break }
                if ContinuousClock.now - t0 > .seconds(5) { break }
                await Task.yield()
            }
            latencies.append(nanoseconds(ContinuousClock.now - t0) / 1e6)
        }
        latencies.sort()
        let p50 = latencies[latencies.count / 2]
        let p99 = latencies[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
        print(String(format: "  propagation A trips -> B rejects       p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d trials)", p50, p99, latencies.last ?? 0, trials))

        for runner in runners { runner.cancel() }
        await a.shutdown()
        await b.shutdown()
        _ = try? await pool.execute("DEL", name.stateKey)
        await pool.shutdown()
    }

    private static func nanoseconds(_ duration: Duration) -> Double {
        duration.secondsValue * 1e9
    }
}
