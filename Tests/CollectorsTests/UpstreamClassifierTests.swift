import Collectors
import Foundation
import Testing

/// One transport result and the verdict it must produce.
struct ClassificationCase: Sendable, CustomTestStringConvertible {
    var label: String
    var result: TransportResult
    var expected: Expected
    var testDescription: String { label }

    enum Expected: Sendable, Equatable {
        case success(records: Int)
        case failure(FailureReason.Category)
        case notCounted
        case rateLimited(Duration?)
    }
}

extension TransportResult {
    /// A response with a text body, for test tables.
    static func http(_ status: Int, _ body: String = "", headers: [String: String] = [:]) -> TransportResult {
        .response(status: status, headers: headers, body: Array(body.utf8))
    }
}

@Suite("Classifying upstream results")
struct UpstreamClassifierTests {
    static let tweets = (try? String(contentsOf: Fixtures.directory.appendingPathComponent("twitter_recent_search.json"), encoding: .utf8)) ?? ""
    /// Fixed "now" for HTTP-date Retry-After: Sun, 06 Nov 1994 08:49:37 GMT.
    static let now = Date(timeIntervalSince1970: 784_111_777)

    static let cases: [ClassificationCase] = [
        .init(label: "200 with a documented body", result: .http(200, tweets), expected: .success(records: 2)),
        .init(label: "200 with an empty result", result: .http(200, #"{"meta":{"result_count":0}}"#), expected: .success(records: 0)),
        .init(label: "204 No Content", result: .http(204), expected: .success(records: 0)),
        .init(label: "200 with garbage", result: .http(200, "<html>oops</html>"), expected: .failure(.malformedPayload)),
        .init(label: "200 with the wrong shape", result: .http(200, "[1,2,3]"), expected: .failure(.malformedPayload)),
        .init(label: "400 Bad Request", result: .http(400, #"{"title":"Invalid Request"}"#), expected: .notCounted),
        .init(label: "401 Unauthorized", result: .http(401), expected: .notCounted),
        .init(label: "403 Forbidden", result: .http(403), expected: .notCounted),
        .init(label: "404 Not Found", result: .http(404), expected: .notCounted),
        .init(label: "301 not followed", result: .http(301), expected: .notCounted),
        .init(label: "429 with delta-seconds", result: .http(429, headers: ["retry-after": "120"]),
              expected: .rateLimited(.seconds(120))),
        .init(label: "429 with an HTTP-date 30 s ahead", result: .http(429, headers: ["retry-after": "Sun, 06 Nov 1994 08:50:07 GMT"]),
              expected: .rateLimited(.seconds(30))),
        .init(label: "429 with an HTTP-date in the past", result: .http(429, headers: ["retry-after": "Sun, 06 Nov 1994 08:00:00 GMT"]),
              expected: .rateLimited(.zero)),
        .init(label: "429 with an asctime date", result: .http(429, headers: ["retry-after": "Sun Nov  6 08:49:47 1994"]),
              expected: .rateLimited(.seconds(10))),
        .init(label: "429 with a mixed-case header name", result: .http(429, headers: ["Retry-After": "5"]),
              expected: .rateLimited(.seconds(5))),
        .init(label: "429 without Retry-After", result: .http(429), expected: .rateLimited(nil)),
        .init(label: "429 with an unparseable Retry-After", result: .http(429, headers: ["retry-after": "soon"]),
              expected: .rateLimited(nil)),
        .init(label: "500 Internal Server Error", result: .http(500), expected: .failure(.serverError)),
        .init(label: "502 Bad Gateway", result: .http(502, "<html>"), expected: .failure(.serverError)),
        .init(label: "503 Service Unavailable", result: .http(503, headers: ["retry-after": "10"]), expected: .failure(.serverError)),
        .init(label: "timeout", result: .timeout, expected: .failure(.timeout)),
        .init(label: "connection refused", result: .connectionError("connection refused"), expected: .failure(.connection)),
        .init(label: "body over the cap", result: .bodyTooLarge(limit: 4_194_304), expected: .failure(.malformedPayload)),
        .init(label: "cancelled poll", result: .cancelled, expected: .notCounted),
    ]

    @Test("each transport result maps to its verdict", arguments: cases)
    func classify(_ test: ClassificationCase) {
        let source = Fixtures.source(.twitter, params: ["query": "q"])
        let verdict = UpstreamClassifier().classify(test.result, for: source, now: Self.now)
        switch (verdict, test.expected) {
        case (.success(let records), .success(let count)):
            #expect(records.count == count)
        case (.failure(let reason), .failure(let category)):
            #expect(reason.category == category)
        case (.notCounted, .notCounted):
            break
        case (.rateLimited(let actual), .rateLimited(let expected)):
            #expect(actual == expected)
        default:
            Issue.record("expected \(test.expected), got \(verdict)")
        }
    }

    @Test("a 5xx failure carries its status")
    func statusInReason() {
        let verdict = UpstreamClassifier().classify(.http(503), for: Fixtures.source(.httpJSON))
        #expect(verdict == .failure(FailureReason(.serverError, status: 503, detail: "HTTP 503")))
    }

    @Test("Retry-After parsing handles the RFC 850 date form")
    func rfc850() {
        #expect(UpstreamClassifier.retryAfter("Sunday, 06-Nov-94 08:49:57 GMT", now: Self.now) == .seconds(20))
    }
}
