/// LunarCrush API v4: `GET /public/coins/list/v2` and `GET /public/topic/{topic}/v1`.
///
/// Coins list: `{"config": {…}, "data": [{"id", "symbol", "name", "price", "volume_24h",
/// "percent_change_24h", "market_cap", "galaxy_score", "alt_rank", "sentiment",
/// "last_updated_price", …}]}` — one record per coin, id `coin:{symbol}`, timestamp
/// `last_updated_price`. Topic: `{"config": {"topic", "generated"}, "data": {"topic",
/// "title", "topic_rank", "interactions_24h", "num_contributors", "num_posts",
/// "types_count": {…}, …}}` — one record, id `topic:{topic}@{generated}`.
public enum LunarCrushParser: PayloadParsing {
    /// Parses a coins-list or topic body, chosen by `params.endpoint` (default `coins`).
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source.
    /// - Returns: One record per coin, or one for the topic.
    /// - Throws: ``MalformedPayload`` when `data` is missing or mistyped, or a coin has no `symbol`.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .object(let object) = json else {
            throw MalformedPayload("lunarcrush: expected an object, got \(json.typeName)")
        }
        guard let data = object["data"] else {
            let detail = object["error"]?.scalarText.map { " (error: \($0))" } ?? ""
            throw MalformedPayload("lunarcrush: missing data\(detail)")
        }
        if source.params["endpoint"] == "topic" {
            return try topic(data, config: object["config"], source: source)
        }
        guard case .array(let coins) = data else {
            throw MalformedPayload("lunarcrush: data must be an array of coins, got \(data.typeName)")
        }
        return try coins.enumerated().map { (index, coin) throws(MalformedPayload) -> CollectedRecord in
            guard case .object(let fields) = coin else {
                throw MalformedPayload("lunarcrush: data[\(index)] is \(coin.typeName), expected an object")
            }
            guard let symbol = fields["symbol"]?.stringValue, !symbol.isEmpty else {
                throw MalformedPayload("lunarcrush: data[\(index)] has no string symbol")
            }
            if let price = fields["price"], price != .null, price.doubleValue == nil {
                throw MalformedPayload("lunarcrush: data[\(index)].price must be a number, got \(price.typeName)")
            }
            return CollectedRecord(
                source: source.name, kind: .lunarcrush, id: "coin:\(symbol)",
                timestamp: PayloadParser.date(unixSeconds: fields["last_updated_price"]),
                fields: PayloadParser.flatten(fields, depth: 0)
            )
        }
    }

    static func topic(_ data: JSONValue, config: JSONValue?, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .object(let fields) = data else {
            throw MalformedPayload("lunarcrush: topic data must be an object, got \(data.typeName)")
        }
        guard let topic = fields["topic"]?.stringValue ?? config?["topic"]?.stringValue ?? source.params["topic"] else {
            throw MalformedPayload("lunarcrush: topic data has no topic")
        }
        var flat = PayloadParser.flatten(fields, depth: 1)
        flat["topic"] = topic
        let generated = config?["generated"]
        let id = generated?.numericText.map { "topic:\(topic)@\($0)" } ?? "topic:\(topic)"
        return [CollectedRecord(
            source: source.name, kind: .lunarcrush, id: id,
            timestamp: PayloadParser.date(unixSeconds: generated), fields: flat
        )]
    }
}
