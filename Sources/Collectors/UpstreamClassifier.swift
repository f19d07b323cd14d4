import Foundation

/// Maps a transport result to a breaker verdict (SPEC §4). Pure: time is an argument.
///
/// | result | verdict |
/// |---|---|
/// | 2xx with a documented-shape body (204: no records) | `.success` |
/// | 2xx with a malformed body, body over the cap | `.failure(.malformedPayload)` |
/// | 429 | `.rateLimited(retryAfter:)` from `Retry-After` (delta-seconds or HTTP-date) |
/// | other 4xx, 1xx/3xx | `.notCounted` |
/// | 5xx | `.failure(.serverError)` |
/// | timeout | `.failure(.timeout)` |
/// | connection error | `.failure(.connection)` |
/// | cancelled | `.notCounted` |
public struct UpstreamClassifier: Sendable {
    /// Creates a classifier.
    public init() {}

    /// Classifies one result.
    ///
    /// - Parameters:
    ///   - result: What the transport produced.
    ///   - source: The source polled (selects the parser).
    ///   - now: The current time, for `Retry-After` HTTP-dates.
    /// - Returns: The verdict.
    public func classify(_ result: TransportResult, for source: SourceDefinition, now: Date = Date()) -> UpstreamVerdict {
        switch result {
        case .timeout:
            return .failure(FailureReason(.timeout, detail: "no response within \(source.timeout)"))
        case .connectionError(let message):
            return .failure(FailureReason(.connection, detail: message))
        case .bodyTooLarge(let limit):
            return .failure(FailureReason(.malformedPayload, detail: "body larger than \(limit) bytes"))
        case .cancelled:
            return .notCounted("poll cancelled")
        case .response(let status, let headers, let body):
            switch status {
            case 204:
                return .success([])
            case 200..<300:
                do {
                    return .success(try PayloadParser.parse(body, for: source))
                } catch {
                    return .failure(FailureReason(.malformedPayload, status: status, detail: error.reason))
                }
            case 429:
                let value = headers["retry-after"] ?? headers.first { $0.key.lowercased() == "retry-after" }?.value
                return .rateLimited(retryAfter: value.flatMap { Self.retryAfter($0, now: now) })
            case 400..<500:
                return .notCounted("HTTP \(status) (client error, not counted)")
            case 500..<600:
                return .failure(FailureReason(.serverError, status: status, detail: "HTTP \(status)"))
            default:
                return .notCounted("HTTP \(status) (unexpected status, not counted)")
            }
        }
    }

    /// Parses a `Retry-After` value (RFC 9110 §10.2.3).
    ///
    /// - Parameters:
    ///   - value: Delta-seconds (`120`) or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
    ///   - now: The current time; a date in the past yields zero.
    /// - Returns: How long to wait, or `nil` when the value is neither form.
    public static func retryAfter(_ value: String, now: Date) -> Duration? {
        // Collapse runs of spaces: asctime pads single-digit days ("Nov  6").
        let text = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // Absurdly large values (beyond Int64 seconds) are treated as unparseable.
            return Int64(text).map { .seconds($0) }
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let delta = max(0, date.timeIntervalSince(now))
                return .milliseconds(Int64((delta * 1000).rounded()))
            }
        }
        return nil
    }
}
