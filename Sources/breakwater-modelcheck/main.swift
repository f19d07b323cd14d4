// breakwater-modelcheck: scripts/chaos scenario 7. Drives the shared breaker's Lua script from
// three instances on one real redis-server with a random sequence of outcomes, probes, clock
// jumps and manual actions per seed, and checks `cb_state:<name>` against a reference model
// (BreakerCore's BreakerMachine plus the shared breaker's additions, see ReferenceBreaker)
// after every step.
//
//   breakwater-modelcheck --seeds A..B [--steps N] [--redis URL] [--parallel P] [--trace]
//   breakwater-modelcheck --fuzz-state --seeds A..B [--steps N] [--seconds S] [--slow-ms MS] [--redis URL] [--trace]
//
// --fuzz-state runs the state fuzzer instead (StateFuzz.swift): seeded corruption of every key
// the product owns and script calls at and beyond the config's bounds, with invariants after
// every step; --seconds stops starting new seeds after S seconds (long runs in scripts/chaos).
//
// One line per seed; on a divergence the seed's recent steps and a replay command. Exit 0 when
// every seed matched, 1 on a divergence, 2 on a usage or Redis error.
import SafeNumbers
import Foundation
import Logging
import RedisClient

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("breakwater-modelcheck: \(message)\n".utf8))
    exit(2)
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

let seedSpec = option("--seeds") ?? "1..20"
let bounds = seedSpec.components(separatedBy: "..").compactMap { UInt64($0) }
guard bounds.count == 1 || bounds.count == 2, let first = bounds.first, let last = bounds.last, first <= last else {
    fail("--seeds takes A..B or N, got \(seedSpec)")
}
guard let steps = Int(option("--steps") ?? "200"), steps > 0 else { fail("--steps takes a positive integer") }
guard let parallel = Int(option("--parallel") ?? "4"), parallel > 0 else { fail("--parallel takes a positive integer") }
let trace = arguments.contains("--trace")
let url = option("--redis") ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? RedisConfiguration.defaultURL
let redis: RedisConfiguration
do { redis = try RedisConfiguration(url: url) } catch { fail("--redis \(RedisConfiguration.redacted(url)): \(error)") }

if arguments.contains("--fuzz-state") {
    let budget = option("--seconds").flatMap(Double.init)
    let pool = RedisConnectionPool(configuration: redis, size: 1)
    let begun = ContinuousClock.now
    var failed = 0
    var ran = 0
    for seed in first...last {
        if let budget, ContinuousClock.now - begun > .seconds(budget) { break }
        ran += 1
        do {
            var fuzz = StateFuzz(seed: seed, steps: steps, store: pool, trace: trace)
            if let slow = option("--slow-ms").flatMap(Int64.init), slow > 0 { fuzz.slowMilliseconds = slow }
            let o = try await fuzz.run()
            print("fuzz-state seed \(seed): ok steps=\(o.steps) calls=\(o.calls) corruptions=\(o.corruptions) validation_errors=\(o.cleanErrors) repaired_replies=\(o.repairs)")
        } catch let violation as StateFuzz.Violation {
            failed += 1
            print("fuzz-state seed \(seed): VIOLATION \(violation)")
            print("    replay: breakwater-modelcheck --fuzz-state --seeds \(seed) --steps \(steps) --redis URL --trace")
        } catch {
            failed += 1
            print("fuzz-state seed \(seed): ERROR \(error)")
        }
        fflush(nil)
    }
    let seconds = ContinuousClock.now - begun
    print("fuzz-state: seeds=\(ran) steps=\(steps) violations=\(failed) seconds=\(String(format: "%.1f", seconds.secondsValue))")
    await pool.shutdown()
    exit(failed > 0 ? 1 : 0)
}

let instances = (0..<3).map { _ in RedisConnectionPool(configuration: redis, size: 1) }
let admin = RedisConnectionPool(configuration: redis, size: 2)
let started = ContinuousClock.now
let seeds = Array(first...last)

let results: [Result<SeedRun.Outcome, any Error>] = await withTaskGroup(of: (Int, Result<SeedRun.Outcome, any Error>).self) { group in
    var collected = [Result<SeedRun.Outcome, any Error>?](repeating: nil, count: seeds.count)
    var next = 0
    func launch() {
        let index = next
        next += 1
        group.addTask {
            let run = SeedRun(seed: seeds[index], steps: steps, instances: instances, admin: admin, trace: trace)
            do { return (index, .success(try await run.run())) } catch { return (index, .failure(error)) }
        }
    }
    while next < min(parallel, seeds.count) { launch() }
    while let (index, result) = await group.next() {
        collected[index] = result
        switch result {
        case .success(let outcome) where outcome.divergence == nil:
            print("seed \(outcome.seed): ok steps=\(outcome.steps) version=\(outcome.version) opens=\(outcome.opens) "
                + "probes=\(outcome.probes) manual=\(outcome.manual) lapses=\(outcome.lapses) jumps=\(outcome.jumps)")
        case .success(let outcome):
            print("seed \(outcome.seed): DIVERGED \(outcome.divergence!)")
            print("    replay: breakwater-modelcheck --seeds \(outcome.seed) --steps \(steps) --redis URL --trace")
        case .failure(let error):
            print("seed \(seeds[index]): ERROR \(error)")
        }
        fflush(nil)
        if next < seeds.count { launch() }
    }
    return collected.map { $0! }
}

let diverged = results.filter { if case .success(let o) = $0 { return o.divergence != nil } else { return false } }.count
let errors = results.filter { if case .failure = $0 { return true } else { return false } }.count
let elapsed = ContinuousClock.now - started
print("modelcheck: seeds=\(seeds.count) steps=\(steps) diverged=\(diverged) errors=\(errors) seconds=\(String(format: "%.1f", elapsed.secondsValue))")
for pool in instances { await pool.shutdown() }
await admin.shutdown()
exit(diverged > 0 ? 1 : errors > 0 ? 2 : 0)
