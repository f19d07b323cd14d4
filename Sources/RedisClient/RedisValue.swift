/// A decoded RESP2 reply.
///
/// Every reply type hiredis can produce is represented, including nested arrays.
/// Bulk strings keep their raw bytes, so binary values (with NUL bytes) survive.
public enum RedisValue: Sendable, Hashable {
    /// A status reply such as `+OK`.
    case status(String)
    /// An error reply such as `-ERR unknown command`, with the server's text verbatim.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string reply, as raw bytes.
    case bulkString([UInt8])
    /// A nil bulk string or nil array.
    case null
    /// A (possibly nested) multi-bulk reply.
    indirect case array([RedisValue])

    /// The value as UTF-8 text, for status and bulk strings (and integers, rendered in decimal).
    public var string: String? {
        switch self {
        case .status(let text): return text
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The raw bytes of a bulk string or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The value as an integer: integer replies, or bulk strings holding a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulkString, .status: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether this is the nil reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Interprets a flat `[field, value, field, value, …]` array (as HGETALL returns) as a dictionary.
    ///
    /// - Returns: the pairs, or `nil` when the reply is not an array of even length.
    public var fieldDictionary: [String: String]? {
        guard case .array(let elements) = self, elements.count % 2 == 0 else { return nil }
        var result: [String: String] = [:]
        result.reserveCapacity(elements.count / 2)
        var index = 0
        while index < elements.count {
            guard let field = elements[index].string, let value = elements[index + 1].string else { return nil }
            result[field] = value
            index += 2
        }
        return result
    }
}

extension RedisValue: CustomStringConvertible {
    /// A redis-cli-like rendering, for logs and test failures.
    public var description: String {
        switch self {
        case .status(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulkString(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
