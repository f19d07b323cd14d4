import ArgumentParser
import BreakerCore
import Foundation
import RedisClient
import SharedBreaker

/// `breakwater status [NAME…] [--json]`: breakers as stored in Redis.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show breakers read from Redis (all cb_state:* when no name is given).")

    @OptionGroup var redis: RedisOptions
    @Argument(help: "Breaker names.") var names: [String] = []
    @Flag(name: .long, help: "Print JSON.") var json = false

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
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if json {
            print(try BreakerOutput.json(entries))
        } else if entries.isEmpty && missing.isEmpty {
            print("no breakers in Redis (no cb_state:* keys)")
        } else if !entries.isEmpty {
            print(BreakerOutput.statusTable(entries, nowMilliseconds: now))
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

/// Shared by `force-open`, `force-close` and `reset`.
struct ManualAction: ParsableArguments {
    @OptionGroup var redis: RedisOptions
    @Argument(help: "The breaker name.") var name: String

    func perform(_ verb: String, _ action: (BreakerAdmin, BreakerName) async throws -> StoredBreakerState) async throws {
        let breaker: BreakerName
        breaker = try breakerNames([name])[0]
        let pool = try redis.pool()
        defer { Task { await pool.shutdown() } }
        do {
            let state = try await action(BreakerAdmin(store: pool, instanceID: cliInstanceID()), breaker)
            print("\(breaker): \(verb) -> state \(state.state.rawValue), forced \(state.forced?.rawValue ?? "-"), version \(state.version)")
        } catch {
            throw runtimeFailure(error)
        }
    }
}

/// `breakwater force-open NAME`.
struct ForceOpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-open", abstract: "Hold a breaker open on every instance until reset.")
    @OptionGroup var action: ManualAction
    func run() async throws { try await action.perform("forced open") { try await $0.forceOpen($1) } }
}

/// `breakwater force-close NAME`.
struct ForceCloseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-close", abstract: "Hold a breaker closed on every instance until reset.")
    @OptionGroup var action: ManualAction
    func run() async throws { try await action.perform("forced closed") { try await $0.forceClose($1) } }
}

/// `breakwater reset NAME`.
struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Close a breaker, clear overrides and counters (statistics are kept).")
    @OptionGroup var action: ManualAction
    func run() async throws { try await action.perform("reset") { try await $0.reset($1) } }
}
