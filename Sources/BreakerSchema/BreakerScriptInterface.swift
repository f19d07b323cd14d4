import BreakerCore
import RedisClient
import SafeNumbers

/// The operations of the breaker script (`Lua/breaker.lua`).
public enum BreakerOperation: String, CaseIterable, Sendable {
    /// Records call outcomes (``OutcomeRun`` runs); may trip or close the breaker.
    case record
    /// Asks for a half-open probe lease.
    case acquire
    /// Reports a probe's outcome.
    case probe
    /// Manual override: open until reset or until it lapses.
    case forceOpen = "force_open"
    /// Manual override: closed until reset or until it lapses.
    case forceClose = "force_close"
    /// Clears any override and closes the breaker.
    case reset
    /// Opens a closed breaker an instance tripped while Redis was away, if nobody changed it since.
    case reconcileOpen = "reconcile_open"
    /// Applies due time-based transitions (open → half-open, lapsed overrides, stale probes).
    case touch

    /// Whether it is an operator's action (recorded with actor and note in the ledger).
    public var isManual: Bool { self == .forceOpen || self == .forceClose || self == .reset }
}

/// What a probe or a recorded call ended as, in the scripts' one-letter alphabet.
public enum OutcomeCode: String, CaseIterable, Sendable {
    /// A success.
    case success = "S"
    /// A failure.
    case failure = "F"
    /// A success slower than the slow-call threshold.
    case slowSuccess = "s"
    /// A failure slower than the slow-call threshold.
    case slowFailure = "f"
    /// A probe whose outcome does not count (cancelled, classified as ignored): frees its lease only.
    case ignored = "I"

    /// The code for a recorded call.
    public static func call(failure: Bool, slow: Bool) -> OutcomeCode {
        switch (failure, slow) {
        case (true, false): .failure
        case (true, true): .slowFailure
        case (false, false): .success
        case (false, true): .slowSuccess
        }
    }

    /// The code's byte.
    public var byte: UInt8 { rawValue.utf8.first! }
}

/// Consecutive identical outcomes, as queued for the flusher and sent with `record`.
public struct OutcomeRun: Sendable, Equatable {
    /// An ``OutcomeCode`` byte (`S`, `F`, `s`, `f`).
    public var code: UInt8
    /// How many in a row.
    public var count: Int

    /// Creates a run.
    public init(code: UInt8, count: Int) {
        self.code = code
        self.count = count
    }

    /// The byte of a recorded call's outcome.
    public static func code(failure: Bool, slow: Bool) -> UInt8 { OutcomeCode.call(failure: failure, slow: slow).byte }

    /// Runs as the script's `record` argument, e.g. `S120F3s2`.
    public static func encode(_ runs: some Collection<OutcomeRun>) -> String {
        var encoded = ""
        encoded.reserveCapacity(runs.count * 4)
        for run in runs {
            encoded.unicodeScalars.append(Unicode.Scalar(run.code))
            encoded += String(run.count)
        }
        return encoded
    }
}

/// What an operation did, as the script reports it in its reply's `result` slot.
public enum BreakerResult: String, CaseIterable, Sendable {
    /// `record`, `probe`, manual actions, `touch`: done.
    case ok
    /// `acquire`: a probe lease is yours.
    case granted
    /// `acquire`: the breaker is closed; call without a lease.
    case closed
    /// `acquire`: no lease (open, or every probe slot taken).
    case denied
    /// `probe`: the lease had expired or the breaker moved on; the outcome was counted only in the statistics.
    case late
    /// `probe`: the lease belongs to an older half-open period.
    case stale
    /// `reconcile_open`: somebody changed the breaker since; nothing done.
    case kept
}

/// Who made a manual change, why, and how long an override holds.
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

/// One call of the breaker script: the operation and its arguments by name. The positions
/// the script reads them at are defined once, in ``Slot`` (the script gets them as `ARG`).
public struct BreakerScriptCall: Sendable {
    /// The argument positions (1-based, as `ARGV` in the script).
    public enum Slot: Int, CaseIterable, Sendable {
        case operation = 1, instance, name, policy, argument, extra, channel, actor, note, forMilliseconds

        /// The name the script uses (`ARG.<name>`).
        public var luaName: String {
            switch self {
            case .operation: "op"
            case .instance: "instance"
            case .name: "name"
            case .policy: "policy"
            case .argument: "arg"
            case .extra: "extra"
            case .channel: "channel"
            case .actor: "actor"
            case .note: "note"
            case .forMilliseconds: "for_ms"
            }
        }
    }

    /// The operation as sent (a raw string, so tools can send ones the script must refuse).
    public var operation: String
    /// The breaker.
    public var name: BreakerName
    /// The calling instance, written as `updated_by`.
    public var instanceID: String
    /// The policy (``PolicyEncoding``); empty to use the one the daemons stored.
    public var policy: String
    /// The operation's argument: ``OutcomeRun`` runs for `record`, the token for `acquire`,
    /// `token:outcome:version` for `probe`, the expected version for `reconcile_open`.
    public var argument: String
    /// The lease in milliseconds for `acquire`.
    public var extra: String
    /// Who, why and for how long, for manual actions.
    public var manual: ManualAction

    /// A call of `operation`.
    public init(_ operation: BreakerOperation, name: BreakerName, instanceID: String, policy: String,
                argument: String = "", extra: String = "", manual: ManualAction = ManualAction()) {
        self.init(rawOperation: operation.rawValue, name: name, instanceID: instanceID, policy: policy,
                  argument: argument, extra: extra, manual: manual)
    }

    /// A call with an operation given as text (the state fuzzer sends unknown ones).
    public init(rawOperation: String, name: BreakerName, instanceID: String, policy: String,
                argument: String = "", extra: String = "", manual: ManualAction = ManualAction()) {
        self.operation = rawOperation
        self.name = name
        self.instanceID = instanceID
        self.policy = policy
        self.argument = argument
        self.extra = extra
        self.manual = manual
    }

    /// A probe's report: `token:outcome:version`.
    public static func probeArgument(token: String, outcome: OutcomeCode, version: Int) -> String {
        "\(token):\(outcome.rawValue):\(version)"
    }

    /// `cb_state:<name>` and its ledger `cb_log:<name>`.
    public var keys: [String] { [name.stateKey, name.logKey] }

    /// `ARGV`, in ``Slot`` order.
    public var arguments: [String] {
        Slot.allCases.map { slot in
            switch slot {
            case .operation: operation
            case .instance: instanceID
            case .name: name.rawValue
            case .policy: policy
            case .argument: argument
            case .extra: extra
            case .channel: name.eventsChannel
            case .actor: manual.actor
            case .note: manual.note
            case .forMilliseconds: manual.duration.map { "\(max(1, $0.millisecondsClamped))" } ?? "0"
            }
        }
    }

    /// Runs the call.
    public func run(on store: RedisConnectionPool) async throws -> RedisValue {
        try await store.evaluate(SchemaScripts.breaker, keys: keys, arguments: arguments)
    }
}

/// The reply every breaker script call returns: the state after the call, plus what happened.
/// Its slots are defined once, in ``Slot`` (the script gets them as `REPLY`).
public struct BreakerReply: Sendable, Equatable {
    /// The reply positions (1-based, as the script's reply table).
    public enum Slot: Int, CaseIterable, Sendable {
        case state = 1, version, openedAt, openTimeout, forced, now, result, transitioned,
             failedRecoveries, failureCount, halfOpenAttempts, halfOpenSuccesses, repairs, reason

        /// The name the script uses (`REPLY.<name>`).
        public var luaName: String {
            switch self {
            case .state: "state"
            case .version: "version"
            case .openedAt: "opened_at_ms"
            case .openTimeout: "open_timeout_ms"
            case .forced: "forced"
            case .now: "now_ms"
            case .result: "result"
            case .transitioned: "transitioned"
            case .failedRecoveries: "failed_recoveries"
            case .failureCount: "failure_count"
            case .halfOpenAttempts: "half_open_attempts"
            case .halfOpenSuccesses: "half_open_successes"
            case .repairs: "repaired"
            case .reason: "reason"
            }
        }
    }

    public var state: BreakerState
    public var version: Int
    public var openedAtMilliseconds: Int64
    public var openTimeoutMilliseconds: Int64
    public var forced: ForcedState?
    /// Redis server time of the call.
    public var serverNowMilliseconds: Int64
    /// What the operation did (a ``BreakerResult`` raw value; kept as text so a newer script's
    /// results pass through).
    public var result: String
    /// Whether this call moved the version.
    public var transitioned: Bool
    public var failedRecoveries: Int
    public var failureCount: Int
    public var halfOpenAttempts: Int
    public var halfOpenSuccesses: Int
    /// What the script repaired (empty when nothing).
    public var repairs: String
    /// Why the version last moved.
    public var reason: String

    /// Decodes a reply.
    ///
    /// - Throws: ``RedisError`` (`protocolError`) when it is not a breaker script reply.
    public init(_ value: RedisValue) throws(RedisError) {
        guard let parts = value.array, parts.count >= Slot.allCases.count else {
            throw RedisError(.protocolError, "breaker script returned an unexpected reply: \(value)")
        }
        func part(_ slot: Slot) -> RedisValue { parts[slot.rawValue - 1] }
        guard let state = part(.state).string.flatMap(BreakerState.init(rawValue:)),
              let version = part(.version).int, let openedAt = part(.openedAt).int,
              let timeout = part(.openTimeout).int, let now = part(.now).int else {
            throw RedisError(.protocolError, "breaker script returned an unexpected reply: \(value)")
        }
        // Numbers as a stored state bounds them: the reply comes from Redis, which anything may run.
        let range = 0...StoredBreakerState.maximumInteger
        func count(_ slot: Slot) -> Int { Int((part(slot).int ?? 0).clamped(to: range)) }
        self.state = state
        self.version = Int(version.clamped(to: range))
        self.openedAtMilliseconds = openedAt.clamped(to: range)
        self.openTimeoutMilliseconds = timeout.clamped(to: range)
        self.forced = part(.forced).string.flatMap { $0.isEmpty ? nil : ForcedState(rawValue: $0) }
        self.serverNowMilliseconds = now.clamped(to: range)
        self.result = part(.result).string ?? ""
        self.transitioned = part(.transitioned).int == 1
        self.failedRecoveries = count(.failedRecoveries)
        self.failureCount = count(.failureCount)
        self.halfOpenAttempts = count(.halfOpenAttempts)
        self.halfOpenSuccesses = count(.halfOpenSuccesses)
        self.repairs = part(.repairs).string ?? ""
        self.reason = part(.reason).string ?? ""
    }
}
