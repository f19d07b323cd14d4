import RedisClient

/// What `cb_sched:<name>` says about a collector's fleet-wide polling, for operators
/// (`breakwater status`). Numbers that are not plain integers read as absent.
public struct ScheduleSnapshot: Sendable, Equatable {
    /// `fleet` or `per_instance`.
    public var schedule: String
    /// Server time (ms) and instance of the last poll.
    public var lastPollMilliseconds: Int64?
    public var lastPollBy: String
    /// When the next fleet slot is due (server ms; fleet schedule only).
    public var nextDueMilliseconds: Int64?
    /// How the last slot ended (`ok`, `failed`, `rejected`, `rate_limited`, `not_counted`).
    public var lastResult: String
    /// Server time (ms) of the last successful poll.
    public var lastOkMilliseconds: Int64?
    /// A fleet-wide pause (a 429's Retry-After) in force until this server time (ms).
    public var pausedUntilMilliseconds: Int64?
    /// The newest item collected (incremental sources).
    public var cursor: String?
    /// The rate-limit group, if any.
    public var group: String?
    /// Tokens free now, and the group's size, when the collector has a rate limit.
    public var tokens: (left: Int, requests: Int)?

    public static func == (a: ScheduleSnapshot, b: ScheduleSnapshot) -> Bool {
        a.schedule == b.schedule && a.lastPollMilliseconds == b.lastPollMilliseconds && a.lastPollBy == b.lastPollBy
            && a.nextDueMilliseconds == b.nextDueMilliseconds && a.lastResult == b.lastResult
            && a.lastOkMilliseconds == b.lastOkMilliseconds && a.pausedUntilMilliseconds == b.pausedUntilMilliseconds
            && a.cursor == b.cursor && a.group == b.group && a.tokens?.left == b.tokens?.left && a.tokens?.requests == b.tokens?.requests
    }

    /// Parses the hash's fields.
    public init(fields: [String: String]) {
        func int(_ field: String) -> Int64? {
            guard let text = fields[field], text.count <= 17, let value = Int64(text), value > 0 else { return nil }
            return value
        }
        schedule = fields["schedule"] ?? "-"
        lastPollMilliseconds = int("last_poll_ms")
        lastPollBy = fields["last_poll_by"] ?? ""
        nextDueMilliseconds = schedule == "fleet" ? int("next_due_ms") : nil
        lastResult = fields["last_result"] ?? ""
        lastOkMilliseconds = int("last_ok_ms")
        pausedUntilMilliseconds = int("paused_until_ms")
        cursor = fields["cursor"].flatMap { $0.isEmpty ? nil : $0 }
        group = fields["group"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Reads `cb_sched:<name>` (and the group's tokens); `nil` when the collector has never run.
    ///
    /// - Throws: A ``RedisError`` when Redis cannot be read (a key of the wrong type reads as
    ///   never run).
    public static func read(name: String, store: RedisConnectionPool) async throws -> ScheduleSnapshot? {
        let reply = try await store.execute("HGETALL", CollectorSchedule.key(for: name))
        guard let fields = reply.fieldDictionary, !fields.isEmpty else { return nil }
        var snapshot = ScheduleSnapshot(fields: fields)
        if let group = snapshot.group, let peek = try? await SharedRateLimit.peek(group: group, store: store) {
            snapshot.tokens = (peek.left, peek.requests)
        }
        return snapshot
    }
}
