import Collectors
import Foundation
import Testing

@Suite("LunarCrush parsing")
struct LunarCrushParserTests {
    @Test("each coin in the coins list becomes a record")
    func coins() throws {
        let source = Fixtures.source(.lunarcrush)
        let records = try PayloadParser.parse(try Fixtures.bytes("lunarcrush_coins_list.json"), for: source)
        #expect(records.map(\.id) == ["coin:BTC", "coin:ETH"])
        let btc = records[0]
        #expect(btc.fields["price"] == "42815.33")
        #expect(btc.fields["galaxy_score"] == "68")
        #expect(btc.fields["alt_rank"] == "104")
        #expect(btc.fields["blockchains"] == nil, "arrays are skipped")
        #expect(btc.timestamp == Date(timeIntervalSince1970: 1_705_311_540))
    }

    @Test("a topic body becomes one record with flattened type counts")
    func topic() throws {
        let source = Fixtures.source(.lunarcrush, params: ["endpoint": "topic", "topic": "bitcoin"])
        let records = try PayloadParser.parse(try Fixtures.bytes("lunarcrush_topic.json"), for: source)
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.id == "topic:bitcoin@1705311600")
        #expect(record.fields["interactions_24h"] == "28193012")
        #expect(record.fields["types_count.tweet"] == "145033")
        #expect(record.fields["trend"] == "up")
        #expect(record.timestamp == Date(timeIntervalSince1970: 1_705_311_600))
    }
}
