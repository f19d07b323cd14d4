import Collectors
import Foundation
import Testing

@Suite("Generic http_json parsing")
struct HTTPJSONParserTests {
    let source = Fixtures.source(.httpJSON, name: "status", apiKey: nil)

    @Test("an object's top-level scalars become the fields")
    func object() throws {
        let record = try #require(try PayloadParser.parse(try Fixtures.bytes("http_json_object.json"), for: source).first)
        #expect(record.fields == ["status": "ok", "height": "826512", "healthy": "true", "latency_ms": "12.5", "note": ""])
        #expect(record.id.count == 16)
    }

    @Test("an array becomes one record with its count")
    func array() throws {
        let record = try #require(try PayloadParser.parse(try Fixtures.bytes("http_json_array.json"), for: source).first)
        #expect(record.fields == ["count": "3"])
    }

    @Test("a bare scalar body is accepted as value")
    func scalar() throws {
        let record = try #require(try PayloadParser.parse(Array("42".utf8), for: source).first)
        #expect(record.fields == ["value": "42"])
    }

    @Test("the id is the same for the same body and differs for another")
    func idDependsOnBody() throws {
        let a = try PayloadParser.parse(Array(#"{"value":1}"#.utf8), for: source)[0].id
        let b = try PayloadParser.parse(Array(#"{"value":1}"#.utf8), for: source)[0].id
        let c = try PayloadParser.parse(Array(#"{"value":2}"#.utf8), for: source)[0].id
        #expect(a == b)
        #expect(a != c)
    }
}
