import Foundation
import SafeNumbers

/// One normalised observation from an upstream, ready to append to `collector:<source>`.
public struct CollectedRecord: Sendable, Equatable, Hashable {
    /// The collector's name.
    public var source: String
    /// Which API produced it.
    public var kind: SourceKind
    /// A stable id: the same observation always gets the same id (tweet id, post id, `metric@t`…).
    public var id: String
    /// When the observation was made upstream, if the payload says.
    public var timestamp: Date?
    /// Flat payload fields (no nesting; nested objects are flattened with dotted keys).
    public var fields: [String: String]

    /// Creates a record.
    ///
    /// - Parameters:
    ///   - source: Collector name.
    ///   - kind: The API.
    ///   - id: Stable id.
    ///   - timestamp: Upstream time, if known.
    ///   - fields: Flat payload fields.
    public init(source: String, kind: SourceKind, id: String, timestamp: Date? = nil, fields: [String: String]) {
        self.source = source
        self.kind = kind
        self.id = id
        self.timestamp = timestamp
        self.fields = fields
    }

    /// Field/value pairs for `XADD collector:<source> MAXLEN ~ N * …`, in a stable order:
    /// `source`, `kind`, `id`, `ts_ms` (when known), then the payload fields sorted by name.
    /// A payload field that clashes with one of the leading names is prefixed with `field.`.
    public var streamFields: [(String, String)] {
        var pairs: [(String, String)] = [("source", source), ("kind", kind.rawValue), ("id", id)]
        if let timestamp {
            pairs.append(("ts_ms", String(Int64(clamping: timestamp.timeIntervalSince1970 * 1000) ?? 0)))
        }
        let reserved: Set<String> = ["source", "kind", "id", "ts_ms"]
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            pairs.append((reserved.contains(key) ? "field.\(key)" : key, value))
        }
        return pairs
    }
}
