import RedisClient

/// The Lua scripts of fleet-coordinated collection, embedded at build time from `Lua/*.lua`
/// by the `EmbedText` build plugin (readable, and runnable with `redis-cli --eval`).
enum LuaSource {}

/// The scripts, loaded once per connection and run by EVALSHA.
enum FleetScripts {
    /// `Lua/schedule.lua`: slot claims, fleet pauses and poll results on `cb_sched:<name>`.
    static let schedule = RedisScript(name: "schedule", source: LuaSource.schedule)
    /// `Lua/quota.lua`: the shared token ring on `cb_quota:<group>`.
    static let quota = RedisScript(name: "quota", source: LuaSource.quota)
    /// `Lua/commit.lua`: cursor-filtered appends to `collector:<name>`.
    static let commit = RedisScript(name: "commit", source: LuaSource.commit)
}

extension RedisValue {
    /// The element at `index` of an array reply as text (empty when absent).
    func text(at index: Int) -> String {
        guard let elements = array, index < elements.count else { return "" }
        return elements[index].string ?? ""
    }

    /// The element at `index` of an array reply as an integer (0 when absent or not one).
    func integer(at index: Int) -> Int64 {
        guard let elements = array, index < elements.count else { return 0 }
        return elements[index].int ?? 0
    }
}

/// A reply from a fleet script that is not the documented shape.
public struct FleetScriptError: Error, CustomStringConvertible {
    /// What was wrong, naming the script.
    public var description: String
}

/// Raw access to the fleet scripts for `breakwater-modelcheck --fuzz-state`, which calls them
/// with every argument a caller could send, valid or not. Not a stable API.
@_spi(ModelCheck)
public enum FleetScriptAccess {
    /// `Lua/schedule.lua`.
    public static var schedule: RedisScript { FleetScripts.schedule }
    /// `Lua/quota.lua`.
    public static var quota: RedisScript { FleetScripts.quota }
    /// `Lua/commit.lua`.
    public static var commit: RedisScript { FleetScripts.commit }
}
