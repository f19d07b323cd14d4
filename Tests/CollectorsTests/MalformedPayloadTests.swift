import Collectors
import Foundation
import Testing

/// A body that must be rejected, and a fragment of the reason.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var kind: SourceKind
    var fixture: String
    var params: [String: String] = [:]
    var reason: String
    var testDescription: String { "\(kind.rawValue) \(fixture)" }
}

@Suite("Malformed and partial bodies")
struct MalformedPayloadTests {
    static let cases: [MalformedCase] = [
        MalformedCase(kind: .moralis, fixture: "moralis_price_missing_usd.json", reason: "moralis: missing usdPrice"),
        MalformedCase(kind: .moralis, fixture: "moralis_price_string_usd.json", reason: "usdPrice must be a number, got a string"),
        MalformedCase(kind: .moralis, fixture: "moralis_error_message.json", reason: "missing usdPrice"),
        MalformedCase(kind: .moralis, fixture: "glassnode_empty.json", reason: "expected a price object, got an array"),
        MalformedCase(kind: .moralis, fixture: "truncated.json", reason: "not valid JSON"),
        MalformedCase(kind: .glassnode, fixture: "glassnode_point_without_t.json", reason: "point [1] has no numeric t"),
        MalformedCase(kind: .glassnode, fixture: "glassnode_error_object.json", reason: "expected an array of {t, v} points, got an object"),
        MalformedCase(kind: .glassnode, fixture: "garbage.html", reason: "not valid JSON"),
        MalformedCase(kind: .twitter, fixture: "twitter_errors_only.json", reason: "errors without data (Invalid Request)"),
        MalformedCase(kind: .twitter, fixture: "twitter_tweet_without_text.json", reason: "data[0] has no string text"),
        MalformedCase(kind: .twitter, fixture: "twitter_count_without_data.json", reason: "result_count is 3 but data is missing"),
        MalformedCase(kind: .twitter, fixture: "http_json_array.json", reason: "expected an object, got an array"),
        MalformedCase(kind: .reddit, fixture: "reddit_wrong_kind.json", reason: "kind is \"t5\", expected \"Listing\""),
        MalformedCase(kind: .reddit, fixture: "reddit_post_without_created.json", reason: "children[0].data has no numeric created_utc"),
        MalformedCase(kind: .reddit, fixture: "twitter_no_results.json", reason: "missing kind"),
        MalformedCase(kind: .lunarcrush, fixture: "lunarcrush_coins_data_object.json", reason: "data must be an array of coins"),
        MalformedCase(kind: .lunarcrush, fixture: "lunarcrush_coin_without_symbol.json", reason: "data[1] has no string symbol"),
        MalformedCase(kind: .lunarcrush, fixture: "lunarcrush_error.json", reason: "missing data (error: Unauthorized: invalid API key)"),
        MalformedCase(kind: .lunarcrush, fixture: "lunarcrush_coins_list.json", params: ["endpoint": "topic", "topic": "bitcoin"],
                      reason: "topic data must be an object"),
        MalformedCase(kind: .httpJSON, fixture: "garbage.html", reason: "http_json: body is not valid JSON"),
        MalformedCase(kind: .httpJSON, fixture: "truncated.json", reason: "not valid JSON"),
    ]

    @Test("a malformed body throws MalformedPayload with a reason", arguments: cases)
    func rejects(_ malformed: MalformedCase) throws {
        let source = Fixtures.source(malformed.kind, params: malformed.params)
        let body = try Fixtures.bytes(malformed.fixture)
        let error = try #require(throws: MalformedPayload.self) { try PayloadParser.parse(body, for: source) }
        #expect(error.reason.contains(malformed.reason), "reason was: \(error.reason)")
    }

    @Test("an empty body is malformed for every kind")
    func emptyBody() throws {
        for kind in SourceKind.allCases {
            let error = try #require(throws: MalformedPayload.self) { try PayloadParser.parse([UInt8](), for: Fixtures.source(kind)) }
            #expect(error.reason.contains("empty body"))
        }
    }
}
