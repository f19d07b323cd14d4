import BreakerCore
import BreakwaterTestSupport
import Foundation
import SafeNumbers
@testable import RedisClient
import Testing
@testable import SharedBreaker

/// Shared breakers over `redis-sentinel://` across a `SENTINEL FAILOVER`.
@Suite("Shared breakers over Redis Sentinel", .serialized, .tags(.integration))
struct SentinelFailoverTests {
    @Test("3 instances record outcomes, trip and recover a breaker, and keep doing so across a failover")
    func breakersSurviveFailover() async throws {
        try await withSentinelCluster { cluster in
            var redis = try RedisConfiguration(url: cluster.url())
            redis.initialReconnectDelay = .milliseconds(20)
            redis.maximumReconnectDelay = .milliseconds(250)
            redis.connectTimeout = .milliseconds(500)
            try await withFleet(count: 3, redis: redis, pollInterval: .milliseconds(100)) { fleet in
                let name = try uniqueName("sentinel")
                let breakers = try await fleet.breakers(name, options: fastOptions(threshold: 1, openTimeout: .seconds(2), halfOpenMax: 1, successes: 1))

                func stored(on port: Int) async -> [String: String] {
                    (try? await cluster.command(port: port, "HGETALL", name.stateKey).fieldDictionary ?? [:]) ?? [:]
                }
                func tripAndRecover(on port: Int, by index: Int) async {
                    await record(breakers[index], .failure)
                    await fleet.groups[index].flush()
                    // Open for 2 s: long enough to observe on a loaded machine (300 ms was not).
                    #expect(await eventually { breakers.allSatisfy { $0.view.state == .open } })
                    #expect(await stored(on: port)["circuit_opens"].flatMap { Int($0) } ?? 0 >= 1)
                    let recovered = await eventually(timeout: .seconds(15), interval: .milliseconds(50)) {
                        await record(breakers[(index + 1) % 3], .success)
                        return breakers.allSatisfy { $0.view.state == .closed }
                    }
                    #expect(recovered)
                    #expect(await stored(on: port)["state"] == "closed")
                }

                // Before: trip and recover on the initial master.
                await tripAndRecover(on: cluster.master.port, by: 0)
                let before = await stored(on: cluster.master.port)
                // Replication caught up, so the failover can only lose what is written during it.
                #expect(await eventually { await stored(on: cluster.replica.port)["version"] == before["version"] })

                // Outcomes keep flowing during the failover, as in production.
                let traffic = Task {
                    var calls = 0
                    while !Task.isCancelled {
                        for breaker in breakers { await record(breaker, .success) }
                        calls += 3
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    return calls
                }
                let promotion = await cluster.failOver()
                #expect(promotion != nil, "the replica was never promoted")
                let promotedAt = promotion ?? ContinuousClock.now
                let newMaster = RedisConfiguration.Endpoint.tcp(host: "127.0.0.1", port: cluster.replica.port)
                // Every instance's pool follows the new master.
                let followed = await eventually(timeout: .seconds(30), interval: .milliseconds(10)) {
                    for group in fleet.groups {
                        guard (try? await group.store.execute("PING")) != nil, group.store.sentinel?.currentMaster == newMaster else { return false }
                    }
                    return true
                }
                let followMs = (ContinuousClock.now - promotedAt).millisecondsClamped
                #expect(followed)
                let calls = await { traffic.cancel(); return await traffic.value }()
                for group in fleet.groups { await group.flush() }
                let afterFailover = await stored(on: cluster.replica.port)

                // After: the breaker still trips and recovers, now on the new master.
                await tripAndRecover(on: cluster.replica.port, by: 2)
                let after = await stored(on: cluster.replica.port)
                print("sentinel failover (shared breakers): 3 instances followed \(followMs) ms after the promotion; \(calls) outcomes recorded during it; stored version before \(before["version"] ?? "?"), on the new master after the failover \(afterFailover["version"] ?? "?"), after one more trip and recovery \(after["version"] ?? "?"); state \(after["state"] ?? "?")")
                #expect(followMs < 5000)
                #expect((Int(after["version"] ?? "") ?? 0) >= (Int(before["version"] ?? "") ?? 0) + 2)
                for breaker in breakers { #expect(breaker.status().storeAvailable) }
            }
        }
    }

    @Test("3 breakwater-node processes record outcomes across a failover: no crash, they follow, a trip lands on the new master")
    func processesSurviveFailover() async throws {
        try await withSentinelCluster { cluster in
            let node = builtExecutable("breakwater-node")
            let environment = ["REDIS_URL": cluster.url()]
            let name = try uniqueName("psentinel")
            func stored(on port: Int) async -> [String: String] {
                (try? await cluster.command(port: port, "HGETALL", name.stateKey).fieldDictionary ?? [:]) ?? [:]
            }
            let processes = try (0..<3).map { index in
                try ChildProcess(node, ["record", "--name", name.rawValue, "--id", "p\(index)", "--tasks", "2", "--outcome", "success",
                                        "--threshold", "10000", "--duration-ms", "8000", "--pause-ms", "5"], environment: environment)
            }
            defer { for process in processes { process.stop(signal: SIGKILL) } }
            // Fail over once every process is writing.
            #expect(await eventually(timeout: .seconds(30)) { Int(await stored(on: cluster.master.port)["total_successes"] ?? "") ?? 0 > 0 })
            let promotion = await cluster.failOver()
            #expect(promotion != nil, "the replica was never promoted")
            let promotedAt = promotion ?? ContinuousClock.now
            let atPromotion = Int(await stored(on: cluster.replica.port)["total_successes"] ?? "") ?? 0
            // The processes' writes reach the new master.
            var followedAt = ContinuousClock.now
            #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(10)) {
                followedAt = ContinuousClock.now
                return Int(await stored(on: cluster.replica.port)["total_successes"] ?? "") ?? 0 > atPromotion
            })
            var admitted = 0
            for process in processes {
                let code = await process.exited(within: .seconds(60))
                #expect(code == 0, "node exited with \(String(describing: code)): \(process.output.suffix(2000))")
                let line = process.output.split(separator: "\n").first { $0.hasPrefix("admitted ") }
                admitted += line.flatMap { Int($0.dropFirst("admitted ".count)) } ?? 0
            }
            let storedSuccesses = Int(await stored(on: cluster.replica.port)["total_successes"] ?? "") ?? 0
            print("sentinel failover (3 processes): outcomes reached the new master \((followedAt - promotedAt).millisecondsClamped) ms after the promotion; admitted \(admitted), stored on the new master \(storedSuccesses), lost \(admitted - storedSuccesses) (acknowledged by the old master after the promotion)")
            #expect((followedAt - promotedAt) < .seconds(5))
            #expect(storedSuccesses > 0 && storedSuccesses <= admitted)

            // A trip recorded by a fresh process lands on the new master and every process sees it.
            let observer = try ChildProcess(node, ["observe", "--name", name.rawValue, "--id", "obs", "--until", "open", "--timeout-ms", "20000"], environment: environment)
            defer { observer.stop(signal: SIGKILL) }
            #expect(await eventually(timeout: .seconds(20)) { observer.output.contains("ready ") })
            let tripper = try ChildProcess(node, ["record", "--name", name.rawValue, "--id", "trip", "--tasks", "1", "--calls", "3", "--outcome", "failure", "--threshold", "1"], environment: environment)
            #expect(await tripper.exited(within: .seconds(60)) == 0, "\(tripper.output)")
            #expect(await observer.exited(within: .seconds(60)) == 0)
            #expect(observer.output.contains("state open"), "observer: \(observer.output.suffix(1000))")
            #expect(await stored(on: cluster.replica.port)["state"] == "open")
        }
    }
}
