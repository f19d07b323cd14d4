import Foundation
import Yams

/// A validated Breakwater configuration file (docs/configuration.md).
///
/// Load it with ``load(path:)`` or ``parse(yaml:)``; both report every problem at once as a
/// ``ConfigError``. The value holds no secrets (only where they live), so its description
/// is safe to log.
public struct BreakwaterConfiguration: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `instance_id`; when `nil`, use ``defaultInstanceID()`` (see ``resolvedInstanceID``).
    public var instanceID: String?
    /// The `redis:` block.
    public var redis: RedisSettings
    /// The `http:` block (default `127.0.0.1:9464`).
    public var http: HTTPSettings
    /// The collectors, in file order; names are unique.
    public var collectors: [CollectorConfiguration]

    /// Creates a configuration directly (tests, tools); files go through ``parse(yaml:)``.
    ///
    /// - Parameters:
    ///   - instanceID: Instance id, or `nil` for the default.
    ///   - redis: Redis settings.
    ///   - http: HTTP listen address.
    ///   - collectors: Collectors.
    public init(
        instanceID: String? = nil,
        redis: RedisSettings = RedisSettings(),
        http: HTTPSettings = HTTPSettings(),
        collectors: [CollectorConfiguration]
    ) {
        self.instanceID = instanceID
        self.redis = redis
        self.http = http
        self.collectors = collectors
    }

    /// The configured instance id, or ``defaultInstanceID()`` when none is set.
    public var resolvedInstanceID: String {
        instanceID ?? Self.defaultInstanceID()
    }

    /// `hostname-pid` of this process, with characters outside `[A-Za-z0-9_.-]` replaced by `-`.
    ///
    /// - Returns: An id usable as `updated_by` in Redis.
    public static func defaultInstanceID() -> String {
        defaultInstanceID(hostname: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier)
    }

    /// `hostname-pid` for the given host and process id, sanitised and at most 128 characters.
    ///
    /// - Parameters:
    ///   - hostname: The host name.
    ///   - pid: The process id.
    /// - Returns: The id.
    public static func defaultInstanceID(hostname: String, pid: Int32) -> String {
        let cleaned = String(hostname.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "-"
        })
        let host = cleaned.isEmpty || !(cleaned.first!.isLetter || cleaned.first!.isNumber) ? "host\(cleaned)" : cleaned
        let suffix = "-\(pid)"
        return String(host.prefix(128 - suffix.count)) + suffix
    }

    /// Reads and validates a configuration file.
    ///
    /// - Parameter path: Path of the YAML file.
    /// - Returns: The validated configuration.
    /// - Throws: ``ConfigError`` when the file is missing or unreadable, is not valid YAML,
    ///   or has any invalid field (all problems are listed).
    public static func load(path: String) throws(ConfigError) -> BreakwaterConfiguration {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(path: "(file)", reason: "config file \(path) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw ConfigError(path: "(file)", reason: "config file \(path) is a directory")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(path: "(file)", reason: "config file \(path) cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(path: "(file)", reason: "config file \(path) is not UTF-8 text")
        }
        return try parse(yaml: text)
    }

    /// Parses and validates YAML text.
    ///
    /// - Parameter yaml: The configuration text.
    /// - Returns: The validated configuration.
    /// - Throws: ``ConfigError`` listing every problem, or one problem at path `(file)` for a
    ///   YAML syntax error (line and column, without echoing the file's contents).
    public static func parse(yaml: String) throws(ConfigError) -> BreakwaterConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(path: "(file)", reason: "invalid YAML: \(Self.summary(of: error))")
        } catch {
            throw ConfigError(path: "(file)", reason: "invalid YAML")
        }
        var reader = ConfigReader()
        let configuration = reader.readConfiguration(root ?? Node.mapping(Node.Mapping([])))
        guard reader.problems.isEmpty, let configuration else {
            throw ConfigError(problems: reader.problems)
        }
        return configuration
    }

    /// The first line of a Yams error, which holds the position and problem; the snippet of
    /// the file that follows is dropped, since a file may hold a Redis URL with a password.
    private static func summary(of error: YamlError) -> String {
        if case .duplicatedKeysInMapping(let duplicates, _) = error {
            return "duplicate key(s): " + duplicates.sorted().joined(separator: ", ")
        }
        let first = String(describing: error).split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        return first.replacingOccurrences(of: ": error: ", with: ": ")
    }

    /// A multi-line summary with one line per collector; never contains a secret.
    public var description: String {
        var lines = [
            "instance_id: \(instanceID ?? "(default: hostname-pid)")",
            "redis: \(redis)",
            "http: \(http)",
        ]
        lines += collectors.map { "collector: \($0)" }
        return lines.joined(separator: "\n")
    }
}
