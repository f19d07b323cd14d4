import Testing
@testable import SharedBreaker

@Suite("Breaker names")
struct BreakerNameTests {
    @Test("accepts names that match the rule and builds the keys", arguments: ["moralis", "a", "Glass_node.v2-eu", "9lives", String(repeating: "x", count: 128)])
    func accepts(name: String) throws {
        let parsed = try BreakerName(name)
        #expect(parsed.stateKey == "cb_state:" + name)
        #expect(parsed.eventsChannel == "cb_events:" + name)
        #expect(parsed.streamKey == "collector:" + name)
    }

    @Test("rejects names that break the rule, saying why", arguments: [
        ("", "is empty"),
        ("_x", "must start with a letter or digit"),
        ("a:b", "contains \":\""),
        ("a*", "contains \"*\""),
        ("a b", "contains \" \""),
        (String(repeating: "x", count: 129), "at most 128"),
        ("mé", "contains"),
    ])
    func rejects(name: String, reason: String) {
        #expect {
            try BreakerName(name)
        } throws: { error in
            guard let error = error as? InvalidBreakerName else { return false }
            return error.reason.contains(reason) && error.description.contains("[A-Za-z0-9]")
        }
    }
}
