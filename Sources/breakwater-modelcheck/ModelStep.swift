import BreakerCore

/// One step of a seed's random sequence: what one of the three instances does, or a clock jump.
enum ModelStep: CustomStringConvertible {
    /// Closed-path outcomes sent in one batch (`true` = failure), in call order.
    case record(instance: Int, failures: [Bool])
    /// Asks for a probe lease.
    case acquire(instance: Int, leaseMilliseconds: Int64)
    /// Reports the result of an outstanding probe (index into the outstanding list).
    case probe(outstanding: Int, outcome: CallOutcome)
    /// The periodic `touch` an instance sends while the breaker is not closed.
    case touch(instance: Int)
    /// `force_open`, `force_close` or `reset`; a force-close may hold only for `milliseconds`.
    case manual(instance: Int, operation: String, forMilliseconds: Int64?)
    /// The server clock moves by Δ ms (negative: backwards).
    case jump(milliseconds: Int64)

    /// Draws the next step. `outstanding` is how many granted probes have not reported.
    static func draw(using rng: inout SeededGenerator, outstanding: Int, policy: ModelCheckPolicy) -> ModelStep {
        let instance = Int.random(in: 0..<3, using: &rng)
        let base = policy.baseMilliseconds
        let roll = Double.random(in: 0..<1, using: &rng)
        switch roll {
        case ..<0.36:
            let runs = Int.random(in: 1...3, using: &rng)
            var failures: [Bool] = []
            for _ in 0..<runs {
                let failed = rng.chance(0.65)
                failures += Array(repeating: failed, count: Int.random(in: 1...(policy.config.failureThreshold + 1), using: &rng))
            }
            return .record(instance: instance, failures: failures)
        case ..<0.56:
            return .acquire(instance: instance, leaseMilliseconds: Int64.random(in: (base / 2)...(base * 4), using: &rng))
        case ..<0.76 where outstanding > 0:
            let pick = Double.random(in: 0..<1, using: &rng)
            let outcome: CallOutcome = pick < 0.6 ? .success : pick < 0.88 ? .failure : .ignored
            return .probe(outstanding: Int.random(in: 0..<outstanding, using: &rng), outcome: outcome)
        case ..<0.80:
            return .touch(instance: instance)
        case ..<0.85:
            let pick = Double.random(in: 0..<1, using: &rng)
            if pick < 0.35 { return .manual(instance: instance, operation: "force_open", forMilliseconds: nil) }
            if pick < 0.6 {
                let timed = rng.chance(0.5) ? Int64.random(in: 1...(base * 4), using: &rng) : nil
                return .manual(instance: instance, operation: "force_close", forMilliseconds: timed)
            }
            return .manual(instance: instance, operation: "reset", forMilliseconds: nil)
        default:
            // Mostly forward, across the backed-off timeouts; sometimes a little backwards.
            if rng.chance(0.1) { return .jump(milliseconds: -Int64.random(in: 1...base, using: &rng)) }
            return .jump(milliseconds: Int64.random(in: 1...(base * 10), using: &rng))
        }
    }

    var description: String {
        switch self {
        case .record(let i, let failures):
            var runs: [(Bool, Int)] = []
            for f in failures {
                if let last = runs.last, last.0 == f { runs[runs.count - 1].1 += 1 } else { runs.append((f, 1)) }
            }
            return "i\(i) record \(runs.map { "\($0.0 ? "F" : "S")\($0.1)" }.joined())"
        case .acquire(let i, let lease): return "i\(i) acquire lease=\(lease)ms"
        case .probe(let k, let outcome): return "probe #\(k) \(outcome)"
        case .touch(let i): return "i\(i) touch"
        case .manual(let i, let operation, let ms): return "i\(i) \(operation)\(ms.map { " --for \($0)ms" } ?? "")"
        case .jump(let ms): return "clock jump \(ms > 0 ? "+" : "")\(ms)ms"
        }
    }
}
