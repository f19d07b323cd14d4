import SafeNumbers
import BreakerSchema
import BreakerCore
@_spi(ModelCheck) import FleetCollection
import Foundation
import RedisClient
@_spi(ModelCheck) import SharedBreaker

/// `breakwater-modelcheck --fuzz-state`: a seeded, replayable fuzzer for every key the
/// product owns (`cb_state`, `cb_log`, `cb_sched`, `cb_quota`, `collector:*`) against a real
/// redis-server. Each step either corrupts a key (missing, wrong type, or one field set to a
/// value of a hostile class) or calls a script operation — the way the Swift code calls it,
/// with policies at the bounds of the validated config, and with arguments beyond them — and
/// then checks the invariants:
///
/// - a reply is a success, or (only for arguments beyond the bounds) a validation error that
///   names the script; never a Lua runtime error, a lost connection or a BUSY server;
/// - the stored breaker decodes cleanly after every successful write: a state of three, an
///   integer version, every field within range, a TTL;
/// - versions only grow, and the script's ledger entries have strictly increasing versions
///   (one entry per version, none reused);
/// - `cb_sched` lives at least as long as its next due time and its pause need it, and no
///   stored deadline is further ahead than the interval or the maximum pause allows;
/// - no script call runs longer than 50 ms in Redis (SLOWLOG);
/// - a record batch committed twice is written once (ids of any bytes).
struct StateFuzz {
    let seed: UInt64
    let steps: Int
    let store: RedisConnectionPool
    let trace: Bool
    /// The SLOWLOG bound: 50 ms on a quiet machine (scripts/chaos); tests on a busy shared
    /// machine pass a larger one, which still catches work that grows with the input.
    var slowMilliseconds: Int64 = 50

    struct Violation: Error, CustomStringConvertible {
        var step: Int
        var what: String
        var recent: [String]
        var description: String { "step \(step): \(what)\n      " + recent.joined(separator: "\n      ") }
    }

    struct Outcome {
        var seed: UInt64
        var steps: Int
        var calls = 0
        var corruptions = 0
        var cleanErrors = 0
        var repairs = 0
    }

    private static let injector = "fuzz-injector"

    // Per seed: one breaker, one collector schedule, one rate-limit group, one stream.
    private var name: BreakerName { try! BreakerName("fz-\(seed)") }
    private var collector: String { "fz-\(seed)" }
    private var group: String { "fzg-\(seed)" }

    func run() async throws -> Outcome {
        var random = SeededGenerator(seed: seed)
        var outcome = Outcome(seed: seed, steps: steps)
        var recent: [String] = []
        var highestVersion = 0
        var ledgerLost = false
        var stateCorrupted = false
        // Ledger entries before this stream id predate a loss of every record of the versions.
        var ledgerFloorID = "0-0"
        // Reading a value of megabytes into a script costs tens of ms once (the repair then
        // truncates it): the call that meets it is exempt from the SLOWLOG bound, the next is not.
        var hugeValueKeys: Set<String> = []
        var granted: [String] = []
        let keys = [name.stateKey, name.logKey, CollectorSchedule.key(for: collector), SharedRateLimit.key(for: group), name.streamKey]
        _ = try await store.execute(RedisCommand("DEL", keys))
        let slowlog = (try? await store.execute("CONFIG", "SET", "slowlog-log-slower-than", "\(slowMilliseconds * 1000)")) != nil
        defer { Task { [store] in _ = try? await store.execute(RedisCommand("DEL", keys)) } }

        for step in 1...steps {
            if slowlog { _ = try await store.execute("SLOWLOG", "RESET") }
            var slowlogExempt = false
            let now = try await serverNow()
            var note: String
            var checked: Check = .none
            if random.chance(0.35) {
                let (text, key, destroyed) = try await corrupt(&random, now: now)
                note = text
                outcome.corruptions += 1
                // With the ledger gone, nothing remembers the versions: a lost hash may start over.
                // (either order: the hash tampered with, then the ledger destroyed, or the reverse).
                if key == name.logKey && destroyed { ledgerLost = true }
                if key == name.stateKey { stateCorrupted = true }
                if ledgerLost && stateCorrupted {
                    highestVersion = 0
                    let newest = try? await store.execute("XREVRANGE", name.logKey, "+", "-", "COUNT", "1")
                    if let id = newest?.array?.first?.array?.first?.string { ledgerFloorID = id }
                }
                if text.contains("(10485760 B)") { hugeValueKeys.insert(key) }
            } else {
                let call = Self.pick(&random, 0..<10)
                // The first call that reads a key holding a 10 MB value is exempt from the bound.
                let touched: Set<String> = switch call {
                case 0...5: [name.stateKey, name.logKey]
                case 6...7: [CollectorSchedule.key(for: collector), SharedRateLimit.key(for: group)]
                case 8: [SharedRateLimit.key(for: group)]
                default: [CollectorSchedule.key(for: collector), name.streamKey]
                }
                let hugeTouched = hugeValueKeys.intersection(touched)
                slowlogExempt = !hugeTouched.isEmpty
                hugeValueKeys.subtract(touched)
                // Wall time in Redis swells when the host is busy: a slow call counts only if it is
                // slow again twice, replayed from the same state with the same choices.
                let randomBefore = random
                let grantedBefore = granted
                let snapshot = slowlog && !slowlogExempt ? try await snapshotKeys(touched) : []
                var result = try await perform(call, &random, now: now, granted: &granted)
                if slowlog && !slowlogExempt, let slow = try await slowScriptCall() {
                    var repeated = true
                    for _ in 0..<2 {
                        try await restore(snapshot)
                        _ = try await store.execute("SLOWLOG", "RESET")
                        random = randomBefore
                        granted = grantedBefore
                        result = try await perform(call, &random, now: now, granted: &granted)
                        if try await slowScriptCall() == nil { repeated = false; break }
                    }
                    if repeated {
                        recent.append("\(step) \(result.0)")
                        throw Violation(step: step, what: slow + " (slow on three runs from the same state)", recent: recent)
                    }
                }
                note = result.0
                checked = result.2
                // A call refused on its arguments never read the key: the exemption is still due.
                if result.1 { hugeValueKeys.formUnion(hugeTouched) }
                if case .breaker(let reply?) = checked {
                    stateCorrupted = false
                    if reply.transitionedOrRestored { ledgerLost = false }
                }
                outcome.calls += 1
                if result.1 { outcome.cleanErrors += 1 }
            }
            recent.append("\(step) \(note)")
            if recent.count > 12 { recent.removeFirst() }
            if trace { print("  seed \(seed) \(recent.last!)") }
            do {
                try await checkInvariants(checked, now: now, highestVersion: &highestVersion, ledgerFloorID: ledgerFloorID,
                                          repairs: &outcome.repairs)
            } catch let problem as Problem {
                throw Violation(step: step, what: problem.text, recent: recent)
            }
        }
        return outcome
    }

    // MARK: - Corruption

    /// Every stored field of the layout (the fuzzer corrupts any of them).
    static let stateFields = StoredField.allCases.map(\.name)
    static let scheduleFields = ["next_due_ms", "paused_until_ms", "last_poll_ms", "cursor", "interval_ms", "polls", "schedule", "group", "kind"]
    static let quotaFields = ["requests", "per_ms", "guard_ms", "kind", "next", "t0", "t1", "g0", "g1", "paused_until_ms"]

    /// A value of one hostile class (the last ones are rare: they are large).
    static func hostileValue(_ random: inout SeededGenerator, now: Int64) -> String? {
        let classes: [String?] = [
            nil, "", "-5", "0", "3.5", "1e20", "inf", "-inf", "nan", "12345678901234567890", "9223372036854775807",
            "9007199254740993", "1", "\(now + 10 * 31_536_000_000)", "\(now - 10 * 31_536_000_000)", "\(now)", "é😀",
            "a\u{0}b", "open", "half-open", "closed", "x:99999999999999,y:1", "1:1:1:1,abc", "FFFFSFSF", "a,b,:",
        ]
        if random.chance(0.01) { return String(repeating: "7", count: 10 * 1024 * 1024) }
        if random.chance(0.03) { return String(repeating: "x:1,", count: 20_000) }
        return classes[pick(&random, 0..<classes.count)]
    }

    private func corrupt(_ random: inout SeededGenerator, now: Int64) async throws -> (String, String, Bool) {
        let targets: [(String, [String])] = [
            (name.stateKey, Self.stateFields), (name.logKey, []), (CollectorSchedule.key(for: collector), Self.scheduleFields),
            (SharedRateLimit.key(for: group), Self.quotaFields), (name.streamKey, []),
        ]
        let (key, fields) = targets[Self.pick(&random, 0..<targets.count)]
        let roll = Self.pick(&random, 0..<10)
        if roll == 0 {
            _ = try await store.execute("DEL", key)
            return ("corrupt DEL \(key)", key, true)
        }
        if roll == 1 {
            _ = try await store.execute("DEL", key)
            let kinds: [[String]] = [["SET", key, "garbage"], ["RPUSH", key, "a"], ["SADD", key, "m"], ["HSET", key, "f", "v"], ["XADD", key, "*", "f", "v"]]
            let command = kinds[Self.pick(&random, 0..<kinds.count)]
            _ = try await store.execute(RedisCommand(command[0], Array(command.dropFirst())))
            return ("corrupt \(key) becomes \(command[0])", key, true)
        }
        if key == name.logKey {
            let value = Self.hostileValue(&random, now: now) ?? ""
            let to = Self.hostileValue(&random, now: now) ?? "open"
            _ = try? await store.execute("XADD", key, "*", "version", value, "to", to, "by", Self.injector)
            // An outside writer's entries hide ours from the script's O(1) look at the newest ones.
            let size = max(value.utf8.count, to.utf8.count)
            return ("corrupt XADD \(key) version=\(value.prefix(24))\(size >= 10_485_760 ? " (10485760 B)" : "")", key, true)
        }
        guard !fields.isEmpty else { return ("corrupt (nothing for \(key))", key, false) }
        let field = fields[Self.pick(&random, 0..<fields.count)]
        let value = Self.hostileValue(&random, now: now)
        if let value {
            _ = try? await store.execute("HSET", key, field, value)
        } else {
            _ = try? await store.execute("HDEL", key, field)
        }
        return ("corrupt \(key) \(field)=\(value.map { String($0.prefix(24)) + ($0.count > 24 ? "…(\($0.utf8.count) B)" : "") } ?? "<missing>")", key, false)
    }

    // MARK: - Calls

    /// What the invariant check looks at after a call.
    enum Check {
        case none, quota
        case breaker(BreakerScriptAccess.Reply?)
        /// After a schedule op: deadlines valid, within bounds, and covered by the TTL.
        case schedule(maxPauseMs: Int64, intervalMs: Int64?)
        /// After a commit (which does not own the deadlines): the TTL covers them.
        case scheduleLifetime
    }

    /// Policies at the bounds of what the config accepts.
    static func boundedOptions(_ random: inout SeededGenerator) -> SharedBreakerOptions {
        var config = BreakerConfig()
        config.failureThreshold = [1, 2, 5, BreakerConfig.maximumCount][pick(&random, 0..<4)]
        config.openTimeout = [.milliseconds(1), .milliseconds(50), .seconds(300), BreakerConfig.maximumDuration][pick(&random, 0..<4)]
        config.maxOpenTimeout = max(config.openTimeout, [.milliseconds(1), .seconds(3600), BreakerConfig.maximumDuration][pick(&random, 0..<3)])
        config.halfOpenMaxCalls = [1, 3, BreakerConfig.maximumProbes][pick(&random, 0..<3)]
        config.halfOpenSuccessThreshold = min(config.halfOpenMaxCalls, [1, 2, BreakerConfig.maximumProbes][pick(&random, 0..<3)])
        config.backoffMultiplier = [1, 1.5, 1000][pick(&random, 0..<3)]
        var policies: [TripPolicy] = [.consecutiveFailures(config.failureThreshold)]
        switch pick(&random, 0..<4) {
        case 0: policies.append(.failuresInWindow(count: [1, BreakerConfig.maximumCount][pick(&random, 0..<2)], window: [.milliseconds(1), BreakerConfig.maximumDuration][pick(&random, 0..<2)]))
        case 1: policies.append(.failureRate(percent: [0.001, 50, 100][pick(&random, 0..<3)], window: .count([1, 1000][pick(&random, 0..<2)]), minimumCalls: 1))
        case 2: policies.append(.slowCallRate(percent: 100, slowerThan: .milliseconds(1), window: .time(.seconds(60)), minimumCalls: [1, BreakerConfig.maximumCount][pick(&random, 0..<2)]))
        default: break
        }
        config.tripPolicies = policies
        return SharedBreakerOptions(breaker: config, tripQuorum: [1, 2, 100][pick(&random, 0..<3)])
    }

    /// Policy strings beyond the bounds, as another version or tool might send.
    static let unboundedConfigurations = [
        "threshold=10001", "threshold=1e9", "base_ms=inf", "base_ms=-5", "mult=nan", "mult=1e300", "cw=100000;rate=50",
        "ho_max=0", "quorum=1000000", "tw_ms=99999999999999999999", "mode=sideways", String(repeating: "threshold=1;", count: 400), "",
    ]

    private func breakerCall(_ random: inout SeededGenerator, now: Int64, granted: inout [String]) async throws -> (String, Bool, Check) {
        let beyond = random.chance(0.25)
        let configuration = beyond && random.chance(0.5)
            ? Self.unboundedConfigurations[Self.pick(&random, 0..<Self.unboundedConfigurations.count)]
            : (random.chance(0.2) ? "" : BreakerScriptAccess.configuration(Self.boundedOptions(&random)))
        let instances = beyond ? ["a:b", "a,b", "", "x y", String(repeating: "i", count: 300), "ok-1"] : ["inst-1", "inst-2", "cli@host"]
        let instance = instances[Self.pick(&random, 0..<instances.count)]
        let operations = ["record", "record", "record", "acquire", "probe", "force_open", "force_close", "reset", "reconcile_open", "touch"]
        var operation = operations[Self.pick(&random, 0..<operations.count)]
        if beyond && random.chance(0.1) { operation = "explode" }
        var argument = ""
        var extra = ""
        var manual = ManualAction()
        switch operation {
        case "record":
            if beyond && random.chance(0.5) {
                argument = ["SF3", "F99999999999999999999", "F0", "X1", "F-1", String(repeating: "F1", count: 40_000), "S1e9"][Self.pick(&random, 0..<7)]
            } else {
                argument = (0..<Self.pick(&random, 1..<6)).map { _ in
                    "\(["S", "F", "s", "f"][Self.pick(&random, 0..<4)])\([1, 2, 5, 1000, 1_000_000_000][Self.pick(&random, 0..<5)])"
                }.joined()
            }
        case "acquire":
            argument = beyond && random.chance(0.5) ? ["a:b", "a,b", "", String(repeating: "t", count: 400)][Self.pick(&random, 0..<4)] : "\(instance)#r-\(Self.pick(&random, 0..<1000))"
            extra = beyond && random.chance(0.5) ? ["0", "-5", "inf", "1e20", "86400001"][Self.pick(&random, 0..<5)] : ["1", "15000", "86400000"][Self.pick(&random, 0..<3)]
            if !beyond { granted.append(argument) }
        case "probe":
            let token = granted.isEmpty || random.chance(0.2) ? "nobody#x-1" : granted[Self.pick(&random, 0..<granted.count)]
            argument = beyond && random.chance(0.5) ? ["", "t:Q", "t:S:abc", String(repeating: "p", count: 400) + ":S"][Self.pick(&random, 0..<4)]
                : "\(token):\(["S", "F", "I"][Self.pick(&random, 0..<3)])\(random.chance(0.5) ? ":\(Self.pick(&random, 0..<50))" : "")"
        case "force_open", "force_close":
            let durations: [Duration?] = [nil, .milliseconds(1), .milliseconds(200), .seconds(10 * 31_536_000)]
            manual = ManualAction(actor: beyond ? String(repeating: "a", count: 300) : "fuzz@host", note: beyond && random.chance(0.5) ? String(repeating: "n", count: 5000) : "é\u{0}\"'<b>", duration: durations[Self.pick(&random, 0..<durations.count)])
        case "reconcile_open":
            argument = beyond ? ["-1", "abc", "99999999999999999999"][Self.pick(&random, 0..<3)] : "\(Self.pick(&random, 0..<40))"
        default: break
        }
        let label = "\(operation) by=\(instance.prefix(12)) arg=\(argument.prefix(24)) extra=\(extra) cfg=\(configuration.prefix(40))\(manual.duration.map { " for=\($0)" } ?? "")"
        do {
            let value = try await BreakerScriptAccess.call(store, name: name, operation: operation, instanceID: instance, configuration: configuration, argument: argument, extra: extra, manual: manual)
            let reply: BreakerScriptAccess.Reply
            do { reply = try BreakerScriptAccess.decode(value) } catch { throw Problem("\(label): undecodable reply \(error)") }
            return (label + " -> \(reply.state.rawValue) v\(reply.version)", false, .breaker(reply))
        } catch let error as RedisError {
            return (label + " -> error", try Self.judge(error, beyond: beyond, label: label), Check.breaker(nil))
        }
    }

    private func scheduleCall(_ random: inout SeededGenerator) async throws -> (String, Bool, Check) {
        let maximumPause: Duration = [.seconds(1), .seconds(86_400), .seconds(31_536_000)][Self.pick(&random, 0..<3)]
        let schedule = CollectorSchedule(name: collector, instanceID: "inst-\(Self.pick(&random, 1..<3))", group: random.chance(0.5) ? group : nil,
                                         maximumPause: maximumPause, store: store)
        let beyond = random.chance(0.2)
        let interval: Duration = [.milliseconds(1), .seconds(1), .seconds(48 * 3600), .seconds(31_536_000)][Self.pick(&random, 0..<4)]
        var label = ""
        do {
            if beyond {
                let arguments: [[String]] = [
                    ["claim", "inst-1", "inf", "fleet"], ["claim", "inst-1", "99999999999999999999"], ["claim", "a:b", "1000"],
                    ["pause", "inst-1", "1e20"], ["pause", "inst-1", "-5"], ["claim", "inst-1", "1000", "sideways"], ["frobnicate", "inst-1"],
                    ["pause", "inst-1", "4611686018427387000", "86400000"],
                ]
                let args = arguments[Self.pick(&random, 0..<arguments.count)]
                label = "schedule raw \(args.joined(separator: " "))"
                _ = try await store.evaluate(FleetScriptAccess.schedule, keys: [schedule.key], arguments: args)
                return (label, false, .schedule(maxPauseMs: 86_400_000, intervalMs: nil))
            }
            switch Self.pick(&random, 0..<4) {
            case 0:
                let pause: Duration = [.zero, .seconds(3), .seconds(72 * 3600), .seconds(4_611_686_018_427_387), .seconds(Int64.max)][Self.pick(&random, 0..<5)]
                label = "pause \(pause) max=\(maximumPause)"
                try await schedule.pause(for: pause)
                return (label, false, .schedule(maxPauseMs: maximumPause.roundedMilliseconds, intervalMs: nil))
            case 1:
                label = "finish"
                try await schedule.finish(["ok", "failed", String(repeating: "r", count: 64)][Self.pick(&random, 0..<3)])
                // finish does not know the maximum pause (the next claim applies it): only the
                // deadlines' validity and the TTL are checked.
                return (label, false, .schedule(maxPauseMs: 1 << 53, intervalMs: nil))
            default:
                let mode: ScheduleMode = random.chance(0.7) ? .fleet : .perInstance
                label = "claim \(interval) \(mode.rawValue) max=\(maximumPause)"
                _ = try await schedule.claim(interval: interval, mode: mode, group: nil, kind: "twitter")
                return (label, false, .schedule(maxPauseMs: maximumPause.roundedMilliseconds, intervalMs: mode == .fleet ? interval.roundedMilliseconds : nil))
            }
        } catch let error as RedisError {
            return (label + " -> error", try Self.judge(error, beyond: beyond, label: label), .none)
        }
    }

    private func quotaCall(_ random: inout SeededGenerator) async throws -> (String, Bool, Check) {
        let beyond = random.chance(0.2)
        let label: String
        do {
            if beyond {
                let arguments: [[String]] = [["take", "1e9", "1000", "0", "k", "i", "0"], ["take", "100001", "1000", "0", "k", "i", "0"],
                                             ["take", "5", "inf", "0", "k", "i", "0"], ["release", "5", "1000", "0", "", "", "abc", "x"], ["nope"]]
                let args = arguments[Self.pick(&random, 0..<arguments.count)]
                label = "quota raw \(args.joined(separator: " "))"
                _ = try await store.evaluate(FleetScriptAccess.quota, keys: [SharedRateLimit.key(for: group)], arguments: args)
                return (label, false, .quota)
            }
            let limit = SharedRateLimit(group: group, requests: [1, 3, 10_000][Self.pick(&random, 0..<3)],
                                        period: [.milliseconds(1), .seconds(1), .seconds(86_400)][Self.pick(&random, 0..<3)],
                                        requestTimeout: [.zero, .seconds(10), .seconds(31_536_000)][Self.pick(&random, 0..<3)], store: store)
            label = "take \(limit.requests)/\(limit.period)"
            let decision = try await limit.take(kind: "twitter", instanceID: "inst-1")
            if case .granted(let grant) = decision.outcome, random.chance(0.5) { try await limit.release(grant) }
            return (label, false, .quota)
        } catch let error as RedisError {
            return ("quota -> error", try Self.judge(error, beyond: beyond, label: "quota"), .none)
        }
    }

    /// Commits one batch twice, as two replicas polling the same page would: written once.
    private func commitTwice(_ random: inout SeededGenerator) async throws -> (String, Bool, Check) {
        let schedule = CollectorSchedule(name: collector, instanceID: "inst-1", store: store)
        let idClasses = ["1000", "t3_abc", "é😀", "a\u{0}b", "", "x y", String(repeating: "9", count: 2000), "t3_zz", "9", "<script>"]
        var ids: [String] = []
        for _ in 0..<Self.pick(&random, 1..<6) { ids.append(idClasses[Self.pick(&random, 0..<idClasses.count)] + (random.chance(0.5) ? "\(Self.pick(&random, 0..<99))" : "")) }
        let records = ids.map { (id: $0, fields: [("id", $0), ("body", "b")]) }
        let label = "commit ids=\(ids.map { String($0.prefix(8)).debugDescription }.joined(separator: ","))"
        do {
            _ = try await schedule.commit(records, to: name.streamKey, maxLength: 1000)
            let again = try await schedule.commit(records, to: name.streamKey, maxLength: 1000)
            if again.written != 0 { throw Problem("\(label): the same batch committed again wrote \(again.written) records") }
            return (label, false, .scheduleLifetime)
        } catch let error as RedisError {
            // A stream key of the wrong type is not repaired by the commit (XADD fails cleanly).
            if error.message.contains("WRONGTYPE") { return (label + " -> WRONGTYPE stream", true, .none) }
            return (label + " -> error", try Self.judge(error, beyond: false, label: label), .none)
        }
    }

    /// An error is acceptable only as a script's own validation error for arguments beyond
    /// the bounds; returns true for those.
    static func judge(_ error: RedisError, beyond: Bool, label: String) throws -> Bool {
        if beyond, error.code == .server, error.message.contains(".lua: ") { return true }
        throw Problem("\(label): \(beyond ? "not a validation error" : "a valid call failed"): \(error)")
    }

    // MARK: - Invariants

    struct Problem: Error { var text: String; init(_ text: String) { self.text = text } }

    private func checkInvariants(_ check: Check, now: Int64, highestVersion: inout Int, ledgerFloorID: String, repairs: inout Int) async throws {
        switch check {
        case .none, .quota:
            return
        case .breaker(let reply):
            guard let reply else { return }
            if !reply.repairs.isEmpty { repairs += 1 }
            if reply.version < highestVersion { throw Problem("version went back from \(highestVersion) to \(reply.version)") }
            highestVersion = reply.version
            let type = try await store.execute("TYPE", name.stateKey)
            if type.string == "none" { return }
            guard type.string == "hash" else { throw Problem("cb_state is a \(type)") }
            let fields = try await store.execute("HGETALL", name.stateKey).fieldDictionary ?? [:]
            let stored = StoredBreakerState(fields: fields)
            if !stored.problems.isEmpty { throw Problem("the stored breaker is still garbage after a write: \(stored.problems)") }
            if fields["state"] == nil { throw Problem("cb_state has no state field after a write") }
            if stored.version != reply.version { throw Problem("stored version \(stored.version) differs from the reply's \(reply.version)") }
            let ttl = try await store.execute("TTL", name.stateKey).int ?? -2
            if ttl <= 0 { throw Problem("cb_state has no TTL (\(ttl))") }
            // Oldest first (stream ids are "ms-seq").
            let entries = try await BreakerAdmin(store: store, instanceID: "fuzz").history(name, limit: 2000).sorted { a, b in
                let x = a.id.split(separator: "-").compactMap { Int64($0) }, y = b.id.split(separator: "-").compactMap { Int64($0) }
                return x.lexicographicallyPrecedes(y)
            }
            let floor = ledgerFloorID.split(separator: "-").compactMap { Int64($0) }
            let written: [Int] = entries.filter { (entry: LedgerEntry) in
                entry.by != Self.injector && floor.lexicographicallyPrecedes(entry.id.split(separator: "-").compactMap { Int64($0) })
            }.map { (entry: LedgerEntry) in entry.version }
            for (a, b) in zip(written, written.dropFirst()) where b <= a {
                throw Problem("ledger versions not strictly increasing: \(a) then \(b) (\(written.suffix(8)))")
            }
            if let last = written.last, last > reply.version { throw Problem("the ledger holds v\(last), beyond the stored v\(reply.version)") }
        case .scheduleLifetime:
            let key = CollectorSchedule.key(for: collector)
            guard (try await store.execute("TYPE", key)).string == "hash" else { return }
            let fields = try await store.execute("HGETALL", key).fieldDictionary ?? [:]
            let pttl = try await store.execute("PTTL", key).int ?? -2
            if pttl <= 0 { throw Problem("cb_sched has no TTL after a commit (\(pttl))") }
            for field in ["next_due_ms", "paused_until_ms"] {
                // Only deadlines the scripts accept (plain digits up to 2^53); others are garbage the next schedule op drops.
                if let raw = fields[field], raw.count <= 17, let value = Int64(raw), value <= 1 << 53, value - now > pttl + 1_000 {
                    throw Problem("a commit shortened cb_sched's TTL below its \(field)")
                }
            }
        case .schedule(let maxPause, let interval):
            let key = CollectorSchedule.key(for: collector)
            let type = try await store.execute("TYPE", key)
            if type.string == "none" { return }
            guard type.string == "hash" else { throw Problem("cb_sched is a \(type)") }
            let fields = try await store.execute("HGETALL", key).fieldDictionary ?? [:]
            let pttl = try await store.execute("PTTL", key).int ?? -2
            if pttl <= 0 { throw Problem("cb_sched has no TTL (\(pttl))") }
            for field in ["next_due_ms", "paused_until_ms"] {
                guard let raw = fields[field] else { continue }
                guard let value = Int64(raw) else { throw Problem("cb_sched \(field)=\(raw.prefix(32)) is not an integer after a write") }
                if value - now > pttl + 1_000 { throw Problem("cb_sched lapses \((value - now - pttl) / 1000) s before its \(field)") }
            }
            if let raw = fields["paused_until_ms"], let paused = Int64(raw), paused - now > maxPause + 5_000 {
                throw Problem("a pause \((paused - now) / 1000) s ahead outlives the maximum pause (\(maxPause / 1000) s)")
            }
            let groupPause = (try? await store.execute("HGET", SharedRateLimit.key(for: group), "paused_until_ms"))?.string.flatMap { Int64($0) } ?? 0
            let ownPause = fields["paused_until_ms"].flatMap { Int64($0) } ?? 0
            if let interval, let raw = fields["next_due_ms"], let due = Int64(raw), max(groupPause, ownPause) <= now,
               due - now > interval + 5_000 {
                throw Problem("next_due_ms is \((due - now) / 1000) s ahead, more than one interval (\(interval / 1000) s)")
            }
        }
    }

    private func perform(_ call: Int, _ random: inout SeededGenerator, now: Int64, granted: inout [String]) async throws -> (String, Bool, Check) {
        switch call {
        case 0...5: return try await breakerCall(&random, now: now, granted: &granted)
        case 6...7: return try await scheduleCall(&random)
        case 8: return try await quotaCall(&random)
        default: return try await commitTwice(&random)
        }
    }

    /// The first script call in SLOWLOG (reset before the step), described, or nil.
    private func slowScriptCall() async throws -> String? {
        for entry in try await store.execute("SLOWLOG", "GET", "16").array ?? [] {
            guard let parts = entry.array, parts.count >= 4, let micros = parts[2].int else { continue }
            let words = (parts[3].array ?? []).compactMap(\.string)
            guard let command = words.first, ["EVALSHA", "EVAL"].contains(command.uppercased()) else { continue }
            let shown = words.map { $0.count > 40 ? "\($0.prefix(40))…" : $0 }
            return "a script call ran \(micros / 1000) ms in Redis (limit \(slowMilliseconds) ms): \(shown.joined(separator: " "))"
        }
        return nil
    }

    /// Each key's DUMP and TTL, to replay a step from the same state.
    private func snapshotKeys(_ keys: Set<String>) async throws -> [(key: String, dump: [UInt8]?, ttl: Int64)] {
        var snapshot: [(key: String, dump: [UInt8]?, ttl: Int64)] = []
        for key in keys.sorted() {
            let dump = try await store.execute("DUMP", key).bytes
            let ttl = try await store.execute("PTTL", key).int ?? -1
            snapshot.append((key, dump, ttl))
        }
        return snapshot
    }

    private func restore(_ snapshot: [(key: String, dump: [UInt8]?, ttl: Int64)]) async throws {
        for (key, dump, ttl) in snapshot {
            _ = try await store.execute("DEL", key)
            if let dump { _ = try await store.execute("RESTORE", key, max(0, ttl), dump) }
        }
    }

    private func serverNow() async throws -> Int64 {
        let time = try await store.execute("TIME").array ?? []
        guard time.count == 2, let seconds = time[0].int, let micros = time[1].int else { return 0 }
        return seconds * 1000 + micros / 1000
    }

    static func pick(_ random: inout SeededGenerator, _ range: Range<Int>) -> Int {
        Int.random(in: range, using: &random)
    }
}
