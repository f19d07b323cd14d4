/// What one poll means for the breaker.
public enum UpstreamVerdict: Sendable, Equatable {
    /// A 2xx with a body of the documented shape; the records to write (possibly none).
    case success([CollectedRecord])
    /// A breaker failure: timeout, connection error, 5xx, or a malformed payload.
    case failure(FailureReason)
    /// Not a breaker failure (other 4xx, a bad source definition, a cancelled poll): log it, count nothing.
    case notCounted(String)
    /// 429 Too Many Requests; back off for `retryAfter` when the server said how long.
    case rateLimited(retryAfter: Duration?)
}

/// Why a poll counted as a breaker failure.
public struct FailureReason: Sendable, Equatable, CustomStringConvertible {
    /// A bounded category, suitable as a metric label.
    public enum Category: String, Sendable, Equatable, CaseIterable {
        /// No complete answer within the timeout.
        case timeout
        /// Could not connect, or the connection broke.
        case connection
        /// A 5xx status.
        case serverError = "server_error"
        /// The body is not JSON, not the documented shape, or too large.
        case malformedPayload = "malformed_payload"
    }

    /// The category.
    public var category: Category
    /// The HTTP status, when there was a response.
    public var status: Int?
    /// Human-readable detail; never contains a secret or the body.
    public var detail: String

    /// Creates a reason.
    ///
    /// - Parameters:
    ///   - category: The category.
    ///   - status: The HTTP status, if any.
    ///   - detail: Human-readable detail.
    public init(_ category: Category, status: Int? = nil, detail: String) {
        self.category = category
        self.status = status
        self.detail = detail
    }

    /// `category (status): detail`.
    public var description: String {
        "\(category.rawValue)\(status.map { " (\($0))" } ?? ""): \(detail)"
    }
}
