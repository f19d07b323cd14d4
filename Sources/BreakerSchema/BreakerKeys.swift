/// Every Redis key and channel the product uses, built in one place.
///
/// Names reaching these builders are validated (``BreakerName``, collector names, rate-limit
/// groups), so a key can never smuggle in a `:`, `*` or a second key's prefix. A different
/// key layout (for example hash tags for Redis Cluster) is a change to this type only.
public enum BreakerKeys {
    /// The key prefixes, in the order ``SchemaDescription`` lists them.
    public enum Prefix: String, CaseIterable, Sendable {
        /// `cb_state:<name>`: the shared breaker hash.
        case state = "cb_state:"
        /// `cb_log:<name>`: the ledger stream of transitions and manual actions.
        case log = "cb_log:"
        /// `cb_events:<name>`: the pub/sub channel transitions are published on (not a key).
        case events = "cb_events:"
        /// `collector:<name>`: the stream collected records are appended to.
        case stream = "collector:"
        /// `cb_sched:<name>`: the fleet schedule and cursor of a collector.
        case schedule = "cb_sched:"
        /// `cb_quota:<group>`: the shared token ring of a rate-limit group.
        case quota = "cb_quota:"

        /// The short name `breakwater schema --json` uses for it.
        public var role: String {
            switch self {
            case .state: "state"
            case .log: "log"
            case .events: "events"
            case .stream: "stream"
            case .schedule: "schedule"
            case .quota: "quota"
            }
        }

        /// The key for `name` under this prefix.
        public func key(_ name: String) -> String { rawValue + name }

        /// A `SCAN MATCH` / `PSUBSCRIBE` pattern for every key under this prefix.
        public var pattern: String { rawValue + "*" }

        /// The name part of `key`, or `nil` when `key` is not under this prefix.
        public func name(in key: String) -> String? {
            key.hasPrefix(rawValue) ? String(key.dropFirst(rawValue.count)) : nil
        }
    }

    /// `cb_state:<name>`.
    public static func state(_ name: String) -> String { Prefix.state.key(name) }
    /// `cb_log:<name>`.
    public static func log(_ name: String) -> String { Prefix.log.key(name) }
    /// `cb_events:<name>` (a channel).
    public static func events(_ name: String) -> String { Prefix.events.key(name) }
    /// `collector:<name>`.
    public static func stream(_ name: String) -> String { Prefix.stream.key(name) }
    /// `cb_sched:<name>`.
    public static func schedule(_ name: String) -> String { Prefix.schedule.key(name) }
    /// `cb_quota:<group>`.
    public static func quota(_ group: String) -> String { Prefix.quota.key(group) }
}
