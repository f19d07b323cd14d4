// The README's "Using the library" example, compiled by `swift build` and run by a test
// (Tests/BreakwaterCLITests/LibraryExampleTests.swift checks the README shows this code).
// snippet:begin
import BreakerCore
import Foundation
import RedisClient
import SharedBreaker

@main
struct LibraryExample {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let redis = try RedisConfiguration(url: environment["REDIS_URL"] ?? "redis://127.0.0.1:6379", environment: environment)
        // One group per process: it owns the Redis pool, the pub/sub listener and the flusher.
        let group = SharedBreakerGroup(instanceID: "example-\(getpid())", redis: redis)
        let runner = Task { await group.run() }

        var policy = BreakerConfig(failureThreshold: 3, openTimeout: .seconds(30))
        policy.maxOpenTimeout = .seconds(600)
        let breaker = try await group.breaker(
            named: try BreakerName("example-api"),
            options: SharedBreakerOptions(breaker: policy, tripQuorum: 1, onStoreFailure: .local)
        )

        // 1. `run` admits, times out, classifies the error and records the outcome.
        let answer = try await breaker.run(timeout: .seconds(2)) { 42 }
        print("run returned \(answer); state \(breaker.view.state.rawValue)")

        // 2. Or acquire/record around your own call.
        for _ in 0..<3 {
            do {
                let ticket = try await breaker.acquire(callTimeout: .seconds(2))
                let started = breaker.clock.now()
                let failed = true  // pretend the upstream failed
                await breaker.record(failed ? .failure : .success, duration: breaker.clock.now() - started, ticket: ticket)
            } catch {
                // acquire throws only CircuitOpenError (typed throws): open, or no probe left.
                print("rejected: \(error)")
            }
        }
        await group.flush()
        print("after 3 failures: \(breaker.view.state.rawValue) (every instance sharing Redis agrees)")

        try await breaker.reset()
        runner.cancel()
        await group.shutdown()
    }
}
// snippet:end
