import BreakerCore

/// A stored breaker as every operator view shows it: `breakwater status --json`, the daemon's
/// `/breakers` (its `stored` object), the dashboard's `/api/breakers` and its page.
///
/// The keys are the shown ``StoredField``s under their stored names (numbers as numbers), plus
/// `name`, `ttl_seconds`, `health_score` (successes / calls, `null` before any call),
/// `open_until_ms` (0 unless open), `time_in_open_ms_now` (time open including the current
/// open period), `problems` (stored values that were unusable) and, when read, `recent`
/// ledger entries. A field added to ``StoredField`` appears here without a change.
public struct BreakerView: Sendable, Equatable, Encodable {
    /// The breaker's name.
    public var name: String
    /// The decoded hash.
    public var stored: StoredBreakerState
    /// Redis server time the view was read at.
    public var nowMilliseconds: Int64
    /// Seconds until the hash expires (-1: no TTL, -2: missing).
    public var ttlSeconds: Int64
    /// The newest ledger entries, newest first (`nil`: not read).
    public var recent: [LedgerEntry]?

    /// Creates a view.
    public init(name: String, stored: StoredBreakerState, nowMilliseconds: Int64, ttlSeconds: Int64, recent: [LedgerEntry]? = nil) {
        self.name = name
        self.stored = stored
        self.nowMilliseconds = nowMilliseconds
        self.ttlSeconds = ttlSeconds
        self.recent = recent
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: Key("name"))
        for field in StoredField.allCases where field.isShown {
            let key = Key(field.name)
            switch field.kind {
            case .state: try container.encode(stored.state.rawValue, forKey: key)
            case .forced: try container.encode(stored.forced?.rawValue ?? "", forKey: key)
            case .mode: try container.encode(stored.mode, forKey: key)
            case .count, .milliseconds, .time: try container.encode(stored[integer: field], forKey: key)
            case .number: try container.encodeIfPresent(stored[number: field], forKey: key)
            case .text: try container.encode(stored[text: field], forKey: key)
            case .list: continue
            }
        }
        try container.encode(ttlSeconds, forKey: Key("ttl_seconds"))
        if let score = stored.healthScore {
            try container.encode(score, forKey: Key("health_score"))
        } else {
            try container.encodeNil(forKey: Key("health_score"))
        }
        try container.encode(stored.state == .open ? stored.openUntilMilliseconds : 0, forKey: Key("open_until_ms"))
        try container.encode(stored.timeInOpen(at: nowMilliseconds), forKey: Key("time_in_open_ms_now"))
        try container.encode(stored.problems, forKey: Key("problems"))
        try container.encodeIfPresent(recent, forKey: Key("recent"))
    }
}
