import BreakerSchema
import RedisClient

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
    public static var schedule: RedisScript { SchemaScripts.schedule }
    /// `Lua/quota.lua`.
    public static var quota: RedisScript { SchemaScripts.quota }
    /// `Lua/commit.lua`.
    public static var commit: RedisScript { SchemaScripts.commit }
}
