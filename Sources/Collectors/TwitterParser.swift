/// Twitter/X API v2 `GET /2/tweets/search/recent`.
///
/// Documented shape: `{"data": [{"id", "text", "created_at", "author_id", "public_metrics":
/// {…}}], "meta": {"newest_id", "oldest_id", "result_count", "next_token"}}`. With no
/// matches the API returns only `{"meta": {"result_count": 0}}`, which is a valid empty
/// result. A body with neither `data` nor `meta` (for example only `errors`) is malformed.
public enum TwitterParser: PayloadParsing {
    /// Parses a recent-search body.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source.
    /// - Returns: One record per tweet, id = tweet id, timestamp = `created_at`.
    /// - Throws: ``MalformedPayload`` for a wrong shape or a tweet without `id` / `text`.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .object(let object) = json else {
            throw MalformedPayload("twitter: expected an object, got \(json.typeName)")
        }
        let meta = object["meta"]
        if let meta, meta.objectValue == nil {
            throw MalformedPayload("twitter: meta must be an object, got \(meta.typeName)")
        }
        let resultCount = meta?["result_count"]?.doubleValue
        guard let data = object["data"] else {
            if let resultCount {
                guard resultCount == 0 else {
                    throw MalformedPayload("twitter: meta.result_count is \(JSONValue.format(resultCount)) but data is missing")
                }
                return []
            }
            if let errors = object["errors"]?.arrayValue, let first = errors.first {
                let title = first["title"]?.stringValue ?? first["message"]?.stringValue ?? "unknown"
                throw MalformedPayload("twitter: errors without data (\(title))")
            }
            throw MalformedPayload("twitter: missing data and meta.result_count")
        }
        guard case .array(let tweets) = data else {
            throw MalformedPayload("twitter: data must be an array, got \(data.typeName)")
        }
        return try tweets.enumerated().map { (index, tweet) throws(MalformedPayload) -> CollectedRecord in
            guard case .object(let fields) = tweet else {
                throw MalformedPayload("twitter: data[\(index)] is \(tweet.typeName), expected an object")
            }
            guard let id = fields["id"]?.stringValue, !id.isEmpty else {
                throw MalformedPayload("twitter: data[\(index)] has no string id")
            }
            guard fields["text"]?.stringValue != nil else {
                throw MalformedPayload("twitter: data[\(index)] has no string text")
            }
            let timestamp = fields["created_at"]?.stringValue.flatMap(PayloadParser.date(iso8601:))
            var flat = PayloadParser.flatten(fields, depth: 1)
            flat.removeValue(forKey: "id")
            return CollectedRecord(source: source.name, kind: .twitter, id: id, timestamp: timestamp, fields: flat)
        }
    }
}
