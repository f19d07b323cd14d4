/// The `redis:` block. Every field is optional; the CLI's defaults apply when absent.
public struct RedisSettings: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `redis://[user[:password]@]host[:port][/db]`, `redis-sentinel://…#MASTER` or `unix:///path`; `nil` means the CLI default.
    public var url: String?
    /// Where the Redis password comes from (`password_env` or `password_file`), if anywhere.
    public var password: SecretSource?

    /// Creates Redis settings.
    ///
    /// - Parameters:
    ///   - url: The Redis URL, or `nil` for the default.
    ///   - password: Where the password comes from.
    public init(url: String? = nil, password: SecretSource? = nil) {
        self.url = url
        self.password = password
    }

    /// The URL with any password replaced by `***`, and where the password comes from.
    public var description: String {
        var parts: [String] = []
        if let url { parts.append("url=\(Self.redact(url))") }
        if let password { parts.append("password=\(password)") }
        return parts.isEmpty ? "default" : parts.joined(separator: " ")
    }

    /// Replaces the password part of `scheme://user:password@host` with `***`.
    ///
    /// - Parameter url: A Redis URL.
    /// - Returns: The URL safe to print.
    public static func redact(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<schemeEnd.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }
}
