import BreakerSchema
import BreakerCore
import RedisClient
import SafeNumbers

/// Operator access to shared breakers without running them: read, list, and manual control.
///
/// Manual actions go through the same Lua compare-and-set path as the daemons and publish
/// on `cb_events:<name>`, so every instance adopts them within the propagation bound.
public struct BreakerAdmin: Sendable {
    /// One breaker as stored, with its remaining TTL.
    public struct Entry: Sendable, Equatable {
        public var name: BreakerName
        public var state: StoredBreakerState
        /// Seconds until the hash expires (-1: no TTL, -2: missing).
        public var ttlSeconds: Int64
        /// The raw hash fields.
        public var fields: [String: String]

        /// The one operator view of this breaker (``BreakerView``).
        ///
        /// - Parameters:
        ///   - nowMilliseconds: Redis server time.
        ///   - recent: ledger entries to include, newest first.
        public func view(nowMilliseconds: Int64, recent: [LedgerEntry]? = nil) -> BreakerView {
            BreakerView(name: name.rawValue, stored: state, nowMilliseconds: nowMilliseconds, ttlSeconds: ttlSeconds, recent: recent)
        }
    }

    private let store: RedisConnectionPool
    private let instanceID: String

    /// Creates an admin client.
    /// - Parameters:
    ///   - store: the Redis pool.
    ///   - instanceID: written as `updated_by` for manual actions (e.g. `cli@host`).
    public init(store: RedisConnectionPool, instanceID: String) {
        self.store = store
        self.instanceID = instanceID
    }

    /// Reads one breaker.
    ///
    /// - Returns: the entry, or `nil` if `cb_state:<name>` does not exist.
    /// - Throws: ``RedisError`` (unreachable, or the key is not a hash).
    /// An override whose `--for` has passed is lapsed first (by the script, on Redis server
    /// time), so what is shown is never an override that no longer holds.
    public func read(_ name: BreakerName) async throws -> Entry? {
        try await read(name, applyingLapse: true)
    }

    private func read(_ name: BreakerName, applyingLapse: Bool) async throws -> Entry? {
        let replies = try await store.pipeline([
            RedisCommand("HGETALL", name.stateKey),
            RedisCommand("TTL", name.stateKey),
            RedisCommand("TIME"),
        ])
        let fields = try replies[0].get().fieldDictionary ?? [:]
        guard !fields.isEmpty else { return nil }
        let ttl = (try? replies[1].get().int) ?? -2
        let state = StoredBreakerState(fields: fields)
        if applyingLapse, state.forced != nil, state.forcedUntilMilliseconds > 0,
           let time = try? replies[2].get().array, time.count == 2, let seconds = time[0].int, let micros = time[1].int,
           Int64.milliseconds(seconds: seconds, microseconds: micros) >= state.forcedUntilMilliseconds {
            _ = try await BreakerScriptCall(.touch, name: name, instanceID: instanceID, policy: "").run(on: store)
            return try await read(name, applyingLapse: false)
        }
        return Entry(name: name, state: state, ttlSeconds: ttl, fields: fields)
    }

    /// Every breaker in Redis (SCAN `cb_state:*`), sorted by name; keys with invalid names are skipped.
    public func list() async throws -> [Entry] {
        var names: [BreakerName] = []
        var cursor = "0"
        repeat {
            let reply = try await store.execute("SCAN", cursor, "MATCH", BreakerKeys.Prefix.state.pattern, "COUNT", 500)
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw RedisError(.protocolError, "SCAN returned \(reply)")
            }
            cursor = next
            for key in keys.compactMap(\.string) {
                if let raw = BreakerKeys.Prefix.state.name(in: key), let name = try? BreakerName(raw) { names.append(name) }
            }
        } while cursor != "0"
        var entries: [Entry] = []
        for name in Set(names).sorted() {
            if let entry = try? await read(name) { entries.append(entry) }
        }
        return entries
    }

    /// Forces the breaker open on every instance until ``reset(_:_:)`` or until `manual.duration` lapses.
    public func forceOpen(_ name: BreakerName, _ manual: ManualAction = ManualAction()) async throws -> StoredBreakerState {
        try await act(.forceOpen, name, manual)
    }
    /// Forces the breaker closed on every instance until ``reset(_:_:)`` or until `manual.duration` lapses.
    public func forceClose(_ name: BreakerName, _ manual: ManualAction = ManualAction()) async throws -> StoredBreakerState {
        try await act(.forceClose, name, manual)
    }
    /// Closes the breaker, clears overrides and counters; statistics are kept.
    public func reset(_ name: BreakerName, _ manual: ManualAction = ManualAction()) async throws -> StoredBreakerState {
        try await act(.reset, name, ManualAction(actor: manual.actor, note: manual.note))
    }

    /// The newest ledger entries of a breaker (`cb_log:<name>`), newest first.
    ///
    /// - Parameter limit: at most this many entries.
    public func history(_ name: BreakerName, limit: Int = 20) async throws -> [LedgerEntry] {
        let reply = try await store.execute("XREVRANGE", name.logKey, "+", "-", "COUNT", max(1, limit))
        return (reply.array ?? []).compactMap(LedgerEntry.init)
    }

    /// Redis server time in milliseconds.
    public func serverTimeMilliseconds() async throws -> Int64 {
        let time = try await store.execute("TIME").array ?? []
        guard time.count == 2, let seconds = time[0].int, let micros = time[1].int else {
            throw RedisError(.protocolError, "TIME returned \(time)")
        }
        return Int64.milliseconds(seconds: seconds, microseconds: micros)
    }

    private func act(_ operation: BreakerOperation, _ name: BreakerName, _ manual: ManualAction) async throws -> StoredBreakerState {
        _ = try await BreakerScriptCall(operation, name: name, instanceID: instanceID, policy: "", manual: manual).run(on: store)
        return try await read(name)?.state ?? StoredBreakerState()
    }
}
