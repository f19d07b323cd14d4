import Collectors
import Foundation
import Testing

@Suite("Moralis token price parsing")
struct MoralisParserTests {
    let source = Fixtures.source(.moralis, name: "dai", params: ["address": "0x6b175474e89094c44da98b954eedeac495271d0f", "chain": "eth"])

    @Test("a documented price body becomes one record keyed by chain, address and block")
    func documentedBody() throws {
        let records = try PayloadParser.parse(try Fixtures.bytes("moralis_price.json"), for: source)
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.source == "dai")
        #expect(record.kind == .moralis)
        #expect(record.id == "eth:0x6b175474e89094c44da98b954eedeac495271d0f@18989312")
        #expect(record.fields["usdPrice"] == "1.000136425")
        #expect(record.fields["tokenSymbol"] == "DAI")
        #expect(record.fields["nativePrice.symbol"] == "ETH")
        #expect(record.fields["nativePrice.value"] == "298386024826256")
        #expect(record.fields["24hrPercentChange"] == "-0.0123")
        #expect(record.fields["verifiedContract"] == "true")
        #expect(record.fields["chain"] == "eth")
    }

    @Test("parsing the same body twice gives the same id")
    func stableID() throws {
        let first = try PayloadParser.parse(try Fixtures.bytes("moralis_price.json"), for: source)
        let second = try PayloadParser.parse(try Fixtures.bytes("moralis_price.json"), for: source)
        #expect(first == second)
    }

    @Test("stream fields start with source, kind and id and hold no nested values")
    func streamFields() throws {
        let record = try #require(try PayloadParser.parse(try Fixtures.bytes("moralis_price.json"), for: source).first)
        let pairs = record.streamFields
        #expect(pairs.prefix(3).map(\.0) == ["source", "kind", "id"])
        #expect(pairs.prefix(3).map(\.1) == ["dai", "moralis", record.id])
        let names = pairs.map(\.0)
        #expect(Set(names).count == names.count)
        #expect(names.contains("usdPrice"))
    }
}
