import BreakwaterConfig
import Foundation
import Logging
import Synchronization

/// The collectors' API keys, re-read on `SIGHUP` without a restart.
///
/// Keys come from `api_key_env` (the process environment, overlaid by an env file given to
/// `breakwater run --env-file`) or `api_key_file`. A reload that fails for a collector keeps
/// that collector's previous key and logs why; keys are never logged.
final class APIKeys: Sendable {
    private let collectors: [CollectorConfiguration]
    private let processEnvironment: [String: String]
    private let environmentFile: String?
    private let keys = Mutex<[String: String]>([:])

    /// Reads every key once.
    ///
    /// - Throws: ``DaemonError`` naming the collector and where its key should be.
    init(collectors: [CollectorConfiguration], environment: [String: String], environmentFile: String?) throws {
        self.collectors = collectors
        self.processEnvironment = environment
        self.environmentFile = environmentFile
        let environment = try Self.environment(environment, overlaidBy: environmentFile)
        var loaded: [String: String] = [:]
        for collector in collectors {
            do {
                if let key = try collector.resolveSecret(environment: environment) { loaded[collector.name] = key }
            } catch {
                throw DaemonError(message: "\(error)")
            }
        }
        keys.withLock { $0 = loaded }
    }

    /// The current key of a collector, if it has one.
    func key(for collector: String) -> String? {
        keys.withLock { $0[collector] }
    }

    /// Re-reads the env file and every key.
    ///
    /// - Returns: How many keys changed, and one line per collector whose key could not be
    ///   read (that collector keeps its previous key).
    @discardableResult
    func reload() -> (changed: Int, problems: [String]) {
        let environment: [String: String]
        do {
            environment = try Self.environment(processEnvironment, overlaidBy: environmentFile)
        } catch {
            return (0, ["\(error)"])
        }
        var problems: [String] = []
        var fresh: [String: String] = [:]
        for collector in collectors {
            do {
                if let key = try collector.resolveSecret(environment: environment) { fresh[collector.name] = key }
            } catch {
                problems.append("\(error)")
            }
        }
        let changed = keys.withLock { keys -> Int in
            var changed = 0
            for (name, key) in fresh where keys[name] != key {
                keys[name] = key
                changed += 1
            }
            return changed
        }
        return (changed, problems)
    }

    /// The environment with an env file's `NAME=value` lines laid over it.
    ///
    /// Blank lines and `#` comments are skipped; `export ` and matching quotes around the
    /// value are accepted, as docker compose's `env_file` does.
    static func environment(_ base: [String: String], overlaidBy path: String?) throws -> [String: String] {
        guard let path else { return base }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DaemonError(message: "env file \(path) cannot be read")
        }
        var environment = base
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw DaemonError(message: "env file \(path) line \(number + 1): expected NAME=value")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            environment[name] = value
        }
        return environment
    }
}

/// The API-key checks of `breakwater check-config`: every key that `run` would read, read the
/// same way (environment, `--env-file`, `api_key_file`).
public enum APIKeyCheck {
    /// - Returns: `problems`, keys that are present but unusable (e.g. a line break inside the
    ///   key), and `unavailable`, keys not set on this machine (their variable or file is
    ///   missing), which a deployment may provide later. Neither ever carries a key's value.
    public static func run(
        collectors: [CollectorConfiguration], environment: [String: String], environmentFile: String?
    ) -> (problems: [String], unavailable: [String]) {
        let merged: [String: String]
        do {
            merged = try APIKeys.environment(environment, overlaidBy: environmentFile)
        } catch {
            return (["\(error)"], [])
        }
        var problems: [String] = []
        var unavailable: [String] = []
        for collector in collectors {
            switch collector.apiKey {
            case .none:
                continue
            case .environment(let name) where merged[name] == nil:
                unavailable.append("collectors.\(collector.name).api_key_env: \(name) is not set here")
                continue
            case .file(let path) where !FileManager.default.fileExists(atPath: path):
                unavailable.append("collectors.\(collector.name).api_key_file: \(path) does not exist here")
                continue
            default:
                do { _ = try collector.resolveSecret(environment: merged) } catch { problems.append("\(error)") }
            }
        }
        return (problems, unavailable)
    }
}
