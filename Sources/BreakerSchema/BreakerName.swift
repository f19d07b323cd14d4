/// A validated breaker name: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`.
///
/// Only validated names reach Redis keys, so a name can never smuggle in a `:` or `*`.
public struct BreakerName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The name itself.
    public let rawValue: String

    /// Validates a name.
    ///
    /// - Throws: ``InvalidBreakerName`` explaining which rule the name breaks.
    public init(_ rawValue: String) throws(InvalidBreakerName) {
        let bytes = Array(rawValue.utf8)
        guard let first = bytes.first else {
            throw InvalidBreakerName(name: rawValue, reason: "is empty")
        }
        guard bytes.count <= 128 else {
            throw InvalidBreakerName(name: rawValue, reason: "is \(bytes.count) bytes long (at most 128)")
        }
        guard Self.isAlphanumeric(first) else {
            throw InvalidBreakerName(name: rawValue, reason: "must start with a letter or digit")
        }
        for byte in bytes.dropFirst() where !(Self.isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")) {
            let character = String(decoding: [byte], as: UTF8.self)
            throw InvalidBreakerName(name: rawValue, reason: "contains \"\(character)\" (allowed: letters, digits, '_', '.', '-')")
        }
        self.rawValue = rawValue
    }

    /// The hash holding the shared state: `cb_state:<name>`.
    public var stateKey: String { BreakerKeys.state(rawValue) }
    /// The channel transitions are published on: `cb_events:<name>`.
    public var eventsChannel: String { BreakerKeys.events(rawValue) }
    /// The ledger stream: every transition and manual action, `cb_log:<name>`.
    public var logKey: String { BreakerKeys.log(rawValue) }
    /// The stream collected records go to: `collector:<name>`.
    public var streamKey: String { BreakerKeys.stream(rawValue) }

    public var description: String { rawValue }

    public static func < (lhs: BreakerName, rhs: BreakerName) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }
}

/// A breaker name that breaks the naming rule.
public struct InvalidBreakerName: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rejected name.
    public var name: String
    /// Which rule it breaks.
    public var reason: String

    public var description: String {
        "invalid breaker name \"\(name)\": \(reason); names match [A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
    }
}
