/// Reddit `GET /r/{subreddit}/new.json`: a `Listing` of `t3` posts.
///
/// Documented shape: `{"kind": "Listing", "data": {"after", "before", "dist", "children":
/// [{"kind": "t3", "data": {"id", "name", "title", "author", "created_utc", "score",
/// "num_comments", "permalink", "url", "selftext", …}}]}}`. An empty `children` list is valid.
public enum RedditParser: PayloadParsing {
    /// Parses a subreddit listing.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source.
    /// - Returns: One record per post; id = the post's fullname (`t3_…`), timestamp = `created_utc`.
    /// - Throws: ``MalformedPayload`` when `kind` is not `Listing` or a post lacks `id`, `title` or `created_utc`.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .object(let object) = json else {
            throw MalformedPayload("reddit: expected a Listing object, got \(json.typeName)")
        }
        guard let kind = object["kind"]?.stringValue else {
            throw MalformedPayload("reddit: missing kind")
        }
        guard kind == "Listing" else {
            throw MalformedPayload("reddit: kind is \"\(kind)\", expected \"Listing\"")
        }
        guard let children = object["data"]?["children"]?.arrayValue else {
            throw MalformedPayload("reddit: missing data.children array")
        }
        return try children.enumerated().map { (index, child) throws(MalformedPayload) -> CollectedRecord in
            guard case .object(let post)? = child["data"] else {
                throw MalformedPayload("reddit: children[\(index)] has no data object")
            }
            guard let id = post["id"]?.stringValue, !id.isEmpty else {
                throw MalformedPayload("reddit: children[\(index)].data has no string id")
            }
            guard post["title"]?.stringValue != nil else {
                throw MalformedPayload("reddit: children[\(index)].data has no string title")
            }
            guard let created = PayloadParser.date(unixSeconds: post["created_utc"]) else {
                throw MalformedPayload("reddit: children[\(index)].data has no numeric created_utc")
            }
            var fields = PayloadParser.flatten(post, depth: 0)
            if let selftext = fields["selftext"], selftext.count > 2000 { fields["selftext"] = String(selftext.prefix(2000)) }
            let fullname = post["name"]?.stringValue ?? "\(child["kind"]?.stringValue ?? "t3")_\(id)"
            return CollectedRecord(source: source.name, kind: .reddit, id: fullname, timestamp: created, fields: fields)
        }
    }
}
