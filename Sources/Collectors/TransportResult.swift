/// What the HTTP layer produced for one request, before classification.
public enum TransportResult: Sendable, Equatable {
    /// A complete response. Header names are lowercased.
    case response(status: Int, headers: [String: String], body: [UInt8])
    /// No complete response within the timeout.
    case timeout
    /// Connecting failed or the connection broke (refused, reset, DNS, TLS…).
    case connectionError(String)
    /// The body exceeded the size cap (bytes) and was abandoned.
    case bodyTooLarge(limit: Int)
    /// The poll was cancelled (shutdown); not the upstream's fault.
    case cancelled
    /// The request could not be sent because of this process (e.g. a header value HTTP does
    /// not allow): not an upstream failure. The message never carries header values.
    case localError(String)
}
