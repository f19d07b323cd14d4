/// Generic `http_json`: any JSON body is a success and becomes one record.
///
/// An object gives its top-level scalar members as fields; an array gives `count`; a bare
/// scalar gives `value`. The id is a 64-bit FNV-1a hash of the body, so an unchanged
/// body always yields the same id.
public enum HTTPJSONParser: PayloadParsing {
    /// Parses a body without access to its raw bytes (the id hashes the canonical fields instead).
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source.
    /// - Returns: One record.
    /// - Throws: Never for valid JSON; declared for the protocol.
    public static func records(from json: JSONValue, source: SourceDefinition) throws(MalformedPayload) -> [CollectedRecord] {
        let fields = fields(of: json)
        let canonical = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        return [record(fields: fields, hashing: Array(canonical.utf8), source: source)]
    }

    /// Parses a body, using its raw bytes for the id.
    ///
    /// - Parameters:
    ///   - json: The decoded body.
    ///   - source: The polled source.
    ///   - body: The raw bytes.
    /// - Returns: One record.
    public static func records(from json: JSONValue, source: SourceDefinition, body: [UInt8]) throws(MalformedPayload) -> [CollectedRecord] {
        [record(fields: fields(of: json), hashing: body, source: source)]
    }

    static func fields(of json: JSONValue) -> [String: String] {
        switch json {
        case .object(let object): PayloadParser.flatten(object, depth: 0)
        case .array(let elements): ["count": String(elements.count)]
        default: ["value": json.scalarText ?? ""]
        }
    }

    static func record(fields: [String: String], hashing bytes: [UInt8], source: SourceDefinition) -> CollectedRecord {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        let id = String(repeating: "0", count: 16 - hex.count) + hex
        return CollectedRecord(source: source.name, kind: .httpJSON, id: id, timestamp: nil, fields: fields)
    }
}
