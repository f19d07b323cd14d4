import BreakwaterTestSupport
import Foundation
import Testing

/// The state fuzzer (`breakwater-modelcheck --fuzz-state`) for a bounded number of seeds on the
/// test Redis: every key the product owns corrupted in every value class, every script
/// operation called at and beyond the config's bounds, invariants after every step. Long runs
/// are in `scripts/chaos --only fuzz-state`.
@Suite("State fuzzer: every owned key, every value class, every operation", .serialized, .tags(.integration))
struct StateFuzzTests {
    /// SLOWLOG bound 1 s: the suite runs many suites at once on a busy 2-core machine, where a
    /// 10 ms call can take 200 ms of wall time; work that explodes with the input (loops of 10⁹
    /// steps, BUSY) still shows. `scripts/chaos --only 9` checks 50 ms on a quiet machine.
    @Test("a fixed set of seeds keeps every invariant")
    func fixedSeeds() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["REDIS_URL"], "REDIS_URL is not set")
        let fuzzer = try ChildProcess(builtExecutable("breakwater-modelcheck"),
                                      ["--fuzz-state", "--seeds", "1..12", "--steps", "250", "--slow-ms", "1000", "--redis", url])
        let code = await fuzzer.exited(within: .seconds(300))
        if code == nil { _ = fuzzer.stop(signal: SIGKILL) }
        #expect(code == 0, "\(fuzzer.output.suffix(4000))")
        #expect(fuzzer.output.contains("fuzz-state: seeds=12 steps=250 violations=0"), "\(fuzzer.output.suffix(2000))")
    }

    /// Seeds that once left garbage in the stored layout marker (`schema=1e20`) and the stored
    /// policy (`base_open_timeout_ms=3.5`) after a write, when the caller sent its own policy.
    @Test("seeds that found stored-policy garbage outliving a write stay clean")
    func regressionSeeds() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["REDIS_URL"], "REDIS_URL is not set")
        let fuzzer = try ChildProcess(builtExecutable("breakwater-modelcheck"),
                                      ["--fuzz-state", "--seeds", "250223..250226", "--steps", "300", "--slow-ms", "1000", "--redis", url])
        let code = await fuzzer.exited(within: .seconds(300))
        if code == nil { _ = fuzzer.stop(signal: SIGKILL) }
        #expect(code == 0, "\(fuzzer.output.suffix(4000))")
        #expect(fuzzer.output.contains("fuzz-state: seeds=4 steps=300 violations=0"), "\(fuzzer.output.suffix(2000))")
    }
}
