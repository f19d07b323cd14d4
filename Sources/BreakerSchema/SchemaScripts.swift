import BreakerCore
import RedisClient

/// The Lua files beside this module (`Lua/*.lua`), embedded at build time by the `EmbedText`
/// plugin, so the binary needs no resource bundle.
enum LuaSource {}

/// The scripts as loaded into Redis: the contract's constants (generated from this module),
/// then `Lua/prelude.lua`, then the script's own file. `breakwater schema --script NAME`
/// prints one, ready for `redis-cli --eval`.
public enum SchemaScripts {
    /// Every change to `cb_state:<name>` and its ledger.
    public static let breaker = script("breaker", LuaSource.breaker, constants: breakerConstants)
    /// Slot claims, fleet pauses and poll results on `cb_sched:<name>`.
    public static let schedule = script("schedule", LuaSource.schedule, constants: [])
    /// The shared token ring on `cb_quota:<group>`.
    public static let quota = script("quota", LuaSource.quota, constants: [])
    /// Cursor-filtered appends to `collector:<name>`.
    public static let commit = script("commit", LuaSource.commit, constants: [])

    /// Every script, by name.
    public static let all: [RedisScript] = [breaker, schedule, quota, commit]

    private static func script(_ name: String, _ body: String, constants: [String]) -> RedisScript {
        let header = [
            "-- \(name).lua as Breakwater loads it: generated constants, Lua/prelude.lua, Lua/\(name).lua.",
            "-- Run by hand: redis-cli --eval THIS_FILE KEYS... , ARGS...",
            "local SCRIPT = '\(name)'",
            "local SCHEMA = \(StoredField.layoutVersion)",
            "local INSTANCE_ID_MAX = \(InstanceID.maximumBytes)",
            "local INSTANCE_ID_FORBIDDEN = '\(InstanceID.luaPattern)'",
        ] + constants
        return RedisScript(name: name, source: header.joined(separator: "\n") + "\n" + LuaSource.prelude + "\n" + body)
    }

    /// What `breaker.lua` learns from the schema: operations, argument and reply slots, the
    /// policy keys with their ranges, and the stored fields.
    private static var breakerConstants: [String] {
        let operations = BreakerOperation.allCases.map { "\($0.rawValue) = true" }.joined(separator: ", ")
        let arguments = BreakerScriptCall.Slot.allCases.map { "\($0.luaName) = \($0.rawValue)" }.joined(separator: ", ")
        let replies = BreakerReply.Slot.allCases.map { "\($0.luaName) = \($0.rawValue)" }.joined(separator: ", ")
        let policy = PolicyKey.allCases.map { key -> String in
            switch key.range {
            case .integer(let range): "\(key.rawValue) = {\(range.lowerBound), \(range.upperBound)}"
            case .number(let range): "\(key.rawValue) = {\(lua(range.lowerBound)), \(lua(range.upperBound)), true}"
            case .words(let words): "\(key.rawValue) = {words = {" + words.map { "\($0) = true" }.joined(separator: ", ") + "}}"
            }
        }.joined(separator: ",\n  ")
        let fields = StoredField.allCases.map { "{'\($0.name)', '\($0.kind.rawValue)', '\($0.group.rawValue)'}" }
            .joined(separator: ",\n  ")
        return [
            "local OPS = {\(operations)}",
            "local ARG = {\(arguments)}",
            "local REPLY = {\(replies)}",
            "local POLICY = {\n  \(policy)\n}",
            "local STORED_FIELDS = {\n  \(fields)\n}",
        ]
    }

    private static func lua(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
