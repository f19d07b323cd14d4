import RedisClient
import SafeNumbers

extension BreakerScript {
    static let script = RedisScript(name: "breaker", source: source)

    /// Runs one operation of the breaker script against `cb_state:<name>` (and its ledger
    /// `cb_log:<name>`).
    ///
    /// - Parameters:
    ///   - operation: `record`, `acquire`, `probe`, `force_open`, `force_close`, `reset`,
    ///     `reconcile_open` or `touch`.
    ///   - instanceID: written as `updated_by`.
    ///   - configuration: the policy as `k=v;…`; empty to use the one stored by the daemons.
    ///   - manual: who did a manual action, why, and for how long (ledger and override expiry).
    static func call(
        _ store: RedisConnectionPool, name: BreakerName, operation: String, instanceID: String,
        configuration: String, argument: String = "", extra: String = "", manual: ManualAction = ManualAction()
    ) async throws -> RedisValue {
        try await store.evaluate(
            script,
            keys: [name.stateKey, name.logKey],
            arguments: [operation, instanceID, name.rawValue, configuration, argument, extra, name.eventsChannel,
                        manual.actor, manual.note, manual.duration.map { "\(max(1, $0.millisecondsClamped))" } ?? "0"]
        )
    }
}

/// Who made a manual change, why, and how long an override holds (SPEC §10).
public struct ManualAction: Sendable, Equatable {
    /// Who: e.g. `alice@ops-1` (the CLI defaults to user@host).
    public var actor: String
    /// The operator's note (free text, stored and shown escaped).
    public var note: String
    /// How long a force-open / force-close holds before it lapses by Redis server time
    /// (`nil`: until reset).
    public var duration: Duration?

    /// Creates a description of a manual action.
    public init(actor: String = "", note: String = "", duration: Duration? = nil) {
        self.actor = actor
        self.note = note
        self.duration = duration
    }
}
