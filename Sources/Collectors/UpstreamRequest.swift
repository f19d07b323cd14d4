import Foundation

/// One HTTP request to an upstream, built from a ``SourceDefinition`` per the API's documentation.
///
/// The request may carry a secret (a header or Glassnode's `api_key` query parameter), so
/// log ``redactedDescription``, never ``url`` or ``headers``.
public struct UpstreamRequest: Sendable, Equatable {
    /// HTTP method; every source uses `GET`.
    public var method: String
    /// The full URL, query included, percent-encoded.
    public var url: URL
    /// Header fields by canonical name (e.g. `X-API-Key`, `Authorization`, `User-Agent`).
    public var headers: [String: String]

    /// The default `User-Agent` sent to every source except Reddit.
    public static let userAgent = "breakwater/1.0"
    /// The default Reddit `User-Agent`, in the `<platform>:<app id>:<version> (by /u/<user>)` form Reddit asks for.
    public static let redditUserAgent = "linux:breakwater:1.0 (by /u/breakwater)"

    /// Creates a request from its parts.
    ///
    /// - Parameters:
    ///   - method: HTTP method.
    ///   - url: Full URL.
    ///   - headers: Header fields.
    public init(method: String = "GET", url: URL, headers: [String: String]) {
        self.method = method
        self.url = url
        self.headers = headers
    }

    /// Builds the documented request for a source.
    ///
    /// | kind | request | auth |
    /// |---|---|---|
    /// | moralis | `GET {base}/erc20/{address}/price?chain={chain}` (chain default `eth`) | `X-API-Key` |
    /// | glassnode | `GET {base}/v1/metrics/{metric}?a={asset}&i={interval}` (asset `BTC`, interval `24h`) | query `api_key` |
    /// | twitter | `GET {base}/2/tweets/search/recent?query=…&max_results=10&tweet.fields=created_at,author_id,public_metrics` (`&since_id=` the cursor) | `Authorization: Bearer` |
    /// | reddit | `GET {base}/r/{subreddit}/new.json?limit=25` | `User-Agent` (param `user_agent`), Bearer if a key is given |
    /// | lunarcrush | `GET {base}/public/coins/list/v2` or `{base}/public/topic/{topic}/v1` (param `endpoint`) | `Authorization: Bearer` |
    /// | http_json | `GET {base}` as given | Bearer if a key is given |
    ///
    /// Path segments and query values are percent-encoded (only RFC 3986 unreserved
    /// characters are left as they are).
    ///
    /// - Parameter source: The source to poll.
    /// - Throws: ``SourceDefinitionError`` when a required parameter or API key is missing.
    public init(for source: SourceDefinition) throws(SourceDefinitionError) {
        var headers = ["Accept": "application/json", "User-Agent": Self.userAgent]
        let url: URL
        func param(_ key: String) throws(SourceDefinitionError) -> String {
            guard let value = source.params[key], !value.isEmpty else {
                throw SourceDefinitionError("\(source.name): params.\(key) is required for kind \(source.kind.rawValue)")
            }
            return value
        }
        func key() throws(SourceDefinitionError) -> String {
            guard let key = source.apiKey, !key.isEmpty else {
                throw SourceDefinitionError("\(source.name): an API key is required for kind \(source.kind.rawValue)")
            }
            return key
        }
        switch source.kind {
        case .moralis:
            let address = try param("address")
            headers["X-API-Key"] = try key()
            url = try Self.url(source, path: ["erc20", address, "price"], query: [("chain", source.params["chain"] ?? "eth")])
        case .glassnode:
            let metric = try param("metric")
            let segments = ["v1", "metrics"] + metric.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
            url = try Self.url(source, path: segments, query: [
                ("a", source.params["asset"] ?? "BTC"),
                ("i", source.params["interval"] ?? "24h"),
                ("api_key", try key()),
            ])
        case .twitter:
            let query = try param("query")
            headers["Authorization"] = "Bearer \(try key())"
            var items = [("query", query), ("max_results", "10"), ("tweet.fields", "created_at,author_id,public_metrics")]
            // Only tweets newer than the newest one collected (a tweet id is a decimal integer).
            if let cursor = source.cursor, !cursor.isEmpty, cursor.count <= 20, cursor.allSatisfy({ $0.isASCII && $0.isNumber }) {
                items.append(("since_id", cursor))
            }
            url = try Self.url(source, path: ["2", "tweets", "search", "recent"], query: items)
        case .reddit:
            let subreddit = try param("subreddit")
            headers["User-Agent"] = source.params["user_agent"] ?? Self.redditUserAgent
            if let key = source.apiKey, !key.isEmpty { headers["Authorization"] = "Bearer \(key)" }
            url = try Self.url(source, path: ["r", subreddit, "new.json"], query: [("limit", "25")])
        case .lunarcrush:
            headers["Authorization"] = "Bearer \(try key())"
            switch source.params["endpoint"] ?? "coins" {
            case "coins":
                url = try Self.url(source, path: ["public", "coins", "list", "v2"], query: [])
            case "topic":
                url = try Self.url(source, path: ["public", "topic", try param("topic"), "v1"], query: [])
            case let other:
                throw SourceDefinitionError("\(source.name): params.endpoint must be coins or topic (got \"\(other)\")")
            }
        case .httpJSON:
            if let key = source.apiKey, !key.isEmpty { headers["Authorization"] = "Bearer \(key)" }
            url = source.baseURL
        }
        self.init(method: "GET", url: url, headers: headers)
    }

    /// The header value for a name, compared case-insensitively.
    ///
    /// - Parameter name: Header name.
    /// - Returns: The value, or `nil`.
    public func header(_ name: String) -> String? {
        headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Query parameter names whose values are secrets.
    static let secretQueryNames: Set<String> = ["api_key", "apikey", "key", "token", "access_token"]
    /// Header names whose values are secrets.
    static let secretHeaderNames: Set<String> = ["authorization", "x-api-key", "cookie", "proxy-authorization"]

    /// Method, URL and headers with every secret replaced by `<redacted>`: safe to log.
    public var redactedDescription: String {
        var text = url.absoluteString
        if var components = URLComponents(url: url, resolvingAgainstBaseURL: false),
           let query = components.percentEncodedQuery {
            let redacted = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                let name = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                let decoded = name.removingPercentEncoding ?? name
                return Self.secretQueryNames.contains(decoded.lowercased()) ? "\(name)=<redacted>" : String(pair)
            }.joined(separator: "&")
            components.percentEncodedQuery = nil
            components.fragment = nil
            text = (components.string ?? "") + "?" + redacted
        }
        let headerText = headers.sorted { $0.key.lowercased() < $1.key.lowercased() }.map { name, value in
            "\(name): \(Self.secretHeaderNames.contains(name.lowercased()) ? "<redacted>" : value)"
        }.joined(separator: ", ")
        return "\(method) \(text) [\(headerText)]"
    }

    /// Characters left as they are in a path segment or query value (RFC 3986 unreserved).
    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// Percent-encodes everything but unreserved characters.
    ///
    /// - Parameter text: A path segment or query value.
    /// - Returns: The encoded text.
    public static func percentEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// Appends encoded path segments and query items to the base URL, keeping its own path and query.
    static func url(
        _ source: SourceDefinition, path: [String], query: [(String, String)]
    ) throws(SourceDefinitionError) -> URL {
        guard var components = URLComponents(url: source.baseURL, resolvingAgainstBaseURL: false) else {
            throw SourceDefinitionError("\(source.name): base URL \(source.baseURL.absoluteString) is not a valid URL")
        }
        for segment in path where segment == "." || segment == ".." {
            throw SourceDefinitionError("\(source.name): path segment \"\(segment)\" is not allowed")
        }
        var basePath = components.percentEncodedPath
        while basePath.hasSuffix("/") { basePath.removeLast() }
        components.percentEncodedPath = basePath + "/" + path.map(percentEncode).joined(separator: "/")
        let encodedQuery = query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
        if !encodedQuery.isEmpty {
            if let existing = components.percentEncodedQuery, !existing.isEmpty {
                components.percentEncodedQuery = existing + "&" + encodedQuery
            } else {
                components.percentEncodedQuery = encodedQuery
            }
        }
        guard let url = components.url else {
            throw SourceDefinitionError("\(source.name): cannot build a URL from \(source.baseURL.absoluteString)")
        }
        return url
    }
}
