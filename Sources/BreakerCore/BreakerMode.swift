/// Whether a breaker enforces its decisions (`breaker.mode`; see docs/semantics.md#shadow-mode).
///
/// Defined here, with no I/O, so the config module and the shared breaker use one type.
public enum BreakerMode: String, Sendable, Codable, CaseIterable {
    /// Rejects calls while open (the default).
    case enforce
    /// Evaluates and records everything fleet-wide (state, ledger, metrics) but never rejects:
    /// for tuning thresholds before enforcing. Rejections it would have made are counted.
    case shadow
}
