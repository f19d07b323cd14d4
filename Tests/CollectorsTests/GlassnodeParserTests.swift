import Collectors
import Foundation
import Testing

@Suite("Glassnode metric parsing")
struct GlassnodeParserTests {
    let source = Fixtures.source(.glassnode, params: ["metric": "market/price_usd_close", "asset": "BTC"])

    @Test("the newest {t, v} point becomes the record")
    func newestPoint() throws {
        let records = try PayloadParser.parse(try Fixtures.bytes("glassnode_price_usd_close.json"), for: source)
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.id == "market/price_usd_close:BTC@1705190400")
        #expect(record.timestamp == Date(timeIntervalSince1970: 1_705_190_400))
        #expect(record.fields["v"] == "41732.3463867925")
        #expect(record.fields["t"] == "1705190400")
        #expect(record.fields["metric"] == "market/price_usd_close")
    }

    @Test("points with an o object are flattened into o.* fields")
    func optionObject() throws {
        let record = try #require(try PayloadParser.parse(try Fixtures.bytes("glassnode_options.json"), for: source).first)
        #expect(record.fields["o.25delta"] == "0.029")
        #expect(record.fields["o.50delta"] == "0.016")
        #expect(record.fields["v"] == nil)
    }

    @Test("an empty series is a valid, empty result")
    func emptySeries() throws {
        #expect(try PayloadParser.parse(try Fixtures.bytes("glassnode_empty.json"), for: source).isEmpty)
    }
}
