/// An error from the Redis client: what failed, and the server's or the OS's words for it.
///
/// Messages never contain a password.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. Extensible: switch with a `default`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The URL or configuration could not be understood.
        public static let invalidConfiguration = Code("invalid configuration")
        /// The TCP or Unix-socket connection could not be opened.
        public static let connectionFailed = Code("connection failed")
        /// An established connection broke (EOF, reset, I/O error).
        public static let connectionLost = Code("connection lost")
        /// The connect or command timeout elapsed.
        public static let timeout = Code("timeout")
        /// AUTH was refused.
        public static let authenticationFailed = Code("authentication failed")
        /// SELECT was refused (e.g. database index out of range).
        public static let databaseSelectionFailed = Code("database selection failed")
        /// The server answered with an error reply; the message is its text verbatim.
        public static let server = Code("server error")
        /// The reply could not be parsed, or had an unexpected shape.
        public static let protocolError = Code("protocol error")
        /// The client was shut down.
        public static let closed = Code("closed")
        /// The TLS handshake or the TLS layer failed; ``RedisError/tlsFailure`` says why.
        public static let tls = Code("TLS failed")
        /// The connection is down and the next reconnect attempt is not due yet.
        public static let unavailable = Code("unavailable")
        public var description: String { raw }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation, e.g. the server's `-ERR` text.
    public var message: String
    /// For ``Code/tls``: the cause (unknown CA, expired, name mismatch, …).
    public var tlsFailure: TLSFailure?

    /// Creates an error.
    public init(_ code: Code, _ message: String, tlsFailure: TLSFailure? = nil) {
        self.code = code
        self.message = message
        self.tlsFailure = tlsFailure
    }

    /// What an operator would call the cause, for "log once per cause": the code, and for
    /// TLS failures the TLS cause.
    public var cause: String {
        tlsFailure.map { "TLS \($0.rawValue)" } ?? code.description
    }

    public var description: String { "redis \(code): \(message)" }

    /// Whether the failure means the connection is unusable and must be re-established.
    public var breaksConnection: Bool {
        code == .connectionLost || code == .timeout || code == .protocolError || code == .connectionFailed || code == .tls
    }

    /// Whether this is a `READONLY` refusal: the node written to is a replica (with Sentinel,
    /// the master moved). Also found inside a script error (`script NAME: READONLY …`).
    public var isReadOnly: Bool {
        code == .server && (message.hasPrefix("READONLY") || message.contains(": READONLY "))
    }

    /// For a server error, the error prefix (`ERR`, `NOSCRIPT`, `WRONGTYPE`, …).
    public var serverErrorPrefix: Substring? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }
}
