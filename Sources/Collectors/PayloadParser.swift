import Foundation

/// Turns one API's documented response shape into ``CollectedRecord`` values.
public protocol PayloadParsing: Sendable {
    /// Parses a decoded JSON body.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The source that was polled (its name, kind and params shape the records).
    /// - Returns: The records, possibly none (an empty result set is not an error).
    /// - Throws: ``MalformedPayload`` when the body is not the documented shape.
    static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord]
}

/// Picks the parser for a source's kind and applies it to a raw body.
public enum PayloadParser {
    /// Parses a response body for a source.
    ///
    /// - Parameters:
    ///   - body: The raw response body.
    ///   - source: The source that was polled.
    /// - Returns: The normalised records.
    /// - Throws: ``MalformedPayload`` when the body is not JSON or not the documented shape.
    public static func parse(_ body: some Collection<UInt8>, for source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw MalformedPayload("\(source.kind.rawValue): \(error.reason)")
        }
        switch source.kind {
        case .moralis: return try MoralisParser.records(from: json, source: source)
        case .glassnode: return try GlassnodeParser.records(from: json, source: source)
        case .twitter: return try TwitterParser.records(from: json, source: source)
        case .reddit: return try RedditParser.records(from: json, source: source)
        case .lunarcrush: return try LunarCrushParser.records(from: json, source: source)
        case .httpJSON: return try HTTPJSONParser.records(from: json, source: source, body: Array(body))
        }
    }

    /// Flattens an object's scalars into dotted keys, descending into nested objects up to
    /// `depth` levels; arrays are skipped. Values longer than 4096 characters are cut.
    static func flatten(_ object: [String: JSONValue], prefix: String = "", depth: Int = 1) -> [String: String] {
        var fields: [String: String] = [:]
        for (key, value) in object {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            if let text = value.scalarText {
                fields[name] = text.count > 4096 ? String(text.prefix(4096)) : text
            } else if case .object(let nested) = value, depth > 0 {
                fields.merge(flatten(nested, prefix: name, depth: depth - 1)) { first, _ in first }
            }
        }
        return fields
    }

    /// Parses RFC 3339 / ISO 8601 timestamps with or without fractional seconds.
    static func date(iso8601 text: String) -> Date? {
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }

    /// A Unix time in seconds (number or numeric string) as a date.
    /// A Unix time in seconds, from 1970 to the year 9999; anything else (1e20, -5, inf) is
    /// not a time and is dropped, so it can never overflow the stream's `ts_ms`.
    static func date(unixSeconds value: JSONValue?) -> Date? {
        guard let text = value?.numericText, let seconds = Double(text), seconds >= 0, seconds <= 253_402_300_799 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}
