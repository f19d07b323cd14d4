import BreakerCore
import BreakerSchema
import Foundation
import RedisClient
import Testing

/// The contract module on its own, without a server: the field table, the views built from
/// it, the argument and reply slots, the instance-id rule and the scripts as loaded.
@Suite("The schema defines the stored layout, the script interface and the view once")
struct SchemaTests {
    @Test("field names are unique, and every field the views show is encoded under its stored name")
    func viewShowsEveryShownField() throws {
        let names = StoredField.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        var stored = StoredBreakerState(fields: ["state": "open", "version": "7", "circuit_opens": "3", "backoff_multiplier": "2.5", "forced": "open"])
        stored.forcedNote = "deploy"
        let view = BreakerView(name: "b1", stored: stored, nowMilliseconds: 10, ttlSeconds: 86_000)
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(view)) as? [String: Any])
        for field in StoredField.allCases {
            if field.isShown && field.kind != .number {
                #expect(object[field.name] != nil, "\(field.name) missing from the view")
            } else if !field.isShown {
                #expect(object[field.name] == nil, "\(field.name) is bookkeeping and must not be shown")
            }
        }
        #expect(object["state"] as? String == "open" && object["version"] as? Int == 7 && object["circuit_opens"] as? Int == 3)
        #expect(object["backoff_multiplier"] as? Double == 2.5 && object["forced"] as? String == "open" && object["forced_note"] as? String == "deploy")
        #expect(object["name"] as? String == "b1" && object["ttl_seconds"] as? Int == 86_000)
    }

    @Test("unusable stored values are reported by field, never trusted")
    func problemsNamed() {
        let stored = StoredBreakerState(fields: ["version": "1e20", "opened_at_ms": "-5", "backoff_multiplier": "inf", "state": "sideways"])
        #expect(stored.version == 0 && stored.openedAtMilliseconds == 0 && stored.state == .closed)
        #expect(Set(stored.problems) == ["version=1e20", "opened_at_ms=-5", "backoff_multiplier=inf", "state=sideways"])
    }

    @Test("arguments are sent in slot order and the script reads them by the same names")
    func argumentSlots() throws {
        let call = BreakerScriptCall(.forceOpen, name: try BreakerName("b1"), instanceID: "i-1", policy: "quorum=1",
                                     manual: ManualAction(actor: "alice", note: "why", duration: .seconds(2)))
        #expect(call.keys == ["cb_state:b1", "cb_log:b1"])
        #expect(call.arguments == ["force_open", "i-1", "b1", "quorum=1", "", "", "cb_events:b1", "alice", "why", "2000"])
        let script = SchemaScripts.breaker.source
        for slot in BreakerScriptCall.Slot.allCases { #expect(script.contains("\(slot.luaName) = \(slot.rawValue)")) }
        for slot in BreakerReply.Slot.allCases { #expect(script.contains("REPLY.\(slot.luaName)")) }
    }

    @Test("a reply is decoded by slot, with its numbers bounded")
    func replySlots() throws {
        func text(_ value: String) -> RedisValue { .bulkString(Array(value.utf8)) }
        let reply = try BreakerReply(.array([
            text("half-open"), .integer(4), .integer(100), .integer(450), text(""), .integer(999), text("granted"), .integer(1),
            .integer(2), .integer(0), .integer(1), .integer(0), text(""), text("open_timeout_elapsed"),
        ]))
        #expect(reply.state == .halfOpen && reply.version == 4 && reply.openTimeoutMilliseconds == 450 && reply.forced == nil)
        #expect(reply.result == BreakerResult.granted.rawValue && reply.transitioned && reply.failedRecoveries == 2 && reply.reason == "open_timeout_elapsed")
        #expect(throws: RedisError.self) { try BreakerReply(.array([text("closed")])) }
    }

    @Test("the instance-id rule: separators, whitespace and control bytes are refused; the sanitised form passes", arguments: [
        ("ok-1", true), ("cli@host", true), ("", false), ("a:b", false), ("a,b", false), ("a#b", false), ("a b", false), ("a\u{7}b", false),
        (String(repeating: "x", count: 200), true), (String(repeating: "x", count: 201), false),
    ])
    func instanceRule(id: String, valid: Bool) {
        #expect(InstanceID.isValid(id) == valid)
        #expect(InstanceID.isValid(InstanceID.sanitized(id)))
    }

    @Test("every script is loaded with the prelude and the contract's constants")
    func scriptsCarryThePrelude() {
        for script in SchemaScripts.all {
            #expect(script.source.contains("local SCRIPT = '\(script.name)'"))
            #expect(script.source.contains("local function strictInt(raw)"))
            #expect(script.source.components(separatedBy: "local function strictInt(raw)").count == 2, "\(script.name) defines strictInt twice")
        }
        #expect(SchemaDescription.current.fields.count == StoredField.allCases.count)
        #expect(SchemaDescription.current.keys["state"] == "cb_state:{name}")
    }
}
