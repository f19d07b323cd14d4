import ArgumentParser
import BreakerCore
import FleetCollection
import Foundation
import RedisClient
import SharedBreaker

/// `breakwater status [NAME…] [--json]`: breakers as stored in Redis.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show breakers read from Redis (all cb_state:* when no name is given).")

    @OptionGroup var redis: RedisOptions
    @Argument(help: "Breaker names.") var names: [String] = []
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Only breakers in this state: open, half-open, closed or forced.") var state: StateFilter?

    enum StateFilter: String, ExpressibleByArgument, CaseIterable {
        case open, halfOpen = "half-open", closed, forced

        func matches(_ stored: StoredBreakerState) -> Bool {
            switch self {
            case .open: return stored.state == .open
            case .halfOpen: return stored.state == .halfOpen
            case .closed: return stored.state == .closed
            case .forced: return stored.forced != nil
            }
        }
    }

    func run() async throws {
        let validated = try breakerNames(names)
        let pool = try redis.pool()
        defer { Task { await pool.shutdown() } }
        let admin = BreakerAdmin(store: pool, instanceID: cliInstanceID())
        let entries: [BreakerAdmin.Entry]
        var missing: [BreakerName] = []
        do {
            if validated.isEmpty {
                entries = try await admin.list()
            } else {
                var found: [BreakerAdmin.Entry] = []
                for name in validated {
                    if let entry = try await admin.read(name) { found.append(entry) } else { missing.append(name) }
                }
                entries = found
            }
        } catch {
            throw runtimeFailure(error)
        }
        let now = (try? await admin.serverTimeMilliseconds()) ?? Int64(Date().timeIntervalSince1970 * 1000)
        let shown = state.map { filter in entries.filter { filter.matches($0.state) } } ?? entries
        if json {
            print(try BreakerOutput.json(shown, nowMilliseconds: now))
        } else if entries.isEmpty && missing.isEmpty {
            print("no breakers in Redis (no cb_state:* keys)")
        } else if !entries.isEmpty {
            print(BreakerOutput.summary(entries))
            if !shown.isEmpty { print(BreakerOutput.statusTable(shown, nowMilliseconds: now)) }
            var schedules: [(String, ScheduleSnapshot)] = []
            for entry in shown {
                if let snapshot = try? await ScheduleSnapshot.read(name: entry.name.rawValue, store: pool) {
                    schedules.append((entry.name.rawValue, snapshot))
                }
            }
            if !schedules.isEmpty {
                print("")
                print(BreakerOutput.collectionTable(schedules, nowMilliseconds: now))
            }
        }
        if !missing.isEmpty {
            throw CommandFailure.runtime("no state in Redis for: " + missing.map { "\($0) (\($0.stateKey))" }.joined(separator: ", "))
        }
    }
}

/// `breakwater list [--json]`: one line per breaker.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "One line per breaker: name, state, version, open timeout, TTL.")

    @OptionGroup var redis: RedisOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        let pool = try redis.pool()
        defer { Task { await pool.shutdown() } }
        let entries: [BreakerAdmin.Entry]
        do {
            entries = try await BreakerAdmin(store: pool, instanceID: cliInstanceID()).list()
        } catch {
            throw runtimeFailure(error)
        }
        if json {
            print(try BreakerOutput.json(entries))
        } else {
            print(BreakerOutput.listTable(entries))
        }
    }
}

/// Shared by `force-open`, `force-close` and `reset`: who, why, and (overrides) for how long.
struct ManualActionOptions: ParsableArguments {
    @OptionGroup var redis: RedisOptions
    @Option(name: .long, help: "Who is acting (default: user@host); stored in the ledger.") var actor: String?
    @Option(name: .long, help: "Why; stored with the override and in the ledger (cb_log:<name>).") var note: String = ""

    var resolvedActor: String {
        if let actor, !actor.isEmpty { return actor }
        let environment = ProcessInfo.processInfo.environment
        let account = getpwuid(getuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
        let user = environment["USER"] ?? environment["LOGNAME"] ?? account ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }

    func manual(for duration: Duration? = nil) -> ManualAction {
        ManualAction(actor: resolvedActor, note: note, duration: duration)
    }

    func perform(_ names: [String], _ verb: String, _ action: (BreakerAdmin, BreakerName) async throws -> StoredBreakerState) async throws {
        let breakers = try breakerNames(names)
        let pool = try redis.pool()
        defer { Task { await pool.shutdown() } }
        do {
            let admin = BreakerAdmin(store: pool, instanceID: cliInstanceID())
            for breaker in breakers {
                let state = try await action(admin, breaker)
                var line = "\(breaker): \(verb) -> state \(state.state.rawValue), forced \(state.forced?.rawValue ?? "-"), version \(state.version)"
                if state.forcedUntilMilliseconds > 0 {
                    let now = try await admin.serverTimeMilliseconds()
                    line += ", lapses in \(BreakerOutput.seconds(max(0, state.forcedUntilMilliseconds - now)))"
                }
                print(line)
            }
        } catch {
            throw runtimeFailure(error)
        }
    }
}

/// Parses `--for` values: `90`, `90s`, `5m`, `2h`, `1d`, `1h30m`, `0.5s`.
func parseOverrideDuration(_ text: String) throws -> Duration {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    var total = 0.0
    var number = ""
    for character in text.trimmingCharacters(in: .whitespaces) {
        if character.isNumber || character == "." {
            number.append(character)
        } else if let unit = units[character], let value = Double(number) {
            total += value * unit
            number = ""
        } else {
            throw CommandFailure.usage("--for: cannot read \(text.debugDescription) (expected e.g. 90s, 5m, 2h, 1d, 1h30m)")
        }
    }
    if !number.isEmpty {
        guard let value = Double(number) else { throw CommandFailure.usage("--for: cannot read \(text.debugDescription)") }
        total += value
    }
    guard total >= 0.001, total <= 365 * 86400 else {
        throw CommandFailure.usage("--for must be between 1 ms and 365 days, got \(text.debugDescription)")
    }
    return .milliseconds(Int64((total * 1000).rounded()))
}

/// What `force-open` and `force-close` share: the name, `--for`, and the manual options.
struct OverrideOptions: ParsableArguments {
    @OptionGroup var action: ManualActionOptions
    @Argument(help: "The breaker name.") var name: String
    @Option(name: .customLong("for"), help: "Lapse after this long, by Redis server time (e.g. 30m, 2h).") var duration: String?

    func apply(_ verb: String, _ override: @escaping (BreakerAdmin, BreakerName, ManualAction) async throws -> StoredBreakerState) async throws {
        let manual = action.manual(for: try duration.map(parseOverrideDuration))
        try await action.perform([name], verb) { try await override($0, $1, manual) }
    }
}

/// `breakwater force-open NAME [--for D] [--note T] [--actor A]`.
struct ForceOpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-open", abstract: "Hold a breaker open on every instance until reset, or for --for (then it half-opens).")
    @OptionGroup var options: OverrideOptions
    func run() async throws { try await options.apply("forced open") { try await $0.forceOpen($1, $2) } }
}

/// `breakwater force-close NAME [--for D] [--note T] [--actor A]`.
struct ForceCloseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-close", abstract: "Hold a breaker closed on every instance until reset, or for --for (then it closes with counters cleared).")
    @OptionGroup var options: OverrideOptions
    func run() async throws { try await options.apply("forced closed") { try await $0.forceClose($1, $2) } }
}

/// `breakwater reset NAME…` or `breakwater reset --all --yes`.
struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Close breakers, clear overrides and counters (statistics are kept).")
    @OptionGroup var action: ManualActionOptions
    @Argument(help: "Breaker names.") var names: [String] = []
    @Flag(name: .long, help: "Reset every breaker in Redis (needs --yes).") var all = false
    @Flag(name: .long, help: "Confirm --all.") var yes = false

    func validate() throws {
        if all && !names.isEmpty { throw ValidationError("give breaker names or --all, not both") }
        if all && !yes { throw ValidationError("--all resets every breaker in Redis: add --yes to confirm") }
        if !all && names.isEmpty { throw ValidationError("give at least one breaker name, or --all --yes") }
    }

    func run() async throws {
        var targets = names
        if all {
            let pool = try action.redis.pool()
            do {
                targets = try await BreakerAdmin(store: pool, instanceID: cliInstanceID()).list().map(\.name.rawValue)
            } catch {
                await pool.shutdown()
                throw runtimeFailure(error)
            }
            await pool.shutdown()
            if targets.isEmpty {
                print("no breakers in Redis (no cb_state:* keys)")
                return
            }
        }
        let manual = action.manual()
        try await action.perform(targets, "reset") { try await $0.reset($1, manual) }
    }
}

/// `breakwater history NAME [--limit N] [--json]`: the ledger, newest first.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Transitions and manual actions of a breaker from its ledger (cb_log:<name>), newest first.")

    @OptionGroup var redis: RedisOptions
    @Argument(help: "The breaker name.") var name: String
    @Option(name: .long, help: "At most this many entries.") var limit: Int = 20
    @Flag(name: .long, help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be between 1 and 1000, got \(limit)") }
    }

    func run() async throws {
        let breaker = try breakerNames([name])[0]
        let pool = try redis.pool()
        defer { Task { await pool.shutdown() } }
        let entries: [LedgerEntry]
        do {
            entries = try await BreakerAdmin(store: pool, instanceID: cliInstanceID()).history(breaker, limit: limit)
        } catch {
            throw runtimeFailure(error)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(entries), as: UTF8.self))
        } else if entries.isEmpty {
            print("no history for \(breaker) (\(breaker.logKey) is empty)")
        } else {
            print(BreakerOutput.historyTable(entries))
        }
    }
}
