/// One Redis command: a name and binary-safe arguments.
///
/// Arguments are stored as raw bytes, so keys and values may contain NUL bytes.
public struct RedisCommand: Sendable, Hashable {
    /// The command name followed by its arguments, as sent on the wire.
    public var arguments: [[UInt8]]

    /// Creates a command from its name and arguments.
    ///
    /// - Parameters:
    ///   - name: the command, e.g. `"HGETALL"`.
    ///   - arguments: its arguments; strings, integers, doubles and byte arrays are accepted.
    public init(_ name: String, _ arguments: any RedisArgumentConvertible...) {
        self.init(name, arguments)
    }

    /// Creates a command from its name and an array of arguments.
    public init(_ name: String, _ arguments: [any RedisArgumentConvertible]) {
        var all: [[UInt8]] = [Array(name.utf8)]
        all.reserveCapacity(arguments.count + 1)
        for argument in arguments { all.append(argument.redisBytes) }
        self.arguments = all
    }

    /// Creates a command from raw argument bytes (the first element is the command name).
    public init(rawArguments: [[UInt8]]) {
        self.arguments = rawArguments
    }

    /// The command name, upper-cased, for logs and metrics.
    public var name: String {
        String(decoding: arguments.first ?? [], as: UTF8.self).uppercased()
    }
}

/// A value that can be sent as a Redis command argument.
public protocol RedisArgumentConvertible: Sendable {
    /// The bytes sent on the wire.
    var redisBytes: [UInt8] { get }
}

extension String: RedisArgumentConvertible {
    /// The UTF-8 bytes of the string.
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Substring: RedisArgumentConvertible {
    /// The UTF-8 bytes of the substring.
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Int: RedisArgumentConvertible {
    /// The decimal representation.
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RedisArgumentConvertible {
    /// The decimal representation.
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Double: RedisArgumentConvertible {
    /// The shortest decimal representation that round-trips.
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Array: RedisArgumentConvertible where Element == UInt8 {
    /// The bytes themselves.
    public var redisBytes: [UInt8] { self }
}
