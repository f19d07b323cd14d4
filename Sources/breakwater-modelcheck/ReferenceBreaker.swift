import SafeNumbers
import BreakerCore

/// The reference model of one shared breaker: BreakerCore's pure ``BreakerMachine`` driven in
/// Redis server milliseconds, plus what the shared breaker adds **by design**:
///
/// - **Probe leases.** The shared breaker bounds concurrent probes by unexpired leases in
///   `cb_state` (`half_open_max_calls` leases, each lapsing on server time), not by an
///   in-flight count, so a probe whose instance died frees its slot when its lease lapses.
///   The machine therefore gets an unbounded `half_open_max_calls`; the leases are modelled
///   here (granted, pruned on acquire, taken by a result, cleared on entering half-open or
///   closed).
/// - **Probe results from another half-open period** (different stored version, lease not
///   held) only count in the statistics: the shared breaker sends them with `probe`, never to
///   the closed-path trip policy, whereas the machine would feed them to a closed breaker's
///   policy. Those are counted here and never reach the machine.
/// - **Server time.** Every operation happens at the server time the script read (`TIME`),
///   plus the clock shift the harness applied (a clock jump moves every stored timestamp back
///   by Δ, which is the same as moving the server clock forward by Δ).
///
/// - **Timed force-close** (`--for`): it lapses by server time at the next operation of any
///   kind, before that operation; the lapse is exactly a ``BreakerMachine/reset(at:)``.
///
/// Not modelled (out of scope of scenario 7): `trip_quorum` > 1, window policies, a timed
/// force-open (its lapse goes to half-open, which the machine has no action for), shadow mode
/// and `reconcile_open`; tests cover those.
struct ReferenceBreaker {
    struct Lease {
        var expiresAt: Int64
    }

    private(set) var machine: BreakerMachine
    let halfOpenMaxCalls: Int
    /// Unexpired-or-not leases as the script stores them, by token.
    private(set) var leases: [String: Lease] = [:]
    /// Permits of every granted probe, by token, with the version it was granted at.
    private var permits: [String: (permit: ProbePermit, version: Int)] = [:]
    /// Statistics of probe results from another period (never shown to the machine).
    private(set) var otherPeriodSuccesses = 0
    private(set) var otherPeriodFailures = 0
    /// When a timed force-close lapses (model time; 0: no expiry).
    private(set) var forcedUntil: Int64 = 0
    /// Timed overrides that lapsed (a figure).
    private(set) var lapses = 0

    init(config: BreakerConfig) throws {
        var unbounded = config
        halfOpenMaxCalls = config.halfOpenMaxCalls
        unbounded.halfOpenMaxCalls = BreakerConfig.maximumProbes // the model counts probes itself; no run gets near this
        machine = try BreakerMachine(config: unbounded)
    }

    /// A batch of closed-path outcomes from one instance (`record`), in call order.
    mutating func record(_ failures: [Bool], at now: Int64) {
        lapseOverride(at: now)
        let instant = BreakerInstant(milliseconds: now)
        applying {
            for failed in failures {
                _ = $0.record(failed ? .failure : .success, duration: .zero, at: instant)
            }
        }
    }

    /// `acquire`: the due time-driven transition, then a lease if fewer than
    /// `half_open_max_calls` are unexpired. Returns the script's expected result.
    mutating func acquire(token: String, leaseMilliseconds: Int64, at now: Int64) -> String {
        lapseOverride(at: now)
        let instant = BreakerInstant(milliseconds: now)
        applying { _ = $0.advance(to: instant) }
        switch machine.state {
        case .closed:
            return "closed"
        case .open:
            return "denied"
        case .halfOpen:
            leases = leases.filter { $0.value.expiresAt > now }
            guard leases.count < halfOpenMaxCalls else { return "denied" }
            var admission = Admission.rejected(retryAfter: nil)
            applying { admission = $0.admit(at: instant) }
            guard case .allowed(let permit?) = admission else {
                preconditionFailure("model: the machine refused a probe the lease count allows (\(admission))")
            }
            leases[token] = Lease(expiresAt: now + leaseMilliseconds)
            permits[token] = (permit, machine.version)
            return "granted"
        }
    }

    /// `probe`: a probe result. It decides the half-open period it was granted in (lease
    /// held, or the same stored version after the lease lapsed); otherwise it only counts.
    /// Returns the script's expected result (`ok`, `late` or `stale`).
    mutating func probe(token: String, outcome: CallOutcome, grantedVersion: Int, at now: Int64) -> String {
        lapseOverride(at: now)
        let held = leases.removeValue(forKey: token).map { $0.expiresAt > now } ?? false
        let samePeriod = machine.state == .halfOpen && (held || machine.version == grantedVersion)
        guard samePeriod, let granted = permits[token] else {
            if outcome == .success { otherPeriodSuccesses += 1 }
            if outcome == .failure { otherPeriodFailures += 1 }
            return "stale"
        }
        let instant = BreakerInstant(milliseconds: now)
        applying { _ = $0.record(outcome, duration: .zero, permit: granted.permit, at: instant) }
        return held ? "ok" : "late"
    }

    /// `touch`: the due time-driven transition only.
    mutating func touch(at now: Int64) {
        lapseOverride(at: now)
        let instant = BreakerInstant(milliseconds: now)
        applying { _ = $0.advance(to: instant) }
    }

    /// `force_open`, `force_close` (optionally held for `milliseconds` only) or `reset`.
    mutating func manual(_ operation: String, for milliseconds: Int64? = nil, at now: Int64) {
        lapseOverride(at: now)
        forcedUntil = operation == "force_close" ? milliseconds.map { now + $0 } ?? 0 : 0
        let instant = BreakerInstant(milliseconds: now)
        applying { machine in
            switch operation {
            case "force_open": machine.forceOpen(at: instant)
            case "force_close": machine.forceClose(at: instant)
            default: machine.reset(at: instant)
            }
        }
    }

    /// A timed force-close whose time has come lapses first, whatever the operation.
    private mutating func lapseOverride(at now: Int64) {
        guard forcedUntil > 0, now >= forcedUntil else { return }
        forcedUntil = 0
        lapses += 1
        if machine.forced == .closed {
            applying { _ = $0.reset(at: BreakerInstant(milliseconds: now)) }
        }
    }

    /// Runs a change on the machine; entering half-open or closed clears the leases, as the
    /// script does.
    private mutating func applying(_ change: (inout BreakerMachine) -> Void) {
        let before = machine.version
        change(&machine)
        if machine.version != before && machine.state != .open { leases.removeAll() }
    }

    /// The fields of `cb_state:<name>` this model predicts, as the script stores them, with
    /// stored timestamps `shift` ms behind model time. `leases` lists every stored lease,
    /// lapsed ones included (the script drops those lazily, on acquire, as the model does).
    func expectedFields(shift: Int64) -> [String: String] {
        let stats = machine.statistics
        let successes = stats.totalSuccesses + otherPeriodSuccesses
        let failures = stats.totalFailures + otherPeriodFailures
        return [
            "state": machine.state.rawValue,
            "version": "\(machine.version)",
            "failure_count": "\(machine.failureCount)",
            "open_timeout_ms": "\(machine.openTimeout.millisecondsClamped)",
            "failed_recoveries": "\(machine.failedRecoveries)",
            "half_open_attempts": "\(machine.halfOpenAttempts)",
            "half_open_successes": "\(machine.halfOpenSuccesses)",
            "forced": machine.forced?.rawValue ?? "",
            "forced_until_ms": "\(forcedUntil > 0 ? forcedUntil - shift : 0)",
            "opened_at_ms": "\(machine.openedAt.map { $0.milliseconds - shift } ?? 0)",
            "circuit_opens": "\(stats.circuitOpens)",
            "successful_recoveries": "\(stats.successfulRecoveries)",
            "failed_recoveries_total": "\(stats.failedRecoveries)",
            "time_in_open_ms": "\(stats.timeInOpenMilliseconds)",
            "total_successes": "\(successes)",
            "total_failures": "\(failures)",
            "total_calls": "\(successes + failures)",
            "leases": leases.map { "\($0.key):\($0.value.expiresAt - shift)" }.sorted().joined(separator: ","),
        ]
    }
}
