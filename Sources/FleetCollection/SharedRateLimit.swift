import BreakerSchema
import RedisClient

/// A rate limit shared by a group of collectors across the fleet: `cb_quota:<group>` (docs/protocol.md).
///
/// At most ``requests`` requests reach the upstream in any window of ``period``: a token
/// returns a full period (plus ``guard``) after its request completed (``release(_:)``), or
/// after the request's timeout when its holder never says (killed mid-request), by Redis
/// server time. One API key → one group; collectors of different kinds cannot share a group.
public struct SharedRateLimit: Sendable {
    /// The group name.
    public let group: String
    /// Tokens per period.
    public let requests: Int
    /// The period.
    public let period: Duration
    /// The longest a request may take (its timeout): until then a token counts as in use.
    public let requestTimeout: Duration
    /// Extra time before a token returns, covering the spread between a grant and the request
    /// reaching the upstream: 5 % of the period, at least 100 ms, at most 1 s.
    public var `guard`: Duration {
        let fivePercent = period / 20
        return Swift.min(.seconds(1), Swift.max(.milliseconds(100), fivePercent))
    }
    private let store: RedisConnectionPool

    /// `cb_quota:<group>`.
    public static func key(for group: String) -> String { BreakerKeys.quota(group) }

    /// Creates a handle; nothing is read until a call.
    public init(group: String, requests: Int, period: Duration, requestTimeout: Duration = .zero, store: RedisConnectionPool) {
        self.group = group
        self.requests = requests
        self.period = period
        self.requestTimeout = requestTimeout
        self.store = store
    }

    /// Takes one token if one is free.
    ///
    /// - Parameters:
    ///   - kind: The caller's collector kind (a group is one API key, so one kind).
    ///   - instanceID: Who takes it (`last_taken_by`).
    /// - Returns: The grant, or how long until the next token, or a kind conflict.
    public func take(kind: String, instanceID: String) async throws -> TokenDecision {
        let reply = try await store.evaluate(SchemaScripts.quota, keys: [Self.key(for: group)], arguments: [
            QuotaOperation.take.rawValue, requests, period.scriptMilliseconds, self.guard.scriptMilliseconds, kind, instanceID, requestTimeout.scriptMilliseconds,
        ])
        let repairs = reply.text(at: 3)
        let now = reply.integer(at: 4)
        switch reply.text(at: 0) {
        case TakeResult.granted.rawValue:
            let grant = TokenGrant(slot: Int(reply.integer(at: 2)), grantedAtMilliseconds: now)
            return TokenDecision(outcome: .granted(grant), repairs: repairs, serverMilliseconds: now)
        case TakeResult.wait.rawValue: return TokenDecision(outcome: .wait(.milliseconds(Swift.max(1, reply.integer(at: 1)))), repairs: repairs, serverMilliseconds: now)
        case TakeResult.conflict.rawValue: return TokenDecision(outcome: .kindConflict(storedKind: reply.text(at: 2)), repairs: repairs, serverMilliseconds: now)
        default: throw FleetScriptError(description: "quota.lua take returned \(reply)")
        }
    }

    /// Says the granted request has completed, so its token returns a period from now
    /// rather than a period after its timeout. A late or repeated release changes nothing.
    ///
    /// - Parameter grant: What ``take(kind:instanceID:)`` granted.
    public func release(_ grant: TokenGrant) async throws {
        _ = try await store.evaluate(SchemaScripts.quota, keys: [Self.key(for: group)], arguments: [
            QuotaOperation.release.rawValue, requests, period.scriptMilliseconds, self.guard.scriptMilliseconds, "", "", grant.slot, grant.grantedAtMilliseconds,
        ])
    }

    /// Tokens free now (for `breakwater status`); reads the stored size and period.
    ///
    /// - Parameters:
    ///   - group: The group.
    ///   - store: The Redis pool.
    /// - Returns: Tokens left, and the stored size and period in ms; `nil` when the group has
    ///   never been used.
    public static func peek(group: String, store: RedisConnectionPool) async throws -> (left: Int, requests: Int, periodMilliseconds: Int64)? {
        let reply = try await store.evaluate(SchemaScripts.quota, keys: [key(for: group)], arguments: [QuotaOperation.peek.rawValue, 1, 1000, 0, "", ""])
        guard reply.integer(at: 1) > 0 else { return nil }
        return (Int(reply.integer(at: 0)), Int(reply.integer(at: 1)), reply.integer(at: 2))
    }
}

/// The answer to ``SharedRateLimit/take(kind:instanceID:)``.
public struct TokenDecision: Sendable, Equatable {
    /// What happened.
    public enum Outcome: Sendable, Equatable {
        /// A token is yours: send the request, then ``SharedRateLimit/release(_:)`` it.
        case granted(TokenGrant)
        /// No token free; the next one is free after this long.
        case wait(Duration)
        /// The group is used by collectors of another kind: a configuration error in the fleet.
        case kindConflict(storedKind: String)
    }

    /// What happened.
    public var outcome: Outcome
    /// Repairs made to garbage in `cb_quota:<group>` (empty when none): log them.
    public var repairs: String
    /// Redis server time (ms) of the decision.
    public var serverMilliseconds: Int64
}

/// A granted token: its ring slot and grant time (what ``SharedRateLimit/release(_:)`` needs).
public struct TokenGrant: Sendable, Equatable {
    /// The ring slot.
    public var slot: Int
    /// Redis server time (ms) of the grant.
    public var grantedAtMilliseconds: Int64

    /// Creates a grant (normally returned by ``SharedRateLimit/take(kind:instanceID:)``).
    public init(slot: Int, grantedAtMilliseconds: Int64) {
        self.slot = slot
        self.grantedAtMilliseconds = grantedAtMilliseconds
    }
}
