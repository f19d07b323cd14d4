import Foundation

/// Everything needed to poll one upstream: where, how to authenticate, and what to ask for.
///
/// The API key is held in memory only; ``description`` never shows it.
public struct SourceDefinition: Sendable, Equatable, CustomStringConvertible {
    /// The collector's name; becomes ``CollectedRecord/source`` (and the stream `collector:<name>`).
    public var name: String
    /// Which API this is.
    public var kind: SourceKind
    /// Base URL; paths are appended to it (e.g. `https://deep-index.moralis.io/api/v2.2`).
    public var baseURL: URL
    /// The API key or bearer token, if any.
    public var apiKey: String?
    /// Source-specific options; see ``UpstreamRequest/init(for:)`` for the keys and defaults.
    public var params: [String: String]
    /// Time the whole request (connect, head and body) may take.
    public var timeout: Duration
    /// The newest item already collected, for incremental kinds (``SourceKind/isIncremental``):
    /// Twitter/X asks only for newer tweets (`since_id`). Set per poll from `cb_sched:<name>`.
    public var cursor: String?

    /// Creates a source definition.
    ///
    /// - Parameters:
    ///   - name: Collector name; defaults to the kind's raw value.
    ///   - kind: Which API.
    ///   - baseURL: Base URL of the API.
    ///   - apiKey: API key or bearer token.
    ///   - params: Source-specific options.
    ///   - timeout: Request timeout (default 10 s).
    ///   - cursor: The newest item already collected (incremental kinds).
    public init(
        name: String? = nil,
        kind: SourceKind,
        baseURL: URL,
        apiKey: String? = nil,
        params: [String: String] = [:],
        timeout: Duration = .seconds(10),
        cursor: String? = nil
    ) {
        self.name = name ?? kind.rawValue
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.params = params
        self.timeout = timeout
        self.cursor = cursor
    }

    /// Name, kind, base URL and params; the API key appears only as `<redacted>`.
    public var description: String {
        let params = self.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "\(name) (\(kind.rawValue)) \(baseURL.absoluteString) params={\(params)}"
            + (apiKey == nil ? "" : " api_key=<redacted>")
    }
}
