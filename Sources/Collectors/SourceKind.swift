/// The upstream APIs Breakwater can poll; raw values match the config file's `kind:`.
public enum SourceKind: String, Sendable, Equatable, Hashable, CaseIterable {
    /// Moralis EVM API: ERC-20 token price, `X-API-Key` header.
    case moralis
    /// Glassnode metrics API: one metric time series, `api_key` query parameter.
    case glassnode
    /// Twitter/X API v2 recent search, bearer token.
    case twitter
    /// Reddit subreddit listing (`/r/{sub}/new.json`), `User-Agent` plus optional OAuth bearer.
    case reddit
    /// LunarCrush API v4: coins list or one topic, bearer token.
    case lunarcrush
    /// Any JSON endpoint, polled at the base URL as given.
    case httpJSON = "http_json"

    /// Whether new items arrive over time and each is collected once, through a cursor kept
    /// fleet-wide (Twitter/X tweet ids, Reddit fullnames; see docs/semantics.md).
    public var isIncremental: Bool {
        switch self {
        case .twitter, .reddit: true
        case .moralis, .glassnode, .lunarcrush, .httpJSON: false
        }
    }

    /// Whether a collector of this kind must name an API key (`api_key_env` or `api_key_file`).
    public var requiresAPIKey: Bool {
        switch self {
        case .moralis, .glassnode, .twitter, .lunarcrush: true
        case .reddit, .httpJSON: false
        }
    }

    /// The `params:` keys this kind accepts; any other key is an error.
    public var allowedParams: [String] {
        switch self {
        case .moralis: ["address", "chain"]
        case .glassnode: ["metric", "asset", "interval"]
        case .twitter: ["query"]
        case .reddit: ["subreddit", "user_agent"]
        case .lunarcrush: ["endpoint", "topic"]
        case .httpJSON: []
        }
    }

    /// The `params:` keys that must be present for this kind (LunarCrush's `topic` is
    /// required only when `endpoint` is `topic`, which is checked separately).
    public var requiredParams: [String] {
        switch self {
        case .moralis: ["address"]
        case .glassnode: ["metric"]
        case .twitter: ["query"]
        case .reddit: ["subreddit"]
        case .lunarcrush, .httpJSON: []
        }
    }
}
