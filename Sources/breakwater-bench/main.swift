// breakwater-bench: micro-benchmarks that print figures (never assertions).
//
//   breakwater-bench redis  [--url URL] [--ops N]   sequential/pipelined SET+GET vs redis-benchmark -c 1
//   breakwater-bench core                           BreakerCore admit+record ns/op
//   breakwater-bench shared [--url URL] [--trials N] admission ns/op, outcomes/s, propagation p50/p99
//   breakwater-bench library [--url URL] [--iterations N] [--load-seconds S] [--breakers K]
//                                                   FIG lines for scripts/bench (LibraryBench)
//   breakwater-bench all    [--url URL]
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
let url = option("--url") ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
let operations = option("--ops").flatMap(Int.init) ?? 100_000

switch arguments.first ?? "all" {
case "redis":
    try await RedisBench.run(url: url, operations: operations)
case "core":
    CoreBench.run()
case "shared":
    try await SharedBench.run(url: url, trials: option("--trials").flatMap(Int.init) ?? 300)
case "library":
    try await LibraryBench.run(
        url: url, iterations: option("--iterations").flatMap(Int.init) ?? 1_000_000,
        loadSeconds: option("--load-seconds").flatMap(Double.init) ?? 2, breakers: option("--breakers").flatMap(Int.init) ?? 1_000
    )
case "all":
    CoreBench.run()
    try await RedisBench.run(url: url, operations: operations)
    try await SharedBench.run(url: url, trials: option("--trials").flatMap(Int.init) ?? 300)
default:
    print("usage: breakwater-bench redis|core|shared|library|all [--url URL] [--ops N] [--trials N]")
    exit(2)
}
