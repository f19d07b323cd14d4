/// How a collector's polls are spread across the fleet (`schedule:`; docs/semantics.md).
public enum CollectionSchedule: String, Sendable, Equatable, Hashable, CaseIterable {
    /// One poll per interval across every instance running the collector (the default).
    case fleet
    /// Every instance polls on its own interval.
    case perInstance = "per_instance"
}

/// `rate_limit: { requests: N, per_seconds: S, group: NAME }`: at most N requests in any S
/// seconds, shared by every instance and every collector naming the same group.
public struct RateLimitSettings: Sendable, Equatable, Hashable {
    /// Requests allowed per period (1 … 10000).
    public var requests: Int
    /// The period (> 0, at most a day).
    public var period: Duration
    /// The group (one API key → one group); defaults to the collector's name.
    public var group: String

    /// Creates settings.
    public init(requests: Int, period: Duration, group: String) {
        self.requests = requests
        self.period = period
        self.group = group
    }
}
