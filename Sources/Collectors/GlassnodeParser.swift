/// Glassnode `GET /v1/metrics/{metric}`: a time series `[{"t": 1614556800, "v": 45137.77}, …]`.
///
/// Some metrics return `"o": {…}` (an object of values) instead of `"v"`. Every point is
/// validated, but only the newest point becomes a record: the API returns the whole history
/// on every poll, and the stream should receive each observation once per poll. The record
/// id is `{metric}:{asset}@{t}`; an empty array is a valid, empty result.
public enum GlassnodeParser: PayloadParsing {
    /// Parses a Glassnode metric body.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source (`params.metric` and `params.asset` go into the id).
    /// - Returns: Zero or one record (the newest point).
    /// - Throws: ``MalformedPayload`` when the body is not an array of `{t, v|o}` objects.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        guard case .array(let points) = json else {
            throw MalformedPayload("glassnode: expected an array of {t, v} points, got \(json.typeName)")
        }
        var newest: (t: Double, fields: [String: String])?
        for (index, point) in points.enumerated() {
            guard case .object(let object) = point else {
                throw MalformedPayload("glassnode: point [\(index)] is \(point.typeName), expected an object")
            }
            guard let t = object["t"]?.doubleValue else {
                throw MalformedPayload("glassnode: point [\(index)] has no numeric t")
            }
            var fields: [String: String] = ["t": JSONValue.format(t)]
            if let value = object["v"] {
                switch value {
                case .number, .null, .string, .bool: fields["v"] = value.scalarText
                case .object(let nested): fields.merge(PayloadParser.flatten(nested, prefix: "v", depth: 1)) { a, _ in a }
                case .array: throw MalformedPayload("glassnode: point [\(index)] has an array v")
                }
            } else if case .object(let nested)? = object["o"] {
                fields.merge(PayloadParser.flatten(nested, prefix: "o", depth: 1)) { a, _ in a }
            } else {
                throw MalformedPayload("glassnode: point [\(index)] has neither v nor o")
            }
            if newest == nil || t >= newest!.t { newest = (t, fields) }
        }
        guard var newest else { return [] }
        let metric = source.params["metric"] ?? "metric"
        let asset = source.params["asset"] ?? "BTC"
        newest.fields["metric"] = metric
        newest.fields["asset"] = asset
        return [CollectedRecord(
            source: source.name, kind: .glassnode, id: "\(metric):\(asset)@\(JSONValue.format(newest.t))",
            timestamp: PayloadParser.date(unixSeconds: .number(newest.t, text: JSONValue.format(newest.t))),
            fields: newest.fields
        )]
    }
}
