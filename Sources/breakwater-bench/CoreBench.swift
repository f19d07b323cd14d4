import BreakerCore

/// Micro-benchmarks of the breaker core: ns per admit+record on the closed path and on
/// the open (rejecting) path, for ``BreakerMachine`` directly and through
/// ``CircuitBreaker`` (Mutex + clock reads).
enum CoreBench {
    /// Iterations per measured run (after a warm-up of a tenth as many).
    static let iterations = 2_000_000

    /// Runs every benchmark and prints one line each.
    static func run() {
        print("BreakerCore micro-benchmarks (\(iterations) iterations, best of 5)")
        report("machine   closed  admit+record (consecutive policy)", measure(machineClosed))
        report("machine   closed  admit+record (+ failure-rate 100 calls + 60 s window)", measure(machineClosedWindowed))
        report("machine   open    admit (rejected)", measure(machineOpen))
        report("breaker   closed  acquire+record (Mutex, 2 clock reads)", measure(breakerClosed))
        report("breaker   open    acquire (rejected, throws)", measure(breakerOpen))
        report("clock     ContinuousBreakerClock.now()", measure(clockOnly))
    }

    // MARK: - Cases (each returns a checksum that is fed to blackHole)

    private static func machineClosed(_ n: Int) -> Int {
        var machine = try! BreakerMachine(config: BreakerConfig())
        return closedLoop(&machine, n)
    }

    private static func machineClosedWindowed(_ n: Int) -> Int {
        let config = BreakerConfig(tripPolicies: [
            .consecutiveFailures(5),
            .failureRate(percent: 50, window: .count(100), minimumCalls: 10),
            .failuresInWindow(count: 1_000_000, window: .seconds(60)),
        ])
        var machine = try! BreakerMachine(config: config)
        return closedLoop(&machine, n)
    }

    private static func closedLoop(_ machine: inout BreakerMachine, _ n: Int) -> Int {
        let duration = Duration.milliseconds(opaque(5))
        let start = opaque(Int64(1_000_000_000))
        var checksum = 0
        for i in 0..<n {
            // ~1 ns apart; 1 failure in 8, never 5 in a row, so the breaker stays closed.
            let now = BreakerInstant(nanoseconds: start &+ Int64(i) &* 1000)
            let admission = machine.admit(at: now)
            if admission.isAllowed { checksum &+= 1 }
            let outcome: CallOutcome = i & 7 == 0 ? .failure : .success
            if let t = machine.record(outcome, duration: duration, permit: nil, at: now) {
                checksum &+= t.version
            }
        }
        blackHole(machine)
        precondition(machine.state == .closed, "closed-path benchmark tripped the breaker")
        return checksum
    }

    private static func machineOpen(_ n: Int) -> Int {
        var machine = try! BreakerMachine(config: BreakerConfig())
        let start = opaque(Int64(1_000_000_000))
        for _ in 0..<5 {
            _ = machine.record(.failure, duration: .zero, at: BreakerInstant(nanoseconds: start))
        }
        precondition(machine.state == .open)
        var checksum = 0
        for i in 0..<n {
            let now = BreakerInstant(nanoseconds: start &+ Int64(i))
            if case .rejected(let retry) = machine.admit(at: now), retry != nil { checksum &+= 1 }
        }
        blackHole(machine)
        return checksum
    }

    private static func breakerClosed(_ n: Int) -> Int {
        let breaker = try! CircuitBreaker(name: "bench")
        var checksum = 0
        for i in 0..<n {
            guard let ticket = try? breaker.acquire() else { continue }
            checksum &+= 1
            breaker.record(i & 7 == 0 ? .failure : .success, for: ticket)
        }
        precondition(breaker.state == .closed)
        blackHole(breaker)
        return checksum
    }

    private static func breakerOpen(_ n: Int) -> Int {
        let breaker = try! CircuitBreaker(name: "bench")
        breaker.forceOpen()
        var checksum = 0
        for _ in 0..<n {
            do {
                _ = try breaker.acquire()
            } catch {
                checksum &+= 1
            }
        }
        blackHole(breaker)
        return checksum
    }

    private static func clockOnly(_ n: Int) -> Int {
        let clock = ContinuousBreakerClock()
        var checksum: Int64 = 0
        for _ in 0..<n { checksum &+= clock.now().nanoseconds }
        return Int(truncatingIfNeeded: checksum)
    }

    // MARK: - Harness

    private static func measure(_ body: (Int) -> Int) -> Double {
        blackHole(body(iterations / 10))  // warm-up
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<5 {
            var checksum = 0
            let elapsed = clock.measure { checksum = body(iterations) }
            blackHole(checksum)
            let (s, atto) = elapsed.components
            let ns = (Double(s) * 1e9 + Double(atto) / 1e9) / Double(iterations)
            best = min(best, ns)
        }
        return best
    }

    private static func report(_ label: String, _ nsPerOp: Double) {
        let rounded = (nsPerOp * 10).rounded() / 10
        print("  \(label): \(rounded) ns/op")
    }

    /// Keeps a value alive so the optimizer cannot delete the work that produced it.
    @inline(never) @_optimize(none)
    private static func blackHole<T>(_ value: T) {}

    /// Hides a constant from the optimizer.
    @inline(never) @_optimize(none)
    private static func opaque<T>(_ value: T) -> T { value }
}
