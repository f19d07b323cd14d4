import Collectors
import Foundation
import Testing

@Suite("Reddit listing parsing")
struct RedditParserTests {
    let source = Fixtures.source(.reddit, params: ["subreddit": "Bitcoin"], apiKey: nil)

    @Test("each post in the listing becomes a record keyed by its fullname")
    func posts() throws {
        let records = try PayloadParser.parse(try Fixtures.bytes("reddit_new.json"), for: source)
        #expect(records.map(\.id) == ["t3_196zx9q", "t3_196zv1k"])
        let first = try #require(records.first)
        #expect(first.fields["title"] == "Daily Discussion, January 15, 2024")
        #expect(first.fields["score"] == "41")
        #expect(first.fields["upvote_ratio"] == "0.93")
        #expect(first.fields["author"] == "AutoModerator")
        #expect(first.fields["preview.enabled"] == nil, "nested objects are not flattened for posts")
        #expect(first.timestamp == Date(timeIntervalSince1970: 1_705_305_602))
        #expect(records[1].timestamp == Date(timeIntervalSince1970: 1_705_305_001), "integer created_utc is accepted")
    }

    @Test("an empty listing is a valid, empty result")
    func emptyListing() throws {
        #expect(try PayloadParser.parse(try Fixtures.bytes("reddit_empty.json"), for: source).isEmpty)
    }
}
