import BreakerCore
import Foundation
import Testing

@Suite("Status snapshot and statistics")
struct StatusTests {
    @Test("status reports the open period, retry-after and statistics")
    func openStatus() throws {
        var m = machine(BreakerConfig(slowCallDuration: .seconds(1)))
        m.calls(.success, 3, duration: .seconds(2), at: at(0))
        m.trip(at: at(10))
        let r1 = m.admit(at: at(20))
        #expect(r1 == .rejected(retryAfter: .seconds(290)))
        let s = m.status(name: "moralis", at: at(110))
        #expect(s.name == "moralis")
        #expect(s.state == .open)
        #expect(s.version == 1)
        #expect(s.openTimeoutMilliseconds == 300_000)
        #expect(s.openedAtMilliseconds == 10_000)
        #expect(s.retryAfterMilliseconds == 200_000)
        #expect(s.statistics.timeInOpenMilliseconds == 100_000)
        #expect(s.statistics.circuitOpens == 1)
        #expect(s.statistics.totalSuccesses == 3)
        #expect(s.statistics.totalFailures == 5)
        #expect(s.statistics.slowCalls == 3)
        #expect(s.statistics.rejectedCalls == 1)
        #expect(s.statistics.healthScore == 3.0 / 8.0)
    }

    @Test("health score is 1 before any call and ignores ignored outcomes")
    func healthScore() {
        var m = machine()
        #expect(m.statistics.healthScore == 1)
        m.calls(.ignored, 5, at: at(0))
        #expect(m.statistics.healthScore == 1)
        m.calls(.success, 1, at: at(0))
        m.calls(.failure, 3, at: at(0))
        #expect(m.statistics.healthScore == 0.25)
    }

    @Test("the JSON uses snake_case field names and wire state names")
    func json() throws {
        var m = machine()
        m.trip(at: at(0))
        _ = m.advance(to: at(300))
        _ = m.probe(at: at(300))
        let data = try JSONEncoder().encode(m.status(name: "glassnode", at: at(301)))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["state"] as? String == "half-open")
        #expect(object["version"] as? Int == 2)
        #expect(object["half_open_attempts"] as? Int == 1)
        #expect(object["half_open_in_flight"] as? Int == 1)
        #expect(object["failure_count"] as? Int == 0)
        #expect(object["open_timeout_ms"] as? Int == 300_000)
        #expect(object["failed_recoveries"] as? Int == 0)
        #expect(object["forced"] is NSNull)
        #expect(object["retry_after_ms"] is NSNull)
        let stats = try #require(object["statistics"] as? [String: Any])
        for key in ["circuit_opens", "successful_recoveries", "failed_recoveries", "time_in_open_ms",
                    "total_successes", "total_failures", "rejected_calls", "health_score"] {
            #expect(stats[key] != nil, "missing \(key)")
        }
        #expect(stats["time_in_open_ms"] as? Int == 300_000)
        let decoded = try JSONDecoder().decode(BreakerStatus.self, from: data)
        #expect(decoded == m.status(name: "glassnode", at: at(301)))
    }

    @Test("forced state appears in the status")
    func forcedInStatus() throws {
        var m = machine()
        m.forceOpen(at: at(0))
        let s = m.status(name: "x", at: at(5))
        #expect(s.forced == .open)
        #expect(s.retryAfterMilliseconds == nil)
        let json = String(decoding: try JSONEncoder().encode(s), as: UTF8.self)
        #expect(json.contains(#""forced":"open""#))
    }
}
