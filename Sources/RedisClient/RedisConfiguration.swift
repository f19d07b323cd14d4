import Foundation

/// Where and how to connect to Redis.
///
/// Built from a URL of the form `redis://[user[:password]@]host[:port][/db]` or
/// `unix:///path/to.sock[?db=N]`. The password may instead come from the environment
/// (`REDIS_PASSWORD`) or a file (`REDIS_PASSWORD_FILE`); see ``init(url:environment:)``.
public struct RedisConfiguration: Sendable, Hashable {
    /// A TCP host and port, or a Unix socket path.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    /// The server to connect to.
    public var endpoint: Endpoint
    /// The ACL user name for `AUTH user password`; `nil` means the default user.
    public var username: String?
    /// The password; never logged or included in descriptions.
    public var password: String?
    /// The logical database selected after connecting.
    public var database: Int
    /// How long a connect may take.
    public var connectTimeout: Duration
    /// How long a single command (or pipeline read) may take before the connection is dropped.
    public var commandTimeout: Duration
    /// The first reconnect delay after a failure; doubled per failure up to ``maximumReconnectDelay``.
    public var initialReconnectDelay: Duration
    /// The cap on the reconnect delay.
    public var maximumReconnectDelay: Duration

    /// Creates a configuration from parts.
    public init(
        endpoint: Endpoint,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(2),
        initialReconnectDelay: Duration = .milliseconds(50),
        maximumReconnectDelay: Duration = .seconds(5)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.initialReconnectDelay = initialReconnectDelay
        self.maximumReconnectDelay = maximumReconnectDelay
    }

    /// The default URL, `redis://127.0.0.1:6379`.
    public static let defaultURL = "redis://127.0.0.1:6379"

    /// Parses a Redis URL.
    ///
    /// - Parameters:
    ///   - url: `redis://[user[:password]@]host[:port][/db]` or `unix:///path[?db=N]`.
    ///     User and password are percent-decoded; IPv6 hosts go in brackets.
    ///   - environment: consulted for `REDIS_PASSWORD` and `REDIS_PASSWORD_FILE` when the URL
    ///     carries no password.
    /// - Throws: ``RedisError`` with code `invalidConfiguration`, naming what is wrong
    ///   (the password itself is never repeated).
    public init(url: String, environment: [String: String] = [:]) throws(RedisError) {
        let parsed = try Self.parse(url)
        self.init(endpoint: parsed.endpoint, username: parsed.username, password: parsed.password, database: parsed.database)
        if password == nil {
            if let fromEnv = environment["REDIS_PASSWORD"], !fromEnv.isEmpty {
                password = fromEnv
            } else if let file = environment["REDIS_PASSWORD_FILE"], !file.isEmpty {
                guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw RedisError(.invalidConfiguration, "REDIS_PASSWORD_FILE: cannot read \(file)")
                }
                password = contents.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
    }

    private static func parse(_ url: String) throws(RedisError) -> (endpoint: Endpoint, username: String?, password: String?, database: Int) {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidConfiguration, "invalid Redis URL \(redacted(url)): \(reason)")
        }
        if url.hasPrefix("unix://") {
            var rest = Substring(url.dropFirst("unix://".count))
            var database = 0
            if let question = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: question)...]
                rest = rest[..<question]
                for item in query.split(separator: "&") {
                    let pair = item.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0] == "db", let db = Int(pair[1]), db >= 0 else {
                        throw invalid("unsupported query \"\(item)\" (only db=N)")
                    }
                    database = db
                }
            }
            guard rest.hasPrefix("/"), rest.count > 1 else { throw invalid("expected unix:///absolute/path") }
            return (.unix(path: String(rest)), nil, nil, database)
        }
        guard url.hasPrefix("redis://") else {
            if url.hasPrefix("rediss://") { throw invalid("TLS (rediss://) is not supported by hiredis 0.14; use a TLS proxy such as stunnel") }
            throw invalid("expected a redis:// or unix:// URL")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = String(userinfo[..<colon])
                username = user.isEmpty ? nil : (user.removingPercentEncoding ?? user)
                let pass = String(userinfo[userinfo.index(after: colon)...])
                // An empty password (`redis://user:@host`) means "from the environment".
                password = pass.isEmpty ? nil : (pass.removingPercentEncoding ?? pass)
            } else if !userinfo.isEmpty {
                // `redis://user@host`: an ACL user whose password comes from the environment.
                let user = String(userinfo)
                username = user.removingPercentEncoding ?? user
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbPart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !dbPart.isEmpty {
                guard let db = Int(dbPart), db >= 0 else { throw invalid("database \"\(dbPart)\" is not a non-negative integer") }
                database = db
            }
        }
        var host: Substring
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw invalid("port \"\(after.dropFirst())\" is not in 1...65535") }
                port = p
            } else if !after.isEmpty {
                throw invalid("unexpected \"\(after)\" after the IPv6 address")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            let portText = rest[rest.index(after: colon)...]
            guard let p = Int(portText), (1...65535).contains(p) else { throw invalid("port \"\(portText)\" is not in 1...65535") }
            port = p
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw invalid("missing host") }
        return (.tcp(host: String(host), port: port), username, password, database)
    }

    /// The URL with any password replaced by `***`, safe to log.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else { return url }
        let userinfo = url[schemeEnd.upperBound..<at]
        let user = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let shownUser = userinfo.contains(":") ? "\(user):***" : "***"
        return String(url[..<schemeEnd.upperBound]) + shownUser + String(url[at...])
    }
}

extension RedisConfiguration: CustomStringConvertible {
    /// The endpoint, user and database; never the password.
    public var description: String {
        "redis \(endpoint) db=\(database)" + (username.map { " user=\($0)" } ?? "") + (password == nil ? "" : " password=***")
    }
}
