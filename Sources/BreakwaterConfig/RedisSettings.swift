import Foundation
/// The `redis:` block. Every field is optional; the CLI's defaults apply when absent.
public struct RedisSettings: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `redis://[user[:password]@]host[:port][/db]`, `redis-sentinel://…#MASTER` or `unix:///path`; `nil` means the CLI default.
    public var url: String?
    /// Where the Redis password comes from (`password_env` or `password_file`), if anywhere.
    public var password: SecretSource?
    /// `redis.tls`: TLS settings for a `rediss://` URL (`REDIS_TLS_*` override them).
    public var tls: RedisTLSSettings?

    /// Creates Redis settings.
    ///
    /// - Parameters:
    ///   - url: The Redis URL, or `nil` for the default.
    ///   - password: Where the password comes from.
    ///   - tls: The `redis.tls` settings, if any.
    public init(url: String? = nil, password: SecretSource? = nil, tls: RedisTLSSettings? = nil) {
        self.url = url
        self.password = password
        self.tls = tls
    }

    /// The URL with any password replaced by `***`, and where the password comes from.
    public var description: String {
        var parts: [String] = []
        if let url { parts.append("url=\(Self.redact(url))") }
        if let password { parts.append("password=\(password)") }
        if let tls { parts.append("tls=\(tls.verify ?? "full")") }
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

/// `redis.tls`: the files and checks for TLS to Redis, as written in the config file (the
/// Redis client checks their form when it builds its TLS settings; `check-config` reports it).
public struct RedisTLSSettings: Sendable, Equatable, Hashable {
    /// A PEM file of CA certificates to trust; `nil`: the system trust store.
    public var caFile: String?
    /// A PEM client certificate for servers with `tls-auth-clients yes`.
    public var certFile: String?
    /// The PEM key of ``certFile``.
    public var keyFile: String?
    /// The name sent as SNI and verified instead of the host connected to.
    public var serverName: String?
    /// `full` (the default) or `none`.
    public var verify: String?

    /// Creates TLS settings.
    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil, verify: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.serverName = serverName
        self.verify = verify
    }
}
