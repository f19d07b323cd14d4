import BreakerCore
import RedisClient
import SafeNumbers

/// The shared state of one breaker as stored in `cb_state:<name>` (the fields of ``StoredField``).
///
/// Decoding is tolerant: a missing or malformed field falls back to a safe default and is
/// listed in ``problems`` so the caller can log it with the key; the Lua script repairs the
/// stored hash on its next write. Values are kept per field, so a field added to
/// ``StoredField`` is decoded and shown without a change here.
public struct StoredBreakerState: Sendable, Equatable {
    public var state: BreakerState = .closed
    public var forced: ForcedState?
    /// `enforce`, or `shadow` (evaluated, never rejects).
    public var mode: String = "enforce"
    /// Fields that were present but unusable, e.g. `"version=abc"`.
    public var problems: [String] = []
    /// Integer fields (counts, milliseconds, server times); absent means 0.
    private var integers: [StoredField: Int64] = [:]
    /// Decimal fields; absent means not stored.
    private var numbers: [StoredField: Double] = [:]
    /// Text fields; absent means empty.
    private var texts: [StoredField: String] = [:]

    /// An empty (closed, version 0) state.
    public init() {}

    /// An integer field (count, milliseconds or server time); 0 when absent.
    public subscript(integer field: StoredField) -> Int64 {
        get { integers[field] ?? 0 }
        set { integers[field] = newValue == 0 ? nil : newValue }
    }

    /// A text field; empty when absent.
    public subscript(text field: StoredField) -> String {
        get { texts[field] ?? "" }
        set { texts[field] = newValue.isEmpty ? nil : newValue }
    }

    /// A decimal field; `nil` when absent.
    public subscript(number field: StoredField) -> Double? {
        get { numbers[field] }
        set { numbers[field] = newValue }
    }

    /// Decodes an HGETALL reply's fields.
    public init(fields: [String: String]) {
        for field in StoredField.allCases {
            guard let raw = fields[field.name] else { continue }
            switch field.kind {
            case .state:
                if let parsed = BreakerState(rawValue: raw) { state = parsed } else { problems.append("state=\(raw.prefix(32))") }
            case .forced:
                guard !raw.isEmpty else { continue }
                if let parsed = ForcedState(rawValue: raw) { forced = parsed } else { problems.append("forced=\(raw.prefix(32))") }
            case .mode:
                if !raw.isEmpty { mode = raw }
            case .count, .milliseconds, .time:
                // Integers in plain digits within 0...2^53, as the script writes them; anything
                // else (1e19, 3.5, inf, abc) is a problem, never a trap.
                guard !raw.isEmpty else { continue }
                guard let value = Int64(raw), value >= 0, value <= Self.maximumInteger else {
                    problems.append("\(field.name)=\(raw.prefix(32))")
                    continue
                }
                self[integer: field] = value
            case .number:
                guard !raw.isEmpty else { continue }
                guard raw.utf8.count <= 32, let value = Double(raw), value.isFinite else {
                    problems.append("\(field.name)=\(raw.prefix(32))")
                    continue
                }
                numbers[field] = value
            case .text:
                self[text: field] = raw
            case .list:
                continue
            }
        }
    }

    public var version: Int {
        get { Int(self[integer: .version]) }
        set { self[integer: .version] = Int64(newValue) }
    }
    public var openedAtMilliseconds: Int64 {
        get { self[integer: .openedAt] }
        set { self[integer: .openedAt] = newValue }
    }
    public var openTimeoutMilliseconds: Int64 {
        get { self[integer: .openTimeout] }
        set { self[integer: .openTimeout] = newValue }
    }
    public var failedRecoveries: Int {
        get { Int(self[integer: .failedRecoveries]) }
        set { self[integer: .failedRecoveries] = Int64(newValue) }
    }
    public var failureCount: Int {
        get { Int(self[integer: .failureCount]) }
        set { self[integer: .failureCount] = Int64(newValue) }
    }
    public var halfOpenAttempts: Int {
        get { Int(self[integer: .halfOpenAttempts]) }
        set { self[integer: .halfOpenAttempts] = Int64(newValue) }
    }
    public var halfOpenSuccesses: Int {
        get { Int(self[integer: .halfOpenSuccesses]) }
        set { self[integer: .halfOpenSuccesses] = Int64(newValue) }
    }
    public var updatedAtMilliseconds: Int64 {
        get { self[integer: .updatedAt] }
        set { self[integer: .updatedAt] = newValue }
    }
    public var circuitOpens: Int {
        get { Int(self[integer: .circuitOpens]) }
        set { self[integer: .circuitOpens] = Int64(newValue) }
    }
    public var successfulRecoveries: Int {
        get { Int(self[integer: .successfulRecoveries]) }
        set { self[integer: .successfulRecoveries] = Int64(newValue) }
    }
    public var totalSuccesses: Int {
        get { Int(self[integer: .totalSuccesses]) }
        set { self[integer: .totalSuccesses] = Int64(newValue) }
    }
    public var totalFailures: Int {
        get { Int(self[integer: .totalFailures]) }
        set { self[integer: .totalFailures] = Int64(newValue) }
    }
    public var timeInOpenMilliseconds: Int64 {
        get { self[integer: .timeInOpen] }
        set { self[integer: .timeInOpen] = newValue }
    }
    public var failedRecoveriesTotal: Int {
        get { Int(self[integer: .failedRecoveriesTotal]) }
        set { self[integer: .failedRecoveriesTotal] = Int64(newValue) }
    }
    public var lastFailureAtMilliseconds: Int64 {
        get { self[integer: .lastFailureAt] }
        set { self[integer: .lastFailureAt] = newValue }
    }
    public var lastTransitionAtMilliseconds: Int64 {
        get { self[integer: .lastTransitionAt] }
        set { self[integer: .lastTransitionAt] = newValue }
    }
    public var forcedUntilMilliseconds: Int64 {
        get { self[integer: .forcedUntil] }
        set { self[integer: .forcedUntil] = newValue }
    }
    public var updatedBy: String {
        get { self[text: .updatedBy] }
        set { self[text: .updatedBy] = newValue }
    }
    public var forcedNote: String {
        get { self[text: .forcedNote] }
        set { self[text: .forcedNote] = newValue }
    }
    public var forcedActor: String {
        get { self[text: .forcedActor] }
        set { self[text: .forcedActor] = newValue }
    }
    public var lastReason: String {
        get { self[text: .lastReason] }
        set { self[text: .lastReason] = newValue }
    }

    /// When an open breaker may move to half-open, in Redis server milliseconds.
    public var openUntilMilliseconds: Int64 { openedAtMilliseconds + openTimeoutMilliseconds }

    /// successes / (successes + failures) over the breaker's lifetime, or `nil` before any call.
    public var healthScore: Double? {
        Self.healthScore(successes: Int64(totalSuccesses), failures: Int64(totalFailures))
    }

    /// successes / (successes + failures), or `nil` before any call.
    public static func healthScore(successes: Int64, failures: Int64) -> Double? {
        successes + failures > 0 ? Double(successes) / Double(successes + failures) : nil
    }

    /// Time spent open, including the current open period up to `now` (server milliseconds).
    public func timeInOpen(at nowMilliseconds: Int64) -> Int64 {
        guard state == .open, openedAtMilliseconds > 0 else { return timeInOpenMilliseconds }
        return timeInOpenMilliseconds + max(0, nowMilliseconds - openedAtMilliseconds)
    }

    /// 2^53: the largest integer the script (Lua numbers are doubles) stores exactly.
    public static let maximumInteger: Int64 = 9_007_199_254_740_992
}
