import Collectors
import Foundation

/// One validated entry of the `collectors:` list.
public struct CollectorConfiguration: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Collector and breaker name (`cb_state:<name>`, stream `collector:<name>`); unique.
    public var name: String
    /// The upstream API.
    public var kind: SourceKind
    /// Absolute http/https base URL; tests point it at loopback.
    public var baseURL: URL
    /// Where the API key comes from, if any (`api_key_env` or `api_key_file`).
    public var apiKey: SecretSource?
    /// Time between polls (`interval_seconds`, > 0, fractional allowed).
    public var interval: Duration
    /// Per-request timeout (`timeout_seconds`, > 0, default 10 s).
    public var timeout: Duration
    /// Source-specific options (`params:`), validated against ``SourceKind/allowedParams``.
    public var params: [String: String]
    /// Approximate MAXLEN for the `collector:<name>` stream (default 10000).
    public var streamMaxLength: Int
    /// Breaker settings (`breaker:`), defaults filled in.
    public var breaker: BreakerSettings
    /// `schedule:`: one poll per interval fleet-wide (default) or per instance.
    public var schedule: CollectionSchedule
    /// `rate_limit:`: a token ring shared by a group across the fleet, if any.
    public var rateLimit: RateLimitSettings?
    /// `retries:`: retries of a transient failure within one slot (default 2, at most 10).
    public var retries: Int
    /// `max_pause_seconds`: the longest a 429's `Retry-After` pauses the fleet (default a day);
    /// a longer one pauses for this long and is logged.
    public var maximumPause: Duration

    /// Creates a collector configuration; normally produced by ``BreakwaterConfiguration/parse(yaml:)``.
    ///
    /// - Parameters:
    ///   - name: Collector and breaker name.
    ///   - kind: The upstream API.
    ///   - baseURL: Base URL of the API.
    ///   - apiKey: Where the API key comes from.
    ///   - interval: Time between polls.
    ///   - timeout: Per-request timeout.
    ///   - params: Source-specific options.
    ///   - streamMaxLength: Approximate stream cap.
    ///   - breaker: Breaker settings.
    ///   - schedule: Fleet-wide or per-instance polling.
    ///   - rateLimit: A shared rate limit, if any.
    ///   - retries: Retries of a transient failure within a slot.
    ///   - maximumPause: The longest pause a `Retry-After` can ask for.
    public init(
        name: String,
        kind: SourceKind,
        baseURL: URL,
        apiKey: SecretSource? = nil,
        interval: Duration,
        timeout: Duration = .seconds(10),
        params: [String: String] = [:],
        streamMaxLength: Int = 10_000,
        breaker: BreakerSettings = BreakerSettings(),
        schedule: CollectionSchedule = .fleet,
        rateLimit: RateLimitSettings? = nil,
        retries: Int = 2,
        maximumPause: Duration = .seconds(86_400)
    ) {
        self.maximumPause = maximumPause
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.interval = interval
        self.timeout = timeout
        self.params = params
        self.streamMaxLength = streamMaxLength
        self.breaker = breaker
        self.schedule = schedule
        self.rateLimit = rateLimit
        self.retries = retries
    }

    /// Reads this collector's API key from the environment or its file.
    ///
    /// - Parameter environment: Variables to read from (default: the process's environment).
    /// - Returns: The trimmed key, or `nil` when the collector names no key.
    /// - Throws: ``ConfigError`` naming the collector and the variable or file, never the value.
    public func resolveSecret(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> String? {
        guard let apiKey else { return nil }
        let key = switch apiKey {
        case .environment: "api_key_env"
        case .file: "api_key_file"
        }
        return try apiKey.resolveSecret(
            environment: environment,
            owner: "collector \"\(name)\"",
            path: "collectors.\(name).\(key)"
        )
    }

    /// A one-line summary; names where the key lives, never the key.
    public var description: String {
        var parts = [
            "name=\(name)", "kind=\(kind.rawValue)", "base_url=\(baseURL.absoluteString)",
            "interval=\(interval)", "timeout=\(timeout)",
        ]
        if let apiKey { parts.append("api_key=\(apiKey)") }
        if !params.isEmpty {
            parts.append("params={" + params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}")
        }
        return parts.joined(separator: " ")
    }
}
