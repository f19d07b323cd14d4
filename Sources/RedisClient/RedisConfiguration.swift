import Foundation

/// Where and how to connect to Redis.
///
/// Built from a URL of the form `redis://[user[:password]@]host[:port][/db]`,
/// `unix:///path/to.sock[?db=N]`, or (high availability through Redis Sentinel)
/// `redis-sentinel://[[user:]password@]host[:port][,host[:port]…][/db]#MASTER`.
/// `rediss://` and `rediss-sentinel://` are the same over TLS (see ``TLS``).
/// The password may instead come from the environment (`REDIS_PASSWORD`) or a file
/// (`REDIS_PASSWORD_FILE`); see ``init(url:environment:)``.
public struct RedisConfiguration: Sendable, Hashable {
    /// Where to find the master through Redis Sentinel (docs/operations.md).
    ///
    /// The client asks the sentinels in turn for the master's address
    /// (`SENTINEL get-master-addr-by-name`), checks with `ROLE` that the node is a master,
    /// and resolves again after a broken connection, a `READONLY` reply or a
    /// `+switch-master` message.
    public struct Sentinel: Sendable, Hashable, CustomStringConvertible {
        /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
        public var masterName: String
        /// The sentinels, asked in turn (at least one).
        public var sentinels: [Endpoint]
        /// The ACL user for the sentinels themselves (`REDIS_SENTINEL_USERNAME`); `nil`: default user.
        public var username: String?
        /// The sentinels' own password (`REDIS_SENTINEL_PASSWORD`); never logged.
        public var password: String?
        /// How long connecting to one sentinel may take before the next one is asked.
        public var connectTimeout: Duration

        /// Creates Sentinel settings.
        public init(masterName: String, sentinels: [Endpoint], username: String? = nil, password: String? = nil, connectTimeout: Duration = .milliseconds(500)) {
            self.masterName = masterName
            self.sentinels = sentinels
            self.username = username
            self.password = password
            self.connectTimeout = connectTimeout
        }

        /// The default sentinel port.
        public static let defaultPort = 26379

        public var description: String {
            "sentinel master=\(masterName) via \(sentinels.map(\.description).joined(separator: ","))"
        }
    }

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

    /// The server to connect to. With ``sentinel`` set: the first sentinel (the master's
    /// address is resolved at connect time).
    public var endpoint: Endpoint
    /// Set for `redis-sentinel://` URLs: the master is found through these sentinels and
    /// ``endpoint`` is not connected to directly. ``username``/``password``/``database``
    /// apply to the master (data) connection.
    public var sentinel: Sentinel?
    /// The ACL user name for `AUTH user password`; `nil` means the default user.
    public var username: String?
    /// The password; never logged or included in descriptions.
    public var password: String?
    /// The logical database selected after connecting.
    public var database: Int
    /// TLS settings; set for `rediss://` and `rediss-sentinel://` (then every connection,
    /// to the sentinels too, uses TLS). `nil`: plaintext.
    public var tls: TLS?
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
        maximumReconnectDelay: Duration = .seconds(5),
        sentinel: Sentinel? = nil,
        tls: TLS? = nil
    ) {
        self.endpoint = endpoint
        self.tls = tls
        self.sentinel = sentinel
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
    ///   - url: `redis://[user[:password]@]host[:port][/db]`, `unix:///path[?db=N]` or
    ///     `redis-sentinel://[[user:]password@]host[:port][,host[:port]…][/db]#MASTER`
    ///     (sentinel port 26379 by default; user and password are the master's).
    ///     User and password are percent-decoded; IPv6 hosts go in brackets.
    ///   - environment: consulted for `REDIS_PASSWORD` and `REDIS_PASSWORD_FILE` when the URL
    ///     carries no password, and for a sentinel URL, `REDIS_SENTINEL_PASSWORD` (or
    ///     `REDIS_SENTINEL_PASSWORD_FILE`) and `REDIS_SENTINEL_USERNAME` for the sentinels.
    /// - Throws: ``RedisError`` with code `invalidConfiguration`, naming what is wrong
    ///   (the password itself is never repeated).
    public init(url: String, environment: [String: String] = [:]) throws(RedisError) {
        let lowered = url.lowercased()
        let secure = lowered.hasPrefix("rediss://") || lowered.hasPrefix("rediss-sentinel://")
        // The TLS scheme is the plain one with its "s"; the rest of the grammar is shared.
        let plain = secure ? url.replacingOccurrences(of: "rediss", with: "redis", options: [.anchored, .caseInsensitive]) : url
        if plain.lowercased().hasPrefix("redis-sentinel://") {
            let parsed = try Self.parseSentinel(plain, shown: url)
            self.init(endpoint: parsed.sentinels[0], username: parsed.username, password: parsed.password, database: parsed.database)
            var sentinel = Sentinel(masterName: parsed.masterName, sentinels: parsed.sentinels)
            if let user = environment["REDIS_SENTINEL_USERNAME"], !user.isEmpty { sentinel.username = user }
            sentinel.password = try Self.secret(environment, "REDIS_SENTINEL_PASSWORD")
            self.sentinel = sentinel
        } else {
            let parsed = try Self.parse(plain, shown: url)
            self.init(endpoint: parsed.endpoint, username: parsed.username, password: parsed.password, database: parsed.database)
        }
        if password == nil {
            password = try Self.secret(environment, "REDIS_PASSWORD")
        }
        if secure {
            var tls = TLS()
            try tls.apply(environment: environment)
            try tls.validate()
            self.tls = tls
        } else if let name = TLS.environmentNames.first(where: { !(environment[$0] ?? "").isEmpty }) {
            // Never plaintext when TLS was asked for.
            throw RedisError(.invalidConfiguration, "\(name) is set but the Redis URL \(Self.redacted(url)) is not TLS: use rediss:// (or rediss-sentinel://), or unset \(name)")
        }
    }

    /// `environment[name]`, else the trimmed contents of the file named by `name_FILE`.
    private static func secret(_ environment: [String: String], _ name: String) throws(RedisError) -> String? {
        if let fromEnv = environment[name], !fromEnv.isEmpty {
            return fromEnv
        }
        if let file = environment[name + "_FILE"], !file.isEmpty {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw RedisError(.invalidConfiguration, "\(name)_FILE: cannot read \(file)")
            }
            return contents.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }

    /// Whether the URL names sentinels rather than one server.
    public var usesSentinel: Bool { sentinel != nil }

    /// What the client talks to, for logs: the endpoint, or the master name and sentinels.
    public var target: String { (sentinel.map(\.description) ?? endpoint.description) + (tls == nil ? "" : " (TLS)") }

    private static func parseSentinel(_ url: String, shown: String) throws(RedisError) -> (sentinels: [Endpoint], masterName: String, username: String?, password: String?, database: Int) {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidConfiguration, "invalid Redis Sentinel URL \(redacted(shown)): \(reason)")
        }
        var rest = Substring(url.dropFirst("redis-sentinel://".count))
        let (username, password, afterUserinfo) = splitUserinfo(rest)
        rest = afterUserinfo
        guard let hash = rest.firstIndex(of: "#") else {
            throw invalid("no master name: end the URL with #MASTER, the name the sentinels monitor (e.g. redis-sentinel://host:26379#mymaster)")
        }
        let fragment = String(rest[rest.index(after: hash)...])
        let masterName = fragment.removingPercentEncoding ?? fragment
        rest = rest[..<hash]
        guard !masterName.isEmpty else {
            throw invalid("empty master name after \"#\" (e.g. redis-sentinel://host:26379#mymaster)")
        }
        let database = try splitDatabase(&rest, invalid: invalid)
        guard !rest.isEmpty else { throw invalid("no sentinel host (expected host[:port][,host[:port]…])") }
        var sentinels: [Endpoint] = []
        for (index, item) in rest.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard !item.isEmpty else { throw invalid("sentinel #\(index + 1) in the host list is empty") }
            let (host, port) = try parseHostPort(item, defaultPort: Sentinel.defaultPort, what: "sentinel port", invalid: invalid)
            guard !host.isEmpty else { throw invalid("sentinel #\(index + 1) (\"\(item)\") has no host") }
            sentinels.append(.tcp(host: host, port: port))
        }
        return (sentinels, masterName, username, password, database)
    }

    /// Splits `user:password@` off the front (percent-decoded); an empty password means "from the environment".
    private static func splitUserinfo(_ rest: Substring) -> (username: String?, password: String?, rest: Substring) {
        guard let at = rest.lastIndex(of: "@") else { return (nil, nil, rest) }
        let userinfo = rest[..<at]
        var username: String?
        var password: String?
        if let colon = userinfo.firstIndex(of: ":") {
            let user = String(userinfo[..<colon])
            username = user.isEmpty ? nil : (user.removingPercentEncoding ?? user)
            let pass = String(userinfo[userinfo.index(after: colon)...])
            password = pass.isEmpty ? nil : (pass.removingPercentEncoding ?? pass)
        } else if !userinfo.isEmpty {
            let user = String(userinfo)
            username = user.removingPercentEncoding ?? user
        }
        return (username, password, rest[rest.index(after: at)...])
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    /// Removes a trailing `/N` from `rest` and returns N (0 when absent).
    static func splitDatabase(_ rest: inout Substring, invalid: (String) -> RedisError) throws(RedisError) -> Int {
        guard let slash = rest.firstIndex(of: "/") else { return 0 }
        let dbPart = rest[rest.index(after: slash)...]
        rest = rest[..<slash]
        guard !dbPart.isEmpty else { return 0 }
        guard let db = Int(dbPart), db >= 0 else { throw invalid("database \"\(dbPart)\" is not a non-negative integer") }
        return db
    }

    private static func parseHostPort(_ text: Substring, defaultPort: Int, what: String, invalid: (String) -> RedisError) throws(RedisError) -> (String, Int) {
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("unterminated IPv6 address") }
            let host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw invalid("\(what) \"\(after.dropFirst())\" is not in 1...65535") }
                port = p
            } else if !after.isEmpty {
                throw invalid("unexpected \"\(after)\" after the IPv6 address")
            }
            return (String(host), port)
        }
        if let colon = text.lastIndex(of: ":") {
            let portText = text[text.index(after: colon)...]
            guard let p = Int(portText), (1...65535).contains(p) else { throw invalid("\(what) \"\(portText)\" is not in 1...65535") }
            return (String(text[..<colon]), p)
        }
        return (String(text), port)
    }

    private static func parse(_ url: String, shown: String) throws(RedisError) -> (endpoint: Endpoint, username: String?, password: String?, database: Int) {
        func invalid(_ reason: String) -> RedisError {
            RedisError(.invalidConfiguration, "invalid Redis URL \(redacted(shown)): \(reason)")
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
            throw invalid("expected a redis://, redis-sentinel:// or unix:// URL (rediss:// and rediss-sentinel:// for TLS)")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        let (username, password, afterUserinfo) = splitUserinfo(rest)
        rest = afterUserinfo
        let database = try splitDatabase(&rest, invalid: invalid)
        let (host, port) = try parseHostPort(rest, defaultPort: 6379, what: "port", invalid: invalid)
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
        "redis \(target) db=\(database)" + (username.map { " user=\($0)" } ?? "") + (password == nil ? "" : " password=***")
    }
}
