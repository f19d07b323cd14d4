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
    /// fleet-wide (Twitter/X tweet ids, Reddit fullnames; SPEC §8).
    public var isIncremental: Bool {
        switch self {
        case .twitter, .reddit: true
        case .moralis, .glassnode, .lunarcrush, .httpJSON: false
        }
    }
}
