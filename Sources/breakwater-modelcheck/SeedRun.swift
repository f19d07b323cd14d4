import BreakerSchema
import BreakerCore
import RedisClient
@_spi(ModelCheck) import SharedBreaker

/// Runs one seed: three instances (distinct ids, one connection pool each) drive the real
/// breaker script on one real redis-server with the seed's random steps, the reference model
/// takes the same steps, and `cb_state:<name>` must equal the model after every step.
struct SeedRun {
    /// How a seed ended.
    struct Outcome {
        var seed: UInt64
        var steps: Int
        var version = 0
        var opens = 0
        var probes = 0
        var manual = 0
        var jumps = 0
        var lapses = 0
        /// The first divergence, with the steps that led to it.
        var divergence: String?
    }

    let seed: UInt64
    let steps: Int
    let instances: [RedisConnectionPool]
    let admin: RedisConnectionPool
    let trace: Bool

    static let instanceIDs = ["mc-a", "mc-b", "mc-c"]

    /// Moves every stored timestamp back by Δ ms in one atomic step (Δ < 0: forward), which
    /// to the script is the server clock jumping by Δ. Zero means "none" and stays zero.
    static let jumpScript = RedisScript(name: "modelcheck-jump", source: """
        local key, d = KEYS[1], tonumber(ARGV[1])
        if redis.call('EXISTS', key) == 0 then return 0 end
        for _, f in ipairs({'opened_at_ms', 'half_open_at_ms', 'forced_until_ms', 'last_failure_at_ms',
                            'last_transition_at_ms', 'updated_at_ms'}) do
          local v = tonumber(redis.call('HGET', key, f) or '0') or 0
          if v > 0 then redis.call('HSET', key, f, string.format('%d', v - d)) end
        end
        local out = {}
        for tok, exp in string.gmatch(redis.call('HGET', key, 'leases') or '', '([^:,]+):(%d+)') do
          table.insert(out, tok .. ':' .. string.format('%d', tonumber(exp) - d))
        end
        redis.call('HSET', key, 'leases', table.concat(out, ','))
        return 1
        """)

    func run() async throws -> Outcome {
        var rng = SeededGenerator(seed: seed)
        let policy = try ModelCheckPolicy(using: &rng)
        let configuration = BreakerScriptAccess.configuration(policy.options)
        let name = try BreakerName("modelcheck-\(seed)")
        _ = try await admin.execute("DEL", name.stateKey, name.logKey)

        var model = try ReferenceBreaker(config: policy.config)
        var outcome = Outcome(seed: seed, steps: steps)
        var shift: Int64 = 0
        var outstanding: [(token: String, instance: Int, version: Int)] = []
        var tokenCounter = 0
        var history: [String] = ["policy: \(policy)"]

        func call(_ instance: Int, _ operation: String, _ argument: String = "", _ extra: String = "",
                  manual: ManualAction = ManualAction()) async throws -> (now: Int64, result: String) {
            let reply = try await BreakerScriptAccess.call(
                instances[instance], name: name, operation: operation, instanceID: Self.instanceIDs[instance],
                configuration: configuration, argument: argument, extra: extra, manual: manual)
            guard let parts = reply.array, parts.count >= 14, let now = parts[5].int, let result = parts[6].string else {
                throw ModelCheckError("script \(operation) returned an unexpected reply: \(reply)")
            }
            return (now + shift, result)
        }

        for index in 0..<steps {
            let step = ModelStep.draw(using: &rng, outstanding: outstanding.count, policy: policy)
            var expectedResult: String?
            var actualResult: String?
            switch step {
            case .record(let i, let failures):
                var arg = ""
                var runs: [(Bool, Int)] = []
                for f in failures {
                    if let last = runs.last, last.0 == f { runs[runs.count - 1].1 += 1 } else { runs.append((f, 1)) }
                }
                for run in runs { arg += "\(run.0 ? "F" : "S")\(run.1)" }
                let reply = try await call(i, "record", arg)
                model.record(failures, at: reply.now)
            case .acquire(let i, let lease):
                tokenCounter += 1
                let token = "\(Self.instanceIDs[i])#\(tokenCounter)"
                let reply = try await call(i, "acquire", token, "\(lease)")
                expectedResult = model.acquire(token: token, leaseMilliseconds: lease, at: reply.now)
                actualResult = reply.result
                if reply.result == "granted" {
                    outstanding.append((token, i, model.machine.version))
                    outcome.probes += 1
                }
            case .probe(let k, let result):
                let probe = outstanding.remove(at: k)
                let code = result == .success ? "S" : result == .failure ? "F" : "I"
                let reply = try await call(probe.instance, "probe", "\(probe.token):\(code):\(probe.version)")
                expectedResult = model.probe(token: probe.token, outcome: result, grantedVersion: probe.version, at: reply.now)
                actualResult = reply.result
            case .touch(let i):
                let reply = try await call(i, "touch")
                model.touch(at: reply.now)
            case .manual(let i, let operation, let milliseconds):
                let action = ManualAction(actor: "modelcheck", note: "seed \(seed)", duration: milliseconds.map { .milliseconds($0) })
                let reply = try await call(i, operation, manual: action)
                model.manual(operation, for: milliseconds, at: reply.now)
                outcome.manual += 1
            case .jump(let delta):
                _ = try await admin.evaluate(Self.jumpScript, keys: [name.stateKey], arguments: ["\(delta)"])
                shift += delta
                outcome.jumps += 1
            }
            history.append("step \(index): \(step)\(actualResult.map { " -> \($0)" } ?? "")")
            if trace { print("seed \(seed) \(history.last!)") }

            var problems: [String] = []
            if expectedResult != actualResult {
                problems.append("result: model \(expectedResult ?? "-"), script \(actualResult ?? "-")")
            }
            problems += try await compare(model.expectedFields(shift: shift), name: name)
            if !problems.isEmpty {
                let recent = history.count > 13 ? [history[0], "…"] + history.suffix(12) : history
                outcome.divergence = "at step \(index) (\(step)): " + problems.joined(separator: "; ")
                    + "\n    " + recent.joined(separator: "\n    ")
                return outcome
            }
            outcome.version = model.machine.version
            outcome.opens = model.machine.statistics.circuitOpens
            outcome.lapses = model.lapses
        }
        // Kept on a divergence (for inspection), removed otherwise.
        _ = try await admin.execute("DEL", name.stateKey, name.logKey)
        return outcome
    }

    /// Differences between the stored hash (and its ledger) and the model's fields.
    private func compare(_ expected: [String: String], name: BreakerName) async throws -> [String] {
        let replies = try await admin.pipeline([RedisCommand("HGETALL", name.stateKey), RedisCommand("XLEN", name.logKey)])
        let stored = try replies[0].get().fieldDictionary ?? [:]
        let ledgerLength = try replies[1].get().int ?? -1
        var problems: [String] = []
        if stored.isEmpty {
            // Nothing written yet (only clock jumps so far): the model must be untouched too.
            if expected["version"] != "0" || expected["total_calls"] != "0" { problems.append("cb_state missing") }
            return problems
        }
        for (field, value) in expected.sorted(by: { $0.key < $1.key }) {
            var actual = stored[field] ?? "<missing>"
            if field == "leases" { actual = actual.split(separator: ",").map(String.init).sorted().joined(separator: ",") }
            if actual != value { problems.append("\(field): model \(value), stored \(actual)") }
        }
        // One ledger entry per version (the ledger is far below its 1000-entry cap here).
        if let version = Int(stored["version"] ?? ""), ledgerLength != version {
            problems.append("ledger: \(ledgerLength) entries for version \(version)")
        }
        return problems
    }
}

/// A harness failure (not a divergence): Redis unreachable, an unexpected reply.
struct ModelCheckError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
