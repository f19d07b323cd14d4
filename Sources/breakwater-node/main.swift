// breakwater-node: a small process that multi-process tests spawn (one "instance" each).
//
//   breakwater-node record  --name N --id ID --tasks T --calls C --outcome success|failure [--threshold K] [--start-at-ms MS]
//                           [--duration-ms MS --pause-ms P]   (instead of C calls: call every P ms for MS ms)
//   breakwater-node probe   --name N --id ID --tasks T [--hold-ms MS] [--open-timeout-ms MS] [--outcome success|failure|none]
//   breakwater-node observe --name N --id ID --until open|closed|half-open [--timeout-ms MS]
//   breakwater-node tripper  --name N --id ID     (stdin: "reset" -> "ok", "trip" -> "t0 <ns>", "quit")
//   breakwater-node follower --name N --id ID     (stdout: "ready <state>", then "<state> <ns> v<version>" per transition)
//
// `record … --print-rss` also prints "rss_kb <before> <after>" (VmRSS before the calls and after the flush).
// Times (<ns>) are CLOCK_MONOTONIC, comparable across processes on one host (scripts/bench).
//
// Redis comes from REDIS_URL. Output: one line per fact, e.g. "admitted 3", "state open v1".
import BreakerSchema
import BreakerCore
import Foundation
import Logging
import RedisClient
import SharedBreaker

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
func say(_ line: String) {
    // One unbuffered write per line. (Not print + fflush(nil): fflush(NULL) also locks stdin,
    // which the tripper's and follower's reader thread holds while blocked in readLine().)
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

let command = arguments.first ?? ""
let name = try BreakerName(option("--name") ?? "node")
let instance = option("--id") ?? "node-\(getpid())"
let tasks = Int(option("--tasks") ?? "1") ?? 1
let calls = Int(option("--calls") ?? "1") ?? 1
let outcomeName = option("--outcome") ?? "success"
let durationMs = option("--duration-ms").flatMap(Int64.init)
let pauseMs = Int64(option("--pause-ms") ?? "2") ?? 2
var config = BreakerConfig(failureThreshold: Int(option("--threshold") ?? "5") ?? 5)
config.openTimeout = .milliseconds(Int64(option("--open-timeout-ms") ?? "300000") ?? 300_000)
config.halfOpenMaxCalls = Int(option("--half-open-max") ?? "3") ?? 3
let options = SharedBreakerOptions(breaker: config, probeLease: .milliseconds(Int64(option("--lease-ms") ?? "15000") ?? 15_000))

let redis = try RedisConfiguration(url: ProcessInfo.processInfo.environment["REDIS_URL"] ?? RedisConfiguration.defaultURL)
let group = SharedBreakerGroup(instanceID: instance, redis: redis, pollInterval: .milliseconds(200))
let background = Task { await group.run() }
let breaker: SharedBreaker
do {
    breaker = try await group.breaker(named: name, options: options)
} catch {
    FileHandle.standardError.write(Data("breakwater-node: invalid breaker options: \(error)\n".utf8))
    exit(2)
}

/// CLOCK_MONOTONIC in ns: one system-wide clock, so two processes' stamps can be subtracted.
func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// This process's resident set size in kB (`VmRSS` in /proc/self/status), or -1.
func residentKilobytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// Lines of standard input, read on a thread of their own (a blocking read must not hold
/// one of the cooperative pool's few threads while the breaker group needs them).
func standardInputLines() -> AsyncStream<String> {
    let (lines, continuation) = AsyncStream.makeStream(of: String.self)
    Thread.detachNewThread {
        while let line = readLine() { continuation.yield(line) }
        continuation.finish()
    }
    return lines
}

/// Sleeps until a wall-clock instant shared by all processes (a start barrier).
func waitForStart() async {
    guard let startAt = option("--start-at-ms").flatMap(Int64.init) else { return }
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    if startAt > now { try? await Task.sleep(for: .milliseconds(startAt - now)) }
}

switch command {
case "record":
    await waitForStart()
    let rssBefore = residentKilobytes()
    let outcome: CallOutcome = outcomeName == "failure" ? .failure : .success
    let admitted = await withTaskGroup(of: Int.self) { tasksGroup in
        for _ in 0..<tasks {
            tasksGroup.addTask {
                var admitted = 0
                if let durationMs {
                    // Timed mode (e.g. across a Sentinel failover): keep calling until the deadline.
                    let deadline = ContinuousClock.now + .milliseconds(durationMs)
                    while ContinuousClock.now < deadline {
                        if let ticket = try? await breaker.acquire() {
                            admitted += 1
                            await breaker.record(outcome, duration: .milliseconds(1), ticket: ticket)
                        }
                        try? await Task.sleep(for: .milliseconds(pauseMs))
                    }
                    return admitted
                }
                for _ in 0..<calls {
                    guard let ticket = try? await breaker.acquire() else { continue }
                    admitted += 1
                    await breaker.record(outcome, duration: .milliseconds(1), ticket: ticket)
                }
                return admitted
            }
        }
        var total = 0
        for await count in tasksGroup { total += count }
        return total
    }
    await group.flush()
    say("admitted \(admitted)")
    if arguments.contains("--print-rss") { say("rss_kb \(rssBefore) \(residentKilobytes())") }
case "probe":
    await waitForStart()
    let hold = Int64(option("--hold-ms") ?? "0") ?? 0
    let granted = await withTaskGroup(of: Int.self) { tasksGroup in
        for _ in 0..<tasks {
            tasksGroup.addTask {
                guard let ticket = try? await breaker.acquire() else { return 0 }
                if hold > 0 { try? await Task.sleep(for: .milliseconds(hold)) }
                switch outcomeName {
                case "failure": await breaker.record(.failure, duration: .milliseconds(1), ticket: ticket)
                case "none": break // a prober that dies: the lease must expire
                default: await breaker.record(.success, duration: .milliseconds(1), ticket: ticket)
                }
                return 1
            }
        }
        var total = 0
        for await count in tasksGroup { total += count }
        return total
    }
    say("admitted \(granted)")
case "observe":
    let target = option("--until") ?? "open"
    let timeout = Int64(option("--timeout-ms") ?? "10000") ?? 10_000
    let deadline = ContinuousClock.now + .milliseconds(timeout)
    say("ready v\(breaker.view.version) \(breaker.view.state.rawValue)")
    while ContinuousClock.now < deadline {
        if breaker.view.state.rawValue == target {
            say("state \(target) v\(breaker.view.version)")
            break
        }
        try? await Task.sleep(for: .milliseconds(1))
    }
    if breaker.view.state.rawValue != target { say("timeout \(breaker.view.state.rawValue)") }
case "tripper":
    // Propagation trials, A side: records the tripping failure (use --threshold 1) on "trip".
    for await line in standardInputLines() {
        switch line {
        case "reset":
            do { try await breaker.reset() } catch { say("error \(error)"); continue }
            let deadline = ContinuousClock.now + .seconds(10)
            while breaker.view.state != .closed && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(1)) }
            say(breaker.view.state == .closed ? "ok" : "error view \(breaker.view.state.rawValue) after reset")
        case "trip":
            guard let ticket = try? await breaker.acquire() else { say("rejected"); continue }
            let t0 = monotonicNanoseconds()
            await breaker.record(.failure, duration: .milliseconds(1), ticket: ticket)
            // Sent before the reply, so the next "reset" cannot overtake the queued failure.
            await group.flush()
            say("t0 \(t0)")
        default:
            break
        }
        if line == "quit" { break }
    }
case "follower":
    // Propagation trials, B side: stamps every transition its view goes through (the moment
    // admission starts rejecting is the moment the view turns open).
    breaker.onTransition { transition in
        say("\(transition.to.rawValue) \(monotonicNanoseconds()) v\(transition.version)")
    }
    say("ready \(breaker.view.state.rawValue)")
    for await line in standardInputLines() where line == "quit" { break }
default:
    say("usage: breakwater-node record|probe|observe|tripper|follower --name N --id ID …")
    exit(2)
}
background.cancel()
await group.shutdown()
exit(0)
