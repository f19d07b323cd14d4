import BreakerSchema
import RedisClient
import SafeNumbers

/// The fleet-wide schedule of one collector: the hash `cb_sched:<name>` (docs/protocol.md).
///
/// Every method is one atomic script call using Redis server time; none keeps state in
/// this process, so replicas may start and stop at any time without configuration.
public struct CollectorSchedule: Sendable {
    /// The collector's name.
    public let name: String
    /// The instance making the calls (`claimed_by`, `last_poll_by`).
    public let instanceID: String
    /// The rate-limit group, if any: a 429 pauses every collector of the group (one API key,
    /// one quota), and a claim honours the group's pause.
    public let group: String?
    /// The longest pause honoured (`max_pause`): a longer `Retry-After`, or a stored deadline
    /// further ahead, is clamped to it.
    public let maximumPause: Duration
    private let store: RedisConnectionPool

    /// The default ``maximumPause``: a day.
    public static let defaultMaximumPause: Duration = .seconds(86_400)

    /// The schedule's key.
    public var key: String { Self.key(for: name) }
    /// `cb_sched:<name>`.
    public static func key(for name: String) -> String { BreakerKeys.schedule(name) }

    /// Creates a schedule handle; nothing is read until a call.
    ///
    /// - Parameters:
    ///   - name: The collector's (validated) name.
    ///   - instanceID: This instance's id.
    ///   - group: The collector's rate-limit group, if any.
    ///   - maximumPause: The longest pause honoured.
    ///   - store: The Redis pool.
    public init(name: String, instanceID: String, group: String? = nil, maximumPause: Duration = Self.defaultMaximumPause,
                store: RedisConnectionPool) {
        self.name = name
        self.instanceID = instanceID
        self.group = group
        self.maximumPause = maximumPause
        self.store = store
    }

    /// `cb_sched:<name>`, and the group's `cb_quota:<group>` when there is a group.
    private var keys: [String] {
        if let group { return [key, SharedRateLimit.key(for: group)] }
        return [key]
    }

    /// Asks for the next poll slot.
    ///
    /// - Parameters:
    ///   - interval: The collector's interval.
    ///   - mode: `fleet` (one poll per interval across the fleet) or `perInstance`.
    ///   - group: The rate-limit group, if any (shown by `breakwater status`).
    ///   - kind: The collector kind (shown by `breakwater status`).
    /// - Returns: Whether to poll now, and the stored cursor.
    /// - Throws: A ``RedisError`` when Redis cannot be reached, or ``FleetScriptError``.
    public func claim(interval: Duration, mode: ScheduleMode, group: String?, kind: String) async throws -> SlotClaim {
        let reply = try await store.evaluate(SchemaScripts.schedule, keys: keys, arguments: [
            ScheduleOperation.claim.rawValue, instanceID, interval.scriptMilliseconds, mode.rawValue, group ?? self.group ?? "", kind,
            maximumPause.scriptMilliseconds,
        ])
        let cursor = reply.text(at: 2)
        let decision: SlotClaim.Decision
        switch reply.text(at: 0) {
        case ClaimResult.claimed.rawValue: decision = .poll(lag: .milliseconds(reply.integer(at: 3)))
        case ClaimResult.wait.rawValue: decision = .wait(.milliseconds(reply.integer(at: 1)))
        case ClaimResult.paused.rawValue: decision = .paused(.milliseconds(reply.integer(at: 1)))
        default: throw FleetScriptError(description: "schedule.lua claim returned \(reply)")
        }
        let lastPoll = reply.integer(at: 6)
        return SlotClaim(decision: decision, cursor: cursor.isEmpty ? nil : cursor, repairs: reply.text(at: 5),
                         lastPollMilliseconds: lastPoll > 0 ? lastPoll : nil)
    }

    /// Pauses the collector fleet-wide (a 429's `Retry-After`), and every collector of its
    /// rate-limit group: no instance claims a slot before the stored deadline. A longer pause
    /// already stored is kept; one longer than ``maximumPause`` is clamped to it.
    ///
    /// - Parameter duration: How long.
    /// - Returns: Repairs made to garbage in the hash, and a clamped pause (empty when none).
    @discardableResult
    public func pause(for duration: Duration) async throws -> String {
        let reply = try await store.evaluate(SchemaScripts.schedule, keys: keys, arguments: [
            ScheduleOperation.pause.rawValue, instanceID, duration.clamped(to: .zero ... maximumPause).scriptMilliseconds, maximumPause.scriptMilliseconds,
        ])
        return reply.text(at: 2)
    }

    /// Records how a slot ended (`last_result`, and `last_ok_ms` for `ok`).
    ///
    /// - Parameter result: A short label: `ok`, `failed`, `rejected`, `rate_limited`, `not_counted`.
    public func finish(_ result: String) async throws {
        _ = try await store.evaluate(SchemaScripts.schedule, keys: keys, arguments: [ScheduleOperation.finish.rawValue, instanceID, result])
    }

    /// Appends the records newer than the stored cursor to `collector:<name>` and moves the
    /// cursor, atomically: each upstream item is written once across replicas and restarts.
    ///
    /// - Parameters:
    ///   - records: Each record's stable id and its stream field/value pairs.
    ///   - streamKey: `collector:<name>`.
    ///   - maxLength: Approximate stream cap.
    /// - Returns: How many were written and skipped, and the new cursor.
    public func commit(_ records: [(id: String, fields: [(String, String)])], to streamKey: String, maxLength: Int) async throws -> CursorCommit {
        var arguments: [any RedisArgumentConvertible] = [maxLength, instanceID, records.count]
        for record in records {
            arguments.append(record.id)
            arguments.append(record.fields.count)
            for (field, value) in record.fields {
                arguments.append(field)
                arguments.append(value)
            }
        }
        let reply = try await store.evaluate(SchemaScripts.commit, keys: [key, streamKey], arguments: arguments)
        let cursor = reply.text(at: 2)
        return CursorCommit(
            written: Int(reply.integer(at: 0)), skipped: Int(reply.integer(at: 1)),
            cursor: cursor.isEmpty ? nil : cursor, repairs: reply.text(at: 3)
        )
    }
}

/// How a collector's polls are scheduled (`schedule:` in the config).
public enum ScheduleMode: String, Sendable, CaseIterable {
    /// One poll per interval across every instance (the default).
    case fleet
    /// Every instance polls on its own interval (the pre-fleet behaviour).
    case perInstance = "per_instance"
}

/// The answer to ``CollectorSchedule/claim(interval:mode:group:kind:)``.
public struct SlotClaim: Sendable, Equatable {
    /// What to do now.
    public enum Decision: Sendable, Equatable {
        /// This instance has the slot: poll now. `lag` is how late the slot was claimed.
        case poll(lag: Duration)
        /// Another instance has (or had) this slot; the next is due after this long.
        case wait(Duration)
        /// The fleet is paused (a 429); no poll for this long.
        case paused(Duration)
    }

    /// What to do.
    public var decision: Decision
    /// The stored cursor (newest item id written), if any.
    public var cursor: String?
    /// Repairs made to garbage in `cb_sched:<name>` (empty when none): log them.
    public var repairs: String
    /// Server time (ms) of the fleet's last poll of this source, if any.
    public var lastPollMilliseconds: Int64?
}

/// The result of ``CollectorSchedule/commit(_:to:maxLength:)``.
public struct CursorCommit: Sendable, Equatable {
    /// Records appended to the stream.
    public var written: Int
    /// Records already written earlier (at or behind the cursor) or repeated in the batch.
    public var skipped: Int
    /// The cursor after the commit.
    public var cursor: String?
    /// Repairs made to garbage (empty when none).
    public var repairs: String
}

extension Duration {
    /// Milliseconds as the scripts take them: rounded, at least 0, never trapping.
    var scriptMilliseconds: Int64 { Swift.max(0, roundedMilliseconds) }
}
