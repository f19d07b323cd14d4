import BreakerCore
import Testing

/// Random event sequences (seeded, reproducible) checked against invariants.
@Suite("Property-based invariants")
struct PropertyTests {
    static let legalEdges: [BreakerState: [BreakerState: Set<TransitionReason>]] = [
        .closed: [
            .open: [.failureThreshold, .failuresInWindow, .failureRate, .slowCallRate, .forcedOpen],
            .closed: [.forcedClosed, .reset],
        ],
        .open: [.halfOpen: [.openTimeoutElapsed], .closed: [.forcedClosed, .reset], .open: [.forcedOpen]],
        .halfOpen: [
            .closed: [.probesSucceeded, .forcedClosed, .reset],
            .open: [.probeFailed, .halfOpenMaxWait, .forcedOpen],
        ],
    ]

    static func randomConfig(_ rng: inout SplitMix64) -> BreakerConfig {
        let maxCalls = Int.random(in: 1...4, using: &rng)
        let base = Int64.random(in: 1...300, using: &rng)
        var config = BreakerConfig(
            failureThreshold: Int.random(in: 1...6, using: &rng),
            openTimeout: .seconds(base),
            halfOpenMaxCalls: maxCalls,
            halfOpenSuccessThreshold: Int.random(in: 1...maxCalls, using: &rng),
            backoffMultiplier: Double.random(in: 1...3, using: &rng),
            maxOpenTimeout: .seconds(base * Int64.random(in: 1...20, using: &rng)),
            minimumOpenDuration: Bool.random(using: &rng) ? .zero : .seconds(Int64.random(in: 0...400, using: &rng)),
            halfOpenMaxWait: Bool.random(using: &rng) ? nil : .seconds(Int64.random(in: 10...600, using: &rng)),
            slowCallDuration: .seconds(1)
        )
        if Bool.random(using: &rng) {
            var policies: [TripPolicy] = []
            if Bool.random(using: &rng) { policies.append(.consecutiveFailures(Int.random(in: 1...8, using: &rng))) }
            if Bool.random(using: &rng) {
                policies.append(.failuresInWindow(
                    count: Int.random(in: 1...10, using: &rng), window: .seconds(Int64.random(in: 1...120, using: &rng))))
            }
            if Bool.random(using: &rng) {
                let n = Int.random(in: 1...30, using: &rng)
                let window: SlidingWindow = Bool.random(using: &rng)
                    ? .count(n) : .time(.seconds(Int64.random(in: 1...120, using: &rng)))
                policies.append(.failureRate(
                    percent: Double.random(in: 1...100, using: &rng), window: window,
                    minimumCalls: Int.random(in: 1...n, using: &rng)))
            }
            if Bool.random(using: &rng) {
                policies.append(.slowCallRate(
                    percent: Double.random(in: 1...100, using: &rng), slowerThan: .milliseconds(1500),
                    window: .count(10), minimumCalls: Int.random(in: 1...10, using: &rng)))
            }
            if policies.isEmpty { policies = [.consecutiveFailures(3)] }
            config.tripPolicies = policies
        }
        return config
    }

    /// The reasons the configured policies can produce.
    static func tripReasons(_ config: BreakerConfig) -> Set<TransitionReason> {
        Set(config.tripPolicies.map { policy -> TransitionReason in
            switch policy {
            case .consecutiveFailures: .failureThreshold
            case .failuresInWindow: .failuresInWindow
            case .failureRate: .failureRate
            case .slowCallRate: .slowCallRate
            }
        })
    }

    @Test("random event sequences keep every invariant", arguments: 0..<16)
    func randomSequences(chunk: Int) throws {
        for seed in UInt64(chunk * 20)..<UInt64(chunk * 20 + 20) {
            try run(seed: seed, steps: 600)
        }
    }

    func run(seed: UInt64, steps: Int) throws {
        var rng = SplitMix64(seed: seed)
        let config = Self.randomConfig(&rng)
        var m = machine(config)
        var now = at(1000)
        let trips = Self.tripReasons(config)
        let consecutiveThreshold = config.tripPolicies.compactMap { p -> Int? in
            if case .consecutiveFailures(let n) = p { return n } else { return nil }
        }.min()

        // The model: what the test itself observed.
        var outstanding: [ProbePermit?] = []
        var transitions: [Transition] = []
        var successes = 0, failures = 0, ignored = 0, rejected = 0
        var episode: UInt64?  // the permit episode of the current half-open, once a permit is seen
        var episodeSuccesses = 0
        var reopensSinceClose = 0
        var lastTimeInOpen: Int64 = 0

        for step in 0..<steps {
            let context = "seed \(seed) step \(step)"
            let before = (state: m.state, version: m.version)
            var produced: [Transition] = []
            var episodeTracked = false
            let dice = Int.random(in: 0..<100, using: &rng)
            switch dice {
            case 0..<35:
                var t: Transition?
                let admission = m.admit(at: now, transition: &t)
                if let t {
                    produced.append(t)
                    // The admission that enters half-open is that episode's first probe.
                    episode = nil
                    episodeSuccesses = 0
                    episodeTracked = true
                }
                switch admission {
                case .allowed(let permit):
                    if let permit {
                        if episode == nil { episode = permit.episode }
                        #expect(permit.episode == episode, "\(context): permit from another episode")
                    }
                    outstanding.append(permit)
                case .rejected(let retryAfter):
                    rejected += 1
                    if let retryAfter {
                        #expect(retryAfter > .zero, "\(context)")
                        #expect(retryAfter <= max(config.maxOpenTimeout, config.minimumOpenDuration), "\(context)")
                    }
                }
            case 35..<72 where !outstanding.isEmpty:
                let permit = outstanding.remove(at: Int.random(in: 0..<outstanding.count, using: &rng))
                let roll = Int.random(in: 0..<10, using: &rng)
                let outcome: CallOutcome = roll < 5 ? .success : roll < 9 ? .failure : .ignored
                let duration = Duration.milliseconds(Int64.random(in: 0...3000, using: &rng))
                let isProbe = m.state == .halfOpen && permit != nil && permit?.episode == episode
                switch outcome {
                case .success:
                    successes += 1
                    if isProbe { episodeSuccesses += 1 }
                case .failure: failures += 1
                case .ignored: ignored += 1
                }
                if let t = m.record(outcome, duration: duration, permit: permit, at: now) { produced.append(t) }
            case 72..<92:
                let jump = Bool.random(using: &rng)
                    ? Duration.milliseconds(Int64.random(in: 0...5000, using: &rng))
                    : Duration.seconds(Int64.random(in: 0...900, using: &rng))
                now = now + jump
                if Bool.random(using: &rng), let t = m.advance(to: now) { produced.append(t) }
            case 92..<95:
                let r1 = m.forceOpen(at: now)
                produced.append(try #require(r1))
            case 95..<97:
                let r2 = m.forceClose(at: now)
                produced.append(try #require(r2))
            case 97..<100:
                let r3 = m.reset(at: now)
                produced.append(try #require(r3))
            default:
                break
            }

            // Transitions: one at most per event, legal edges, versions +1, consistent states.
            #expect(produced.count <= 1, "\(context)")
            if let t = produced.first {
                #expect(t.from == before.state, "\(context)")
                #expect(t.to == m.state, "\(context)")
                #expect(t.version == before.version + 1, "\(context)")
                #expect(t.at == now, "\(context)")
                let legal = Self.legalEdges[t.from]?[t.to] ?? []
                #expect(legal.contains(t.reason), "\(context): illegal edge \(t)")
                if t.from == .closed && t.to == .open && !t.reason.isManual {
                    #expect(trips.contains(t.reason), "\(context): \(t.reason) without such a policy")
                }
                if t.reason == .probesSucceeded {
                    #expect(episodeSuccesses == config.halfOpenSuccessThreshold, "\(context)")
                }
                if (t.to == .halfOpen || t.from == .halfOpen) && !episodeTracked {
                    episode = nil
                    episodeSuccesses = 0
                }
                if t.to == .closed { reopensSinceClose = 0 }
                if t.from == .halfOpen && t.to == .open && !t.reason.isManual { reopensSinceClose += 1 }
                transitions.append(t)
            } else {
                #expect(m.version == before.version, "\(context)")
                #expect(m.state == before.state, "\(context)")
            }
            #expect(m.version == transitions.count, "\(context)")

            // Half-open probes never exceed the limit, and match the permits still out.
            #expect(m.halfOpenInFlight <= config.halfOpenMaxCalls, "\(context)")
            if m.state == .halfOpen {
                let mine = episode.map { e in outstanding.filter { $0?.episode == e }.count } ?? 0
                #expect(m.halfOpenInFlight == mine, "\(context)")
                #expect(m.halfOpenSuccesses == episodeSuccesses, "\(context)")
                #expect(m.halfOpenSuccesses < config.halfOpenSuccessThreshold, "\(context)")
            } else {
                #expect(m.halfOpenInFlight == 0 && m.halfOpenAttempts == 0, "\(context)")
            }

            // Open timeout within [base, cap] and equal to the backoff formula.
            #expect(m.openTimeout >= config.openTimeout && m.openTimeout <= config.maxOpenTimeout, "\(context)")
            #expect(m.failedRecoveries == reopensSinceClose, "\(context)")
            #expect(m.openTimeout == openTimeout(afterFailedRecoveries: m.failedRecoveries, config: config), "\(context)")

            // Overrides hold.
            if m.forced == .open { #expect(m.state == .open, "\(context)") }
            if m.forced == .closed { #expect(m.state == .closed, "\(context)") }
            if m.state == .closed, m.forced == nil, let threshold = consecutiveThreshold {
                #expect(m.failureCount < threshold, "\(context)")
            }

            // Statistics add up.
            let s = m.statistics
            #expect(s.totalSuccesses == successes && s.totalFailures == failures && s.totalIgnored == ignored, "\(context)")
            #expect(s.totalCalls == successes + failures, "\(context)")
            #expect(s.rejectedCalls == rejected, "\(context)")
            #expect(s.circuitOpens == transitions.filter { $0.to == .open && $0.from != .open }.count, "\(context)")
            #expect(s.successfulRecoveries == transitions.filter { $0.reason == .probesSucceeded }.count, "\(context)")
            #expect(s.failedRecoveries == transitions.filter {
                $0.reason == .probeFailed || $0.reason == .halfOpenMaxWait
            }.count, "\(context)")
            #expect((0.0...1.0).contains(s.healthScore), "\(context)")
            #expect(s.timeInOpenMilliseconds >= lastTimeInOpen, "\(context)")
            lastTimeInOpen = s.timeInOpenMilliseconds
        }
    }

    @Test("rate windows agree with a naive list of recent calls", arguments: 0..<8)
    func windowsMatchNaiveModel(seed: UInt64) {
        var rng = SplitMix64(seed: 1000 + seed)
        let size = Int.random(in: 1...40, using: &rng)
        let minimum = Int.random(in: 1...size, using: &rng)
        let percent = Double(Int.random(in: 1...100, using: &rng))
        let windowSeconds = Int64.random(in: 1...120, using: &rng) * 60  // divisible into 60 buckets
        let useTime = Bool.random(using: &rng)
        let window: SlidingWindow = useTime ? .time(.seconds(windowSeconds)) : .count(size)
        let bucket = windowSeconds * 1_000_000_000 / 60
        for round in 0..<30 {
            var m = machine(BreakerConfig(tripPolicies: [
                .failureRate(percent: percent, window: window, minimumCalls: minimum),
            ]))
            var events: [(time: Int64, failure: Bool)] = []
            var now: Int64 = 0
            for step in 0..<300 {
                now += Int64.random(in: 0...(bucket * 3), using: &rng)
                let failure = Int.random(in: 0..<100, using: &rng) < 40
                events.append((now, failure))
                let recent: [(time: Int64, failure: Bool)] = useTime
                    ? events.filter { $0.time / bucket > now / bucket - 60 }
                    : Array(events.suffix(size))
                let fails = recent.filter(\.failure).count
                let expectTrip = recent.count >= minimum && Double(fails) * 100 >= percent * Double(recent.count)
                let t = m.record(failure ? .failure : .success, duration: .zero, at: BreakerInstant(nanoseconds: now))
                #expect((t != nil) == expectTrip, "seed \(seed) round \(round) step \(step) window \(window)")
                if t != nil { break }
            }
        }
    }
}
