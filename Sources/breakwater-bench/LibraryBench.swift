import SafeNumbers
import BreakerSchema
import BreakerCore
import Foundation
import Logging
import RedisClient
import SharedBreaker

/// The library-cost figures `scripts/bench` puts in its table, one `FIG <key> <value>` line
/// each (machine-readable; the script parses them):
///
/// - admission ns/op, closed / open / half-open, in-process (``CircuitBreaker``) and shared
///   (``SharedBreaker``, local view);
/// - closed-path outcomes recorded per second per instance (8 tasks) and the Redis commands
///   per protected call during that run (all of the server's `INFO commandstats` calls except
///   the bench's own `CONFIG`/`INFO`, divided by the calls);
/// - Redis memory per breaker (`used_memory` before/after creating `breakers` breakers, and
///   `MEMORY USAGE` of one state hash).
///
/// Figures only, never assertions.
enum LibraryBench {
    static func run(url: String, iterations: Int, loadSeconds: Double, breakers: Int) async throws {
        let redis = try RedisConfiguration(url: url, environment: ProcessInfo.processInfo.environment)
        let quiet = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let admin = RedisConnectionPool(configuration: redis, size: 1, logger: quiet)
        defer { Task { await admin.shutdown() } }

        // In-process.
        fig("inproc_closed_ns", best(iterations, inProcessClosed))
        fig("inproc_open_ns", best(iterations, inProcessOpen))
        fig("inproc_halfopen_ns", best(iterations, inProcessHalfOpen))

        // Shared.
        let prefix = "bench-\(UUID().uuidString.prefix(8).lowercased())"
        let group = SharedBreakerGroup(instanceID: "bench-lib", redis: redis, logger: quiet)
        let runner = Task { await group.run() }
        var config = BreakerConfig(failureThreshold: 1, openTimeout: .seconds(3600))
        config.halfOpenMaxCalls = 1
        config.halfOpenSuccessThreshold = 1
        let closed = try await group.breaker(named: BreakerName("\(prefix)-closed"), options: SharedBreakerOptions(breaker: config))
        try await closed.reset()
        fig("shared_closed_ns", try await bestAsync(iterations) { n in
            var admitted = 0
            for _ in 0..<n where (try? await closed.acquire()) != nil { admitted += 1 }
            precondition(admitted == n, "closed-path admission rejected a call")
        })

        let open = try await group.breaker(named: BreakerName("\(prefix)-open"), options: SharedBreakerOptions(breaker: config))
        try await open.reset()
        let ticket = try await open.acquire()
        await open.record(.failure, duration: .milliseconds(1), ticket: ticket)
        await group.flush()
        try await waitFor { open.view.state == .open }
        fig("shared_open_ns", try await bestAsync(iterations) { n in
            var rejected = 0
            for _ in 0..<n where (try? await open.acquire()) == nil { rejected += 1 }
            precondition(rejected == n, "open breaker admitted a call")
        })

        // Half-open: one probe leased and held; every other call is rejected — locally, except
        // one script call per 100 ms (the denied-probe back-off), which the figure includes.
        var halfConfig = config
        halfConfig.openTimeout = .milliseconds(20)
        halfConfig.maxOpenTimeout = .milliseconds(20)
        let half = try await group.breaker(named: BreakerName("\(prefix)-half"), options: SharedBreakerOptions(breaker: halfConfig))
        try await half.reset()
        let tripTicket = try await half.acquire()
        await half.record(.failure, duration: .milliseconds(1), ticket: tripTicket)
        await group.flush()
        try await waitFor { half.view.state == .open }
        var probe: SharedBreaker.Ticket?
        let deadline = ContinuousClock.now + .seconds(10)
        while probe == nil && ContinuousClock.now < deadline {
            probe = try? await half.acquire()
            if probe == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        guard probe != nil, half.view.state == .halfOpen else { throw BenchError("no half-open probe within 10 s") }
        fig("shared_halfopen_ns", try await bestAsync(iterations) { n in
            var rejected = 0
            for _ in 0..<n where (try? await half.acquire()) == nil { rejected += 1 }
            precondition(rejected == n, "half-open breaker admitted a second probe")
        })

        // Outcomes/s per instance and Redis commands per protected call (closed path, 8 tasks).
        _ = try await admin.execute("CONFIG", "RESETSTAT")
        let window = Duration.milliseconds(Int64(loadSeconds * 1000))
        let started = ContinuousClock.now
        let calls = await withTaskGroup(of: Int.self) { tasks in
            for _ in 0..<8 {
                tasks.addTask {
                    var count = 0
                    while ContinuousClock.now - started < window {
                        for _ in 0..<256 {
                            guard let ticket = try? await closed.acquire() else { continue }
                            await closed.record(.success, duration: .microseconds(50), ticket: ticket)
                            count += 1
                        }
                        await Task.yield()  // real callers suspend on I/O
                    }
                    return count
                }
            }
            var total = 0
            for await count in tasks { total += count }
            return total
        }
        await group.flush()
        let elapsed = seconds(ContinuousClock.now - started)
        let commands = try await commandCount(admin)
        let stored = try await admin.execute("HGET", BreakerKeys.state("\(prefix)-closed"), StoredField.totalSuccesses.name).int ?? 0
        fig("shared_outcomes_per_s", Double(stored) / elapsed)
        fig("shared_calls", Double(calls))
        fig("shared_redis_commands", Double(commands))
        fig("shared_commands_per_call", Double(commands) / Double(max(1, calls)))

        // Redis memory per breaker.
        let before = try await usedMemory(admin)
        let memoryGroup = SharedBreakerGroup(instanceID: "bench-mem", redis: redis, logger: quiet)
        var names: [BreakerName] = []
        for i in 0..<breakers {
            let name = try BreakerName("\(prefix)-m\(i)")
            names.append(name)
            let breaker = try await memoryGroup.breaker(named: name, options: SharedBreakerOptions(breaker: BreakerConfig()))
            if let ticket = try? await breaker.acquire() {
                await breaker.record(.failure, duration: .milliseconds(1), ticket: ticket)
            }
        }
        await memoryGroup.flush()
        let after = try await usedMemory(admin)
        fig("redis_bytes_per_breaker", Double(after - before) / Double(max(1, breakers)))
        if let first = names.first {
            fig("redis_state_hash_bytes", Double(try await admin.execute("MEMORY", "USAGE", first.stateKey).int ?? -1))
        }
        await memoryGroup.shutdown()

        runner.cancel()
        await group.shutdown()
        for name in names + [try BreakerName("\(prefix)-closed"), try BreakerName("\(prefix)-open"), try BreakerName("\(prefix)-half")] {
            _ = try? await admin.execute("DEL", name.stateKey, name.logKey)
        }
    }

    // MARK: - In-process cases (each returns how many calls went the expected way)

    private static func inProcessClosed(_ n: Int) -> Int {
        let breaker = try! CircuitBreaker(name: "bench")
        var admitted = 0
        for _ in 0..<n where (try? breaker.acquire()) != nil { admitted += 1 }
        precondition(admitted == n)
        return admitted
    }

    private static func inProcessOpen(_ n: Int) -> Int {
        let breaker = try! CircuitBreaker(name: "bench", config: BreakerConfig(openTimeout: .seconds(3600)))
        let ticket = try! breaker.acquire()
        for _ in 0..<5 { breaker.record(.failure, for: ticket) }
        precondition(breaker.state == .open)
        var rejected = 0
        for _ in 0..<n where (try? breaker.acquire()) == nil { rejected += 1 }
        precondition(rejected == n)
        return rejected
    }

    /// Half-open with its one probe permit held: every call is rejected.
    private static func inProcessHalfOpen(_ n: Int) -> Int {
        var config = BreakerConfig(failureThreshold: 1, openTimeout: .milliseconds(1))
        config.halfOpenMaxCalls = 1
        config.maxOpenTimeout = .milliseconds(1)
        config.halfOpenSuccessThreshold = 1
        let breaker = try! CircuitBreaker(name: "bench", config: config)
        breaker.record(.failure, for: try! breaker.acquire())
        var probe: CircuitBreaker.Ticket?
        while probe == nil { probe = try? breaker.acquire() }  // open for 1 ms, then the probe
        precondition(breaker.state == .halfOpen)
        var rejected = 0
        for _ in 0..<n where (try? breaker.acquire()) == nil { rejected += 1 }
        precondition(rejected == n)
        withExtendedLifetime(probe) {}
        return rejected
    }

    // MARK: - Harness

    /// Best of 5 runs (after a warm-up of a tenth), in ns per call.
    private static func best(_ iterations: Int, _ body: (Int) -> Int) -> Double {
        _ = body(max(1, iterations / 10))
        var best = Double.infinity
        for _ in 0..<5 {
            let start = ContinuousClock.now
            _ = body(iterations)
            best = min(best, seconds(ContinuousClock.now - start) * 1e9 / Double(iterations))
        }
        return best
    }

    /// Best of 5 runs (after a warm-up of a tenth), in ns per call.
    private static func bestAsync(_ iterations: Int, _ body: (Int) async throws -> Void) async throws -> Double {
        try await body(max(1, iterations / 10))
        var best = Double.infinity
        for _ in 0..<5 {
            let start = ContinuousClock.now
            try await body(iterations)
            best = min(best, seconds(ContinuousClock.now - start) * 1e9 / Double(iterations))
        }
        return best
    }

    private static func waitFor(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            if ContinuousClock.now > deadline { throw BenchError("condition not reached within 10 s") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Commands the server ran since `CONFIG RESETSTAT`, except the bench's own CONFIG/INFO.
    private static func commandCount(_ admin: RedisConnectionPool) async throws -> Int {
        let text = try await admin.execute("INFO", "commandstats").string ?? ""
        var total = 0
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            if name.hasPrefix("config") || name == "info" { continue }
            if let range = line.range(of: "calls="), let calls = Int(line[range.upperBound...].prefix { $0.isNumber }) {
                total += calls
            }
        }
        return total
    }

    private static func usedMemory(_ admin: RedisConnectionPool) async throws -> Int {
        let text = try await admin.execute("INFO", "memory").string ?? ""
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("used_memory:") {
            return Int(line.dropFirst("used_memory:".count)) ?? 0
        }
        return 0
    }

    private static func fig(_ key: String, _ value: Double) {
        print("FIG \(key) \(value)")
        fflush(nil)
    }

    private static func seconds(_ duration: Duration) -> Double {
        duration.secondsValue
    }
}

/// A benchmark that could not set up its case.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
