import Foundation
import SafeNumbers

/// Maps a transport result to a breaker verdict (docs/semantics.md#what-counts-as-a-failure). Pure: time is an argument.
///
/// | result | verdict |
/// |---|---|
/// | 2xx with a documented-shape body (204: no records) | `.success` |
/// | 2xx with a malformed body, body over the cap | `.failure(.malformedPayload)` |
/// | 429 | `.rateLimited(retryAfter:)` from `Retry-After` (delta-seconds or HTTP-date) |
/// | 3xx (redirects are not followed: credentials stay with their origin) | `.notCounted` |
/// | other 4xx, 1xx | `.notCounted` |
/// | local error (the request could not be sent) | `.notCounted` |
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
        case .localError(let message):
            return .notCounted("not sent: \(message)")
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
            case 300..<400:
                let location = headers["location"].flatMap { URL(string: $0) }
                let target = location.map { url in url.host.map { "\(url.scheme ?? "http")://\($0)\(url.port.map { ":\($0)" } ?? "")" } ?? "a relative location" } ?? "no location"
                return .notCounted("HTTP \(status) redirect to \(target) not followed (API polls do not follow redirects; set base_url to the final address)")
            case 400..<500:
                return .notCounted("HTTP \(status) (client error, not counted)")
            case 500..<600:
                return .failure(FailureReason(.serverError, status: status, detail: "HTTP \(status)"))
            default:
                return .notCounted("HTTP \(status) (unexpected status, not counted)")
            }
        }
    }

    /// Parses a `Retry-After` value (RFC 9110 §10.2.3). Never traps: a number of any size
    /// saturates (callers clamp it to their `max_pause`).
    ///
    /// - Parameters:
    ///   - value: Delta-seconds (`120`) or an HTTP-date (IMF-fixdate, RFC 850 or asctime).
    ///   - now: The current time; a date in the past yields zero.
    /// - Returns: How long to wait, or `nil` when the value is neither form.
    public static func retryAfter(_ value: String, now: Date) -> Duration? {
        // Both forms are printable ASCII. Anything else never reaches DateFormatter, which traps on
        // some combining marks and leaks on characters outside the BMP (toolchain Foundation).
        guard value.utf8.count <= 256, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        // Collapse runs of spaces: asctime pads single-digit days ("Nov  6").
        let text = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            // Digits beyond Int64 are still a (very long) delay: saturate, never drop it.
            let seconds = Int64(strictDecimal: text) ?? .max
            return Duration(clampingSeconds: seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                return Duration(clampingSeconds: max(0, date.timeIntervalSince(now)))
            }
        }
        return nil
    }
}
