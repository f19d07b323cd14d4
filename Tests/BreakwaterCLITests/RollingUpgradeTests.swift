import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// The previous release's binaries, for a fleet half way through a rolling upgrade.
enum PreviousRelease {
    /// `BREAKWATER_PREVIOUS_BIN`: the directory with the previous release's `breakwater`
    /// (`scripts/previous-build` builds it and prints the directory; `scripts/test` sets it).
    static let binDirectory: String? = {
        let value = ProcessInfo.processInfo.environment["BREAKWATER_PREVIOUS_BIN"] ?? ""
        return value.isEmpty ? nil : value
    }()

    static var breakwater: String { URL(fileURLWithPath: binDirectory ?? "").appendingPathComponent("breakwater").path }
}

/// What one process shows of a breaker: the state, the version and the override.
struct BreakerView: Equatable, CustomStringConvertible {
    var state: String
    var version: Int
    /// `open` or `closed` while overridden, `nil` otherwise.
    var forced: String?
    var forcedNote: String?

    /// From a `/breakers` entry or a `status --json` entry.
    init?(_ object: [String: Any]?) {
        guard let object, let state = object["state"] as? String, let version = object["version"] as? Int else { return nil }
        self.state = state
        self.version = version
        let forced = object["forced"] as? String
        self.forced = forced?.isEmpty == false ? forced : nil
        let note = object["forced_note"] as? String
        forcedNote = note?.isEmpty == false ? note : nil
    }

    var description: String { "\(state) v\(version)" + (forced.map { " forced \($0)" } ?? "") + (forcedNote.map { " (\($0))" } ?? "") }
}

/// A rolling upgrade in progress: daemons and CLIs of the previous release and of this build
/// share one Redis and one breaker, and must agree on every state, override and ledger entry.
@Suite(
    "Rolling upgrade: the previous release next to this build on one Redis", .serialized,
    .enabled(
        if: PreviousRelease.binDirectory != nil,
        "BREAKWATER_PREVIOUS_BIN is not set: run scripts/previous-build and set it to the directory it prints (scripts/test does)"
    )
)
struct RollingUpgradeTests {
    @Test("old and new daemons and CLIs share a breaker: trips, recoveries, overrides, the ledger and the stored layout")
    func mixedFleet() async throws {
        let old = PreviousRelease.breakwater
        try #require(FileManager.default.isExecutableFile(atPath: old), "no previous-release breakwater at \(old)")
        let server = try RedisServerProcess()
        defer { server.stop() }
        let pool = RedisConnectionPool(configuration: try RedisConfiguration(url: server.url), size: 1)
        let env = ["REDIS_URL": server.url]
        let name = "upgrade-\(UUID().uuidString.prefix(8).lowercased())"
        let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
        // The same collector and policy on both; a 2 s open period leaves both views time to
        // show the same open version before the next probe.
        let oldDaemon = try DaemonProcess(instance: "upgrade-old", collectorName: name, upstream: upstream, openTimeoutSeconds: 2, executable: old, redisURL: server.url)
        let newDaemon = try DaemonProcess(instance: "upgrade-new", collectorName: name, upstream: upstream, openTimeoutSeconds: 2, redisURL: server.url)
        let daemons = [oldDaemon, newDaemon]

        func stored(_ field: String) async -> String? {
            try? await pool.execute("HGET", "cb_state:" + name, field).string
        }
        func cliStatus(_ executable: String) async -> BreakerView? {
            guard let result = try? await breakwater(["status", name, "--json"], environment: env, executable: executable), result.exitCode == 0,
                  let entries = try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]] else { return nil }
            return BreakerView(entries.first { $0["name"] as? String == name })
        }
        /// Waits until both daemons' `/breakers` views satisfy `condition` with one version.
        func bothDaemons(_ condition: (BreakerView) -> Bool) async -> (agreed: Bool, views: String) {
            var last: [BreakerView?] = []
            let agreed = await eventually(timeout: .seconds(90), interval: .milliseconds(50)) {
                last = daemons.map { BreakerView($0.breakerStatus(name)) }
                let views = last.compactMap(\.self)
                return views.count == daemons.count && views.allSatisfy(condition) && Set(views.map(\.version)).count == 1
            }
            return (agreed, "old daemon: \(describe(last.first ?? nil)), new daemon: \(describe(last.last ?? nil))")
        }

        // Both poll the upstream while it is healthy, and both write the shared breaker.
        #expect(await eventually(timeout: .seconds(60)) { daemons.allSatisfy { BreakerView($0.breakerStatus(name))?.state == "closed" } })
        #expect(await eventually(timeout: .seconds(60)) { await stored("updated_by") == newDaemon.instance }, "the new daemon never wrote cb_state")

        // 1) Trip: both views open at one version.
        try upstream.setMode("error500")
        let tripped = await bothDaemons { $0.state == "open" && $0.forced == nil }
        #expect(tripped.agreed, "views did not agree on open: \(tripped.views)")

        // 2) Recovery: both closed again at one version.
        try upstream.setMode("healthy")
        let recovered = await bothDaemons { $0.state == "closed" && $0.forced == nil }
        #expect(recovered.agreed, "views did not agree on closed: \(recovered.views)")

        // 3) An override set by the old CLI is seen by the new daemon and the new CLI...
        let note = "rolling upgrade drill"
        let forceOpen = try await breakwater(["force-open", name, "--note", note, "--for", "10m", "--actor", "old-cli"], environment: env, executable: old)
        #expect(forceOpen.exitCode == 0, "old CLI force-open: \(forceOpen.output)")
        var newDaemonView: BreakerView?
        let newDaemonForced = await eventually(timeout: .seconds(30)) {
            newDaemonView = BreakerView(newDaemon.breakerStatus(name))
            return newDaemonView?.state == "open" && newDaemonView?.forced == "open" && newDaemonView?.forcedNote == note
        }
        #expect(newDaemonForced, "new daemon: \(describe(newDaemonView))")
        let newCLIForced = await cliStatus(Built.breakwater)
        #expect(newCLIForced?.state == "open" && newCLIForced?.forced == "open" && newCLIForced?.forcedNote == note, "new CLI: \(describe(newCLIForced))")
        let forcedVersion = newCLIForced?.version ?? 0

        // ...and a reset by the new CLI is seen by the old daemon and the old CLI.
        let reset = try await breakwater(["reset", name, "--note", "drill over", "--actor", "new-cli"], environment: env)
        #expect(reset.exitCode == 0, "new CLI reset: \(reset.output)")
        var oldDaemonView: BreakerView?
        let oldDaemonReset = await eventually(timeout: .seconds(30)) {
            oldDaemonView = BreakerView(oldDaemon.breakerStatus(name))
            return oldDaemonView?.state == "closed" && oldDaemonView?.forced == nil && (oldDaemonView?.version ?? 0) > forcedVersion
        }
        #expect(oldDaemonReset, "old daemon: \(describe(oldDaemonView))")
        let oldCLIReset = await cliStatus(old)
        #expect(oldCLIReset?.state == "closed" && oldCLIReset?.forced == nil, "old CLI: \(describe(oldCLIReset))")

        // 4) The ledger reads the same from both CLIs: the trip, the recovery, both manual actions.
        let oldHistory = try await history(executable: old, name: name, environment: env)
        let newHistory = try await history(executable: Built.breakwater, name: name, environment: env)
        #expect(oldHistory == newHistory, "old CLI:\n\(oldHistory.joined(separator: "\n"))\nnew CLI:\n\(newHistory.joined(separator: "\n"))")
        for expected in ["closed->open failure_threshold", "half-open->closed probes_succeeded", "->open forced_open by old-cli: \(note)", "open->closed reset by new-cli: drill over"] {
            #expect(newHistory.contains { $0.contains(expected) }, "no ledger entry with \"\(expected)\" in:\n\(newHistory.joined(separator: "\n"))")
        }

        // 6) Once a new daemon has written, the stored layout is marked...
        #expect(await eventually(timeout: .seconds(60)) { await stored("updated_by") == newDaemon.instance }, "the new daemon did not write cb_state after the reset")
        #expect(await stored("schema") == "1", "cb_state:\(name) has no schema field after a new daemon wrote it")
        // ...and the old daemon keeps working next to it: it writes, trips and recovers with the new one.
        #expect(await eventually(timeout: .seconds(60)) { await stored("updated_by") == oldDaemon.instance }, "the old daemon stopped writing cb_state")
        try upstream.setMode("error500")
        let trippedAgain = await bothDaemons { $0.state == "open" && $0.forced == nil }
        #expect(trippedAgain.agreed, "views did not agree on open after the upgrade: \(trippedAgain.views)")
        #expect(await cliStatus(old)?.state == "open", "the old CLI does not read the breaker as open")
        try upstream.setMode("healthy")
        let recoveredAgain = await bothDaemons { $0.state == "closed" && $0.forced == nil }
        #expect(recoveredAgain.agreed, "views did not agree on closed after the upgrade: \(recoveredAgain.views)")

        // 5) Neither daemon hit a script error or state it could not read; both drain on SIGTERM.
        for daemon in daemons {
            let problems = BreakwaterLog.incompatibilities(in: daemon.log)
            #expect(problems.isEmpty, "\(daemon.instance): \(problems.joined(separator: "\n")) (warnings: \(BreakwaterLog.warnings(in: daemon.log).joined(separator: "\n")))")
            #expect(await daemon.terminate() == 0, "\(daemon.instance) did not drain: \(daemon.log.suffix(2000))")
        }
        await pool.shutdown()
    }

    func describe(_ view: BreakerView?) -> String { view?.description ?? "unreadable" }

    /// `history NAME --json` of one CLI, one line per entry (version, transition, reason, actor, note).
    func history(executable: String, name: String, environment: [String: String]) async throws -> [String] {
        let result = try await breakwater(["history", name, "--json", "--limit", "200"], environment: environment, executable: executable)
        #expect(result.exitCode == 0, "\(executable) history: \(result.output)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]], "\(executable) history: \(result.output)")
        return entries.map { entry in
            let text = { (key: String) in entry[key] as? String ?? "" }
            let version = entry["version"] as? Int ?? -1
            let note = text("note").isEmpty ? "" : ": \(text("note"))"
            return "v\(version) \(text("from"))->\(text("to")) \(text("reason")) by \(text("actor").isEmpty ? text("by") : text("actor"))\(note)"
        }
    }
}
