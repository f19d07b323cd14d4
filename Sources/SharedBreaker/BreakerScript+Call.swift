import RedisClient

extension BreakerScript {
    static let script = RedisScript(name: "breaker", source: source)

    /// Runs one operation of the breaker script against `cb_state:<name>`.
    ///
    /// - Parameters:
    ///   - operation: `record`, `acquire`, `probe`, `force_open`, `force_close`, `reset`,
    ///     `reconcile_open` or `touch`.
    ///   - instanceID: written as `updated_by`.
    ///   - configuration: the policy as `k=v;…`; empty to use the one stored by the daemons.
    static func call(
        _ store: RedisConnectionPool, name: BreakerName, operation: String, instanceID: String,
        configuration: String, argument: String = "", extra: String = ""
    ) async throws -> RedisValue {
        try await store.evaluate(
            script,
            keys: [name.stateKey],
            arguments: [operation, instanceID, name.rawValue, configuration, argument, extra, name.eventsChannel]
        )
    }
}
