import BreakerSchema
import BreakerCore
import RedisClient

/// Script-level access for `breakwater-modelcheck` (scripts/chaos scenario 7), which drives
/// `Lua/breaker.lua` with the same operations and policy string a ``SharedBreaker`` sends and
/// compares `cb_state:<name>` with a reference model after every step.
///
/// Not a stable API: it is `@_spi(ModelCheck)` and may change with the script.
@_spi(ModelCheck)
public enum BreakerScriptAccess {
    /// The `k=v;…` policy string a breaker with `options` sends with every script call.
    public static func configuration(_ options: SharedBreakerOptions) -> String {
        PolicyEncoding.encode(options.breaker, tripQuorum: options.tripQuorum, mode: options.mode)
    }

    /// Runs one operation of the breaker script, exactly as ``SharedBreaker`` does.
    ///
    /// - Parameters:
    ///   - store: the Redis pool of the calling instance.
    ///   - name: the breaker.
    ///   - operation: `record`, `acquire`, `probe`, `force_open`, `force_close`, `reset`,
    ///     `reconcile_open` or `touch`.
    ///   - instanceID: the calling instance (`updated_by`).
    ///   - configuration: the policy string from ``configuration(_:)``.
    ///   - argument: the operation's argument (see `Lua/breaker.lua`).
    ///   - extra: the lease in ms for `acquire`.
    ///   - manual: who, why and for how long, for `force_open` / `force_close`.
    /// - Returns: the script's raw reply.
    public static func call(
        _ store: RedisConnectionPool, name: BreakerName, operation: String, instanceID: String,
        configuration: String, argument: String = "", extra: String = "", manual: ManualAction = ManualAction()
    ) async throws -> RedisValue {
        try await BreakerScriptCall(rawOperation: operation, name: name, instanceID: instanceID, policy: configuration,
                                    argument: argument, extra: extra, manual: manual).run(on: store)
    }

    /// The parts of a script reply the state fuzzer checks.
    public struct Reply: Sendable {
        /// The stored state after the call.
        public var state: BreakerState
        /// The stored version after the call.
        public var version: Int
        /// What the script repaired (empty when nothing).
        public var repairs: String
        /// The version moved in this call (a ledger entry was written).
        public var transitionedOrRestored: Bool
    }

    /// Decodes a reply as ``SharedBreaker`` does.
    ///
    /// - Throws: ``RedisError`` when the reply is not a breaker script reply.
    public static func decode(_ value: RedisValue) throws -> Reply {
        let reply = try BreakerReply(value)
        return Reply(state: reply.state, version: reply.version, repairs: reply.repairs, transitionedOrRestored: reply.transitioned)
    }
}
