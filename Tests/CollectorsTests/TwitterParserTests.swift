import Collectors
import Foundation
import Testing

@Suite("Twitter v2 recent search parsing")
struct TwitterParserTests {
    let source = Fixtures.source(.twitter, params: ["query": "#bitcoin"])

    @Test("each tweet becomes a record with its id and created_at")
    func tweets() throws {
        let records = try PayloadParser.parse(try Fixtures.bytes("twitter_recent_search.json"), for: source)
        #expect(records.map(\.id) == ["1746826397181362624", "1746826073422991361"])
        let first = try #require(records.first)
        #expect(first.fields["text"] == "Bitcoin ETF volumes hit a new high today #bitcoin")
        #expect(first.fields["author_id"] == "2244994945")
        #expect(first.fields["public_metrics.like_count"] == "87")
        #expect(first.fields["edit_history_tweet_ids"] == nil)
        let expected = try #require(ISO8601DateFormatter().date(from: "2024-01-15T09:30:12Z"))
        #expect(first.timestamp == expected)
    }

    @Test("a body with only meta and result_count 0 is a valid empty result")
    func noResults() throws {
        #expect(try PayloadParser.parse(try Fixtures.bytes("twitter_no_results.json"), for: source).isEmpty)
    }
}
