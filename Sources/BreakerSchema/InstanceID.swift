/// The rule every instance id follows, wherever it comes from (config, environment, library
/// callers, the CLI's `user@host`): 1–200 bytes, no `:`, `,`, `#`, whitespace or control
/// characters. Those characters separate items in the stored lists (`leases`,
/// `contributors`) and probe tokens (`<instance>#<n>`), so an id holding one could forge
/// another instance's entry. The scripts check the same rule (``luaPattern``).
public enum InstanceID {
    /// The longest id, in UTF-8 bytes.
    public static let maximumBytes = 200

    /// The characters an id must not contain, as a Lua pattern class (the scripts' copy of the rule).
    static let luaPattern = "[:,#%s%c]"

    /// Why `id` breaks the rule, or `nil` when it follows it.
    public static func problem(with id: String) -> String? {
        let bytes = id.utf8
        if bytes.isEmpty { return "is empty" }
        if bytes.count > maximumBytes { return "is \(bytes.count) bytes long (at most \(maximumBytes))" }
        for byte in bytes where isForbidden(byte) {
            let shown = byte >= 0x21 && byte < 0x7F ? "\"\(Character(Unicode.Scalar(byte)))\"" : hexByte(byte)
            return "contains \(shown) (no ':', ',', '#', spaces or control characters)"
        }
        return nil
    }

    /// Whether `id` follows the rule.
    public static func isValid(_ id: String) -> Bool { problem(with: id) == nil }

    /// `id` with every forbidden byte replaced by `-` and cut to ``maximumBytes`` (for ids
    /// derived from a host or user name); `fallback` when nothing usable remains.
    public static func sanitized(_ id: String, fallback: String = "instance") -> String {
        var bytes = id.utf8.map { isForbidden($0) ? UInt8(ascii: "-") : $0 }
        if bytes.count > maximumBytes { bytes = Array(bytes.prefix(maximumBytes)) }
        // A cut may split a multi-byte character: decoding repairs it, and the result is re-cut.
        var text = String(decoding: bytes, as: UTF8.self)
        while text.utf8.count > maximumBytes { text.removeLast() }
        return text.isEmpty ? fallback : text
    }

    private static func isForbidden(_ byte: UInt8) -> Bool {
        // Lua's %s and %c in the C locale: ASCII whitespace and control bytes (0-31, 127).
        byte < 0x21 || byte == 0x7F || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "#")
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "byte 0x" + (digits.count == 1 ? "0" + digits : digits)
    }
}
