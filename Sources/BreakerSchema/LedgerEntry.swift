import RedisClient

/// One entry of the ledger stream `cb_log:<name>`: a transition or manual action, appended in
/// the same atomic script step as the change (docs/protocol.md, "Ledger").
public struct LedgerEntry: Sendable, Equatable, Codable {
    /// The stream entry id (`<ms>-<seq>`).
    public var id: String
    /// The breaker version this change produced.
    public var version: Int
    public var from: String
    public var to: String
    /// Why, e.g. `failure_threshold`, `forced_open`, `override_expired`.
    public var reason: String
    /// The instance (or CLI) that made the change.
    public var by: String
    /// Redis server time of the change.
    public var atMilliseconds: Int64
    /// For manual actions: who and why.
    public var actor: String
    public var note: String
    /// For overrides with `--for`: when they lapse (0: until reset).
    public var untilMilliseconds: Int64

    enum CodingKeys: String, CodingKey {
        case id, version, from, to, reason, by, actor, note
        case atMilliseconds = "at_ms"
        case untilMilliseconds = "until_ms"
    }

    /// Decodes one XRANGE/XREVRANGE element (`[id, [field, value, …]]`); `nil` if malformed.
    public init?(_ value: RedisValue) {
        guard let parts = value.array, parts.count == 2, let id = parts[0].string, let flat = parts[1].array else { return nil }
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < flat.count {
            if let key = flat[index].string { fields[key] = flat[index + 1].string ?? "" }
            index += 2
        }
        self.id = id
        version = Int(fields["version"] ?? "") ?? 0
        from = fields["from"] ?? ""
        to = fields["to"] ?? ""
        reason = fields["reason"] ?? ""
        by = fields["by"] ?? ""
        atMilliseconds = Int64(fields["at_ms"] ?? "") ?? 0
        actor = fields["actor"] ?? ""
        note = fields["note"] ?? ""
        untilMilliseconds = Int64(fields["until_ms"] ?? "") ?? 0
    }
}
