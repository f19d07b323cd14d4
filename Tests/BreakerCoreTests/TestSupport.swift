import BreakerCore

/// An instant `seconds` after the origin.
func at(_ seconds: Double) -> BreakerInstant {
    BreakerInstant(nanoseconds: Int64((seconds * 1e9).rounded()))
}

/// A machine from a config that must be valid.
func machine(_ config: BreakerConfig = BreakerConfig()) -> BreakerMachine {
    do {
        return try BreakerMachine(config: config)
    } catch {
        fatalError("test config invalid: \(error)")
    }
}

extension BreakerMachine {
    /// Admits and records `count` calls with the same outcome at `now`; returns the transitions.
    @discardableResult
    mutating func calls(
        _ outcome: CallOutcome, _ count: Int = 1, duration: Duration = .milliseconds(10), at now: BreakerInstant
    ) -> [Transition] {
        var transitions: [Transition] = []
        for _ in 0..<count {
            var t: Transition?
            let admission = admit(at: now, transition: &t)
            if let t { transitions.append(t) }
            guard case .allowed(let permit) = admission else { continue }
            if let r = record(outcome, duration: duration, permit: permit, at: now) { transitions.append(r) }
        }
        return transitions
    }

    /// Trips a default-policy machine with consecutive failures.
    mutating func trip(at now: BreakerInstant) {
        calls(.failure, config.failureThreshold, at: now)
        precondition(state == .open)
    }

    /// Takes a probe permit; fails the test if not admitted as a probe.
    mutating func probe(at now: BreakerInstant) -> ProbePermit? {
        if case .allowed(let permit) = admit(at: now) { return permit }
        return nil
    }
}

/// SplitMix64: a tiny, seeded, reproducible PRNG for property tests.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
