import Foundation

/// Where a secret comes from: an environment variable or a file. The value itself is
/// never stored in the configuration, so printing a configuration cannot leak it.
public enum SecretSource: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The named environment variable (`*_env` keys).
    case environment(String)
    /// The file at this path (`*_file` keys); its contents are trimmed of surrounding whitespace.
    case file(String)

    /// Reads the secret now.
    ///
    /// - Parameters:
    ///   - environment: The environment to read variables from (default: the process's).
    ///   - owner: Who needs the secret, used only in error messages (e.g. `collector "moralis"`).
    ///   - path: The field path to report, e.g. `collectors.moralis.api_key_env`.
    /// - Returns: The secret, trimmed of leading and trailing whitespace and newlines.
    /// - Throws: ``ConfigError`` naming the variable or file (never the value) when it is
    ///   unset, unreadable or empty.
    public func resolveSecret(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        owner: String = "configuration",
        path: String = "secret"
    ) throws(ConfigError) -> String {
        switch self {
        case .environment(let name):
            guard let raw = environment[name] else {
                throw ConfigError(path: path, reason: "environment variable \(name) is not set (needed by \(owner))")
            }
            let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else {
                throw ConfigError(path: path, reason: "environment variable \(name) is empty (needed by \(owner))")
            }
            try Self.checkHeaderSafe(value, path: path, what: "environment variable \(name)", owner: owner)
            return value
        case .file(let filePath):
            let contents: String
            do {
                contents = try String(contentsOfFile: filePath, encoding: .utf8)
            } catch {
                let why = FileManager.default.fileExists(atPath: filePath) ? "cannot be read" : "does not exist"
                throw ConfigError(path: path, reason: "secret file \(filePath) \(why) (needed by \(owner))")
            }
            let value = contents.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else {
                throw ConfigError(path: path, reason: "secret file \(filePath) is empty (needed by \(owner))")
            }
            try Self.checkHeaderSafe(value, path: path, what: "secret file \(filePath)", owner: owner)
            return value
        }
    }

    /// A secret is sent as an HTTP header value: a control character (a line break inside the
    /// key, a NUL) would make every request fail locally. Rejected here, naming where the secret
    /// lives and the offending position, never the value.
    static func checkHeaderSafe(_ value: String, path: String, what: String, owner: String) throws(ConfigError) {
        for (offset, byte) in value.utf8.enumerated() where byte < 0x20 || byte == 0x7F {
            let name = byte == 0x0A ? "a line break" : byte == 0x0D ? "a carriage return" : byte == 0x09 ? "a tab" : "a control character"
            throw ConfigError(path: path, reason: "\(what) contains \(name) at byte \(offset) (needed by \(owner)); an HTTP header cannot carry it")
        }
    }

    /// `env NAME` or `file PATH`: where the secret lives, never its value.
    public var description: String {
        switch self {
        case .environment(let name): "env \(name)"
        case .file(let path): "file \(path)"
        }
    }
}
