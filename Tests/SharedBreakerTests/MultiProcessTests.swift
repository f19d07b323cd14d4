import BreakerCore
import BreakwaterTestSupport
import Foundation
import RedisClient
import SafeNumbers
import Testing
@testable import SharedBreaker

/// Instances as real OS processes (`breakwater-node`), sharing the test Redis.
@Suite("Shared breaker across OS processes", .tags(.integration))
struct MultiProcessTests {
    let redis: RedisConfiguration
    let pool: RedisConnectionPool
    let node = builtExecutable("breakwater-node")
    let environment: [String: String]

    init() throws {
        redis = try TestRedis.configuration()
        pool = RedisConnectionPool(configuration: redis, size: 2)
        environment = ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""]
    }

    func spawn(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(node, arguments, environment: environment)
    }

    func finish(_ processes: [ChildProcess]) async -> [String] {
        var outputs: [String] = []
        for process in processes {
            let code = await process.exited(within: .seconds(60))
            #expect(code == 0, "node exited with \(String(describing: code)): \(process.output)")
            outputs.append(process.output)
        }
        return outputs
    }

    func startAt(after: Duration = .milliseconds(1500)) -> String {
        "\(Int64(Date().timeIntervalSince1970 * 1000) + after.millisecondsClamped)"
    }

    @Test("4 processes racing at the threshold make exactly one transition")
    func raceAtThreshold() async throws {
        let name = try uniqueName("prace")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let start = startAt()
            let processes = try (0..<4).map { index in
                try spawn(["record", "--name", name.rawValue, "--id", "p\(index)", "--tasks", "2", "--calls", "1", "--outcome", "failure", "--threshold", "5", "--open-timeout-ms", "60000", "--start-at-ms", start])
            }
            _ = await finish(processes)
            let fields = try await storedFields(name, pool)
            #expect(fields["state"] == "open")
            #expect(fields["version"] == "1")
            #expect(fields["circuit_opens"] == "1")
            #expect(fields["total_failures"].flatMap(Int.init).map { $0 >= 5 && $0 <= 8 } == true)
        }
    }

    @Test("4 processes x 8 tasks lose no increments")
    func exactCountersAcrossProcesses() async throws {
        let name = try uniqueName("pcount")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let start = startAt()
            let processes = try (0..<4).map { index in
                try spawn(["record", "--name", name.rawValue, "--id", "p\(index)", "--tasks", "8", "--calls", "50", "--outcome", "success", "--start-at-ms", start])
            }
            let outputs = await finish(processes)
            #expect(outputs.allSatisfy { $0.contains("admitted 400") })
            #expect(try await storedFields(name, pool)["total_successes"] == "1600")
        }
    }

    @Test("half-open admits at most half_open_max_calls probes across 3 processes")
    func probeQuotaAcrossProcesses() async throws {
        let name = try uniqueName("pquota")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let now = try #require(try await pool.execute("TIME").array?.first?.int)
            _ = try await pool.execute("HSET", name.stateKey, "state", "open", "version", "1", "opened_at_ms", (now - 10) * 1000, "open_timeout_ms", 1000)
            let start = startAt()
            let processes = try (0..<3).map { index in
                try spawn(["probe", "--name", name.rawValue, "--id", "p\(index)", "--tasks", "4", "--hold-ms", "500", "--outcome", "none", "--open-timeout-ms", "1000", "--half-open-max", "3", "--start-at-ms", start])
            }
            let outputs = await finish(processes)
            let admitted = outputs.compactMap { output in
                output.split(separator: "\n").first { $0.hasPrefix("admitted ") }.flatMap { Int($0.dropFirst("admitted ".count)) }
            }
            #expect(admitted.count == 3)
            #expect(admitted.reduce(0, +) == 3)
            let fields = try await storedFields(name, pool)
            #expect(fields["state"] == "half-open")
            #expect(fields["half_open_attempts"] == "3")
        }
    }

    @Test("a trip in this process reaches another process through pub/sub")
    func propagationToAnotherProcess() async throws {
        let name = try uniqueName("pprop")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let observer = try spawn(["observe", "--name", name.rawValue, "--id", "watcher", "--until", "open", "--timeout-ms", "20000"])
            #expect(await eventually(timeout: .seconds(20)) { observer.output.contains("ready") })
            try await withFleet(count: 1, redis: redis) { fleet in
                let breaker = try await fleet.breakers(name, options: fastOptions(threshold: 2, openTimeout: .seconds(60)))[0]
                await record(breaker, .failure, count: 2)
                await fleet.groups[0].flush()
                let output = await finish([observer])[0]
                #expect(output.contains("state open v1"))
                await fleet.stop()
            }
        }
    }

    @Test("a process started after another was killed with SIGKILL adopts the stored open state")
    func restartAdoption() async throws {
        let name = try uniqueName("prestart")
        try await withKeysDeleted([name.stateKey], pool: pool) {
            let tripper = try spawn(["record", "--name", name.rawValue, "--id", "doomed", "--tasks", "1", "--calls", "3", "--outcome", "failure", "--threshold", "3", "--open-timeout-ms", "60000"])
            #expect(await eventually(timeout: .seconds(20)) { (try? await storedFields(name, pool)["state"]) == "open" })
            tripper.stop(signal: SIGKILL)
            let fresh = try spawn(["observe", "--name", name.rawValue, "--id", "reborn", "--until", "open", "--timeout-ms", "100", "--open-timeout-ms", "60000"])
            let output = await finish([fresh])[0]
            #expect(output.contains("ready v1 open"))
            #expect(output.contains("state open v1"))
        }
    }
}
