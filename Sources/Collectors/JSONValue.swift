import Foundation

/// A parsed JSON document, kept close to the text: numbers remember how they print.
///
/// Parsers work on this rather than on `JSONSerialization`'s `Any` so that `true` and `1`
/// stay distinct and numbers are written to streams without float noise where possible.
public indirect enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number; `text` is its canonical printing (integers without a decimal point).
    case number(Double, text: String)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])

    /// Parses a JSON document (any top-level value, including a bare scalar).
    ///
    /// - Parameter bytes: The body.
    /// - Returns: The value.
    /// - Throws: ``MalformedPayload`` when the bytes are not JSON.
    public static func parse(_ bytes: some Collection<UInt8>) throws(MalformedPayload) -> JSONValue {
        let data = Data(bytes)
        guard !data.isEmpty else { throw MalformedPayload("empty body, expected JSON") }
        let object: Any
        do {
            // JSONSerialization is several times faster than a Decodable enum on large bodies.
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw MalformedPayload("body is not valid JSON")
        }
        return JSONValue(foundation: object)
    }

    /// Converts `JSONSerialization` output. Booleans are told from numbers by their
    /// Objective-C type code (`c`), which JSON numbers never have.
    init(foundation value: Any) {
        switch value {
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            let type = String(cString: number.objCType)
            if type == "c" || type == "B" {
                self = .bool(number.boolValue)
            } else if type == "d" || type == "f" {
                self = .number(number.doubleValue, text: Self.format(number.doubleValue))
            } else {
                self = .number(number.doubleValue, text: number.stringValue)
            }
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundation:)))
        case let object as [String: Any]:
            self = .object(object.mapValues(JSONValue.init(foundation:)))
        default:
            self = .null
        }
    }

    /// Prints integral doubles without `.0` and others in Swift's shortest round-trip form.
    static func format(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 9.007e15 { return String(Int64(value)) }
        return String(value)
    }

    /// The members of an object, or `nil`.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements of an array, or `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The string, or `nil` for any other type.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number, or `nil` for any other type.
    public var doubleValue: Double? {
        if case .number(let value, _) = self { return value }
        return nil
    }

    /// Member lookup for objects; `nil` for other types or a missing key.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// A scalar printed as a stream field value: strings as they are, numbers canonically,
    /// booleans as `true`/`false`, null as the empty string; `nil` for arrays and objects.
    public var scalarText: String? {
        switch self {
        case .null: ""
        case .bool(let value): value ? "true" : "false"
        case .number(_, let text): text
        case .string(let value): value
        case .array, .object: nil
        }
    }

    /// A scalar that is a number, or a string holding a number (APIs mix both).
    public var numericText: String? {
        switch self {
        case .number(_, let text): return text
        case .string(let value):
            let trimmed = value.trimmingCharacters(in: .whitespaces)
            guard let number = Double(trimmed), number.isFinite else { return nil }
            return trimmed
        default: return nil
        }
    }

    /// A short name of the type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
