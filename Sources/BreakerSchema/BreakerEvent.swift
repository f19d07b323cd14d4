import BreakerCore
import Foundation
import SafeNumbers

/// A transition as published on `cb_events:<name>` (docs/protocol.md, "Events").
///
/// `name`, `from`, `to`, `version`, `by`, `at_ms` and `reason` are the contract; the open
/// deadline fields let other instances update their local view without a round trip.
public struct BreakerEvent: Sendable, Equatable, Codable {
    public var name: String
    public var from: String
    public var to: String
    public var version: Int
    public var by: String
    public var atMilliseconds: Int64
    public var reason: String
    public var openedAtMilliseconds: Int64?
    public var openTimeoutMilliseconds: Int64?
    public var forced: String?
    public var failedRecoveries: Int?

    /// Creates an event (the script publishes them; tools and tests build them too).
    public init(
        name: String, from: String, to: String, version: Int, by: String, atMilliseconds: Int64, reason: String,
        openedAtMilliseconds: Int64? = nil, openTimeoutMilliseconds: Int64? = nil, forced: String? = nil, failedRecoveries: Int? = nil
    ) {
        self.name = name
        self.from = from
        self.to = to
        self.version = version
        self.by = by
        self.atMilliseconds = atMilliseconds
        self.reason = reason
        self.openedAtMilliseconds = openedAtMilliseconds
        self.openTimeoutMilliseconds = openTimeoutMilliseconds
        self.forced = forced
        self.failedRecoveries = failedRecoveries
    }

    enum CodingKeys: String, CodingKey {
        case name, from, to, version, by, reason, forced
        case atMilliseconds = "at_ms"
        case openedAtMilliseconds = "opened_at_ms"
        case openTimeoutMilliseconds = "open_timeout_ms"
        case failedRecoveries = "failed_recoveries"
    }

    /// Decodes an event payload.
    ///
    /// - Returns: `nil` for a payload that is not a breaker event (logged by the caller).
    public static func decode(_ payload: [UInt8]) -> BreakerEvent? {
        try? JSONDecoder().decode(BreakerEvent.self, from: Data(payload))
    }

    /// The target state, if it is a known one.
    public var toState: BreakerState? { BreakerState(rawValue: to) }

    /// The event with its optional numbers dropped when they are outside what the store could
    /// hold (a time or timeout beyond 2^53 ms, a negative count): such a field is a forgery.
    public var bounded: BreakerEvent {
        var copy = self
        let range = 0...StoredBreakerState.maximumInteger
        if let value = openedAtMilliseconds, !range.contains(value) { copy.openedAtMilliseconds = nil }
        if let value = openTimeoutMilliseconds, !range.contains(value) { copy.openTimeoutMilliseconds = nil }
        if let value = failedRecoveries, !(0...100_000).contains(value) { copy.failedRecoveries = nil }
        return copy
    }
}
