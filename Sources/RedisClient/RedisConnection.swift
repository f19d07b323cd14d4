import Dispatch
import Logging
import SafeNumbers
import Synchronization

/// One Redis connection with its own serial queue, connected lazily and re-established
/// with capped exponential backoff after a failure.
///
/// hiredis blocks, so every call runs on the connection's dedicated `DispatchQueue`,
/// never on Swift's cooperative thread pool; callers `await` a continuation.
///
/// With a `redis-sentinel://` configuration the master is resolved through the sentinels
/// (``SentinelMonitor``) at every (re)connect; the link is dropped and resolved again when
/// the monitor's epoch advances (`+switch-master`) or a command gets a `READONLY` reply.
/// After `READONLY`, `execute`, `evaluate` and `transaction` are retried once on the newly
/// resolved master (safe: a replica applied nothing); a `pipeline` is not (earlier commands of
/// the batch may have been applied), its results are returned as they are.
///
/// The reconnect decisions (backoff, fail fast while backing off, following the master) are
/// ``RedisLinkStateMachine``'s; this class performs them.
///
/// `@unchecked Sendable` is justified because all mutable state (`link`, `machine`,
/// `linkEndpoint`) is read and written only from `queue`, which is serial; the remaining
/// stored properties are immutable and `Sendable`.
public final class RedisConnection: @unchecked Sendable {
    private let configuration: RedisConfiguration
    private let queue: DispatchQueue
    private let logger: Logger
    private let scripts: ScriptCache
    private let inFlight = Atomic<Int>(0)
    /// Set for sentinel configurations; shared by every connection of a pool.
    let sentinel: SentinelMonitor?
    /// Whether this connection created (and so stops) `sentinel`.
    private let ownsSentinel: Bool

    // Queue-confined state.
    private var link: HiredisConnection?
    private var machine: RedisLinkStateMachine
    private var linkEndpoint: RedisConfiguration.Endpoint?

    /// Called on the connection's queue whenever the link goes up (`true`) or down (`false`).
    let onLinkChange: @Sendable (Bool, RedisError?) -> Void

    init(configuration: RedisConfiguration, label: String, logger: Logger, scripts: ScriptCache, sentinel: SentinelMonitor?, ownsSentinel: Bool = false, onLinkChange: @escaping @Sendable (Bool, RedisError?) -> Void) {
        self.configuration = configuration
        self.sentinel = sentinel
        self.ownsSentinel = ownsSentinel
        self.queue = DispatchQueue(label: label)
        self.logger = logger
        self.scripts = scripts
        self.onLinkChange = onLinkChange
        self.machine = RedisLinkStateMachine(policy: .dataLink(configuration), peer: configuration.target)
    }

    /// Creates a standalone connection (no pool).
    ///
    /// - Parameters:
    ///   - configuration: where to connect; nothing is opened until the first command.
    ///   - logger: receives connection-level events.
    public convenience init(configuration: RedisConfiguration, logger: Logger = Logger(label: "breakwater.redis")) {
        self.init(
            configuration: configuration, label: "breakwater.redis.connection", logger: logger, scripts: ScriptCache(),
            sentinel: SentinelMonitor.make(for: configuration, logger: logger), ownsSentinel: true, onLinkChange: { _, _ in }
        )
    }

    deinit {
        if ownsSentinel { sentinel?.stop() }
    }

    /// The number of calls queued or running on this connection.
    var load: Int { inFlight.load(ordering: .relaxed) }

    // MARK: - Public API

    /// Sends a command and returns its reply.
    ///
    /// - Returns: the reply; never ``RedisValue/error(_:)``.
    /// - Throws: ``RedisError``: code `server` with the server's text for an error reply,
    ///   or a connection-level error (the connection is then dropped and re-established
    ///   on the next call).
    public func execute(_ command: RedisCommand) async throws -> RedisValue {
        try await perform { (link) throws(RedisError) in
            try Self.unwrap(try link.execute(command))
        }
    }

    /// Sends a command built from a name and arguments. See ``execute(_:)``.
    public func execute(_ name: String, _ arguments: any RedisArgumentConvertible...) async throws -> RedisValue {
        try await execute(RedisCommand(name, arguments))
    }

    /// Sends several commands in one write and reads all replies (pipelining).
    ///
    /// - Returns: one result per command, in order; server error replies are `.failure`.
    /// - Throws: a connection-level ``RedisError`` if the connection breaks mid-way.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RedisValue, RedisError>] {
        try await perform(retryOnReadOnly: false, readOnlyIn: { results in
            results.contains { if case .failure(let error) = $0 { error.isReadOnly } else { false } }
        }) { (link) throws(RedisError) in
            try Self.pipeline(commands, on: link)
        }
    }

    /// Runs a Lua script by EVALSHA, loading it with SCRIPT LOAD first if the server
    /// does not know it (a NOSCRIPT reply, e.g. after `SCRIPT FLUSH` or a restart).
    ///
    /// - Returns: the script's reply.
    /// - Throws: ``RedisError`` with code `server` for a script error.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [any RedisArgumentConvertible]) async throws -> RedisValue {
        let argumentBytes = arguments.map(\.redisBytes)
        return try await perform { (link) throws(RedisError) in
            try Self.evaluate(script, keys: keys, arguments: argumentBytes, on: link, scripts: self.scripts)
        }
    }

    /// Runs an optimistic transaction: WATCH the keys, run the reads, let `build` decide
    /// the writes from what was read, then MULTI/…/EXEC.
    ///
    /// The whole exchange runs on this connection without interleaving other callers.
    /// - Parameters:
    ///   - keys: the keys to WATCH.
    ///   - reads: commands whose replies are passed to `build`.
    ///   - build: returns the commands to run atomically, or `nil` to abandon (UNWATCH).
    /// - Returns: `.committed` with EXEC's replies, `.conflict` when a watched key changed
    ///   (EXEC returned nil), or `.abandoned`.
    public func transaction(
        watching keys: [String],
        reads: [RedisCommand],
        build: @escaping @Sendable ([RedisValue]) -> [RedisCommand]?
    ) async throws -> TransactionOutcome {
        try await perform { (link) throws(RedisError) in
            try Self.transaction(watching: keys, reads: reads, build: build, on: link)
        }
    }

    /// Closes the socket; later calls fail with code `closed`.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                _ = self.machine.closeRequested()
                self.link = nil
                if self.ownsSentinel { self.sentinel?.stop() }
                continuation.resume()
            }
        }
    }

    // MARK: - Queue-confined machinery

    /// Runs `body` on the queue with a live link, connecting first if needed.
    ///
    /// - Parameters:
    ///   - retryOnReadOnly: with Sentinel, run `body` once more on the newly resolved master
    ///     after a thrown `READONLY` error (only for bodies a replica cannot have half-applied).
    ///   - readOnlyIn: spots a `READONLY` inside a successful result (pipelines).
    func perform<T: Sendable>(
        retryOnReadOnly: Bool = true,
        readOnlyIn: (@Sendable (T) -> Bool)? = nil,
        _ body: @escaping @Sendable (HiredisConnection) throws(RedisError) -> T
    ) async throws -> T {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            queue.async {
                var result = self.performOnQueue(body, readOnlyIn: readOnlyIn)
                if retryOnReadOnly, self.sentinel != nil, case .failure(let error) = result, (error as? RedisError)?.isReadOnly == true {
                    result = self.performOnQueue(body, readOnlyIn: readOnlyIn)
                }
                continuation.resume(with: result)
            }
        }
    }

    private func performOnQueue<T>(_ body: (HiredisConnection) throws(RedisError) -> T, readOnlyIn: ((T) -> Bool)?) -> Result<T, any Error> {
        do {
            let link = try establishedLink()
            let value = try body(link)
            if let readOnlyIn, sentinel != nil, readOnlyIn(value) {
                dropAfterReadOnly()
            } else {
                // Redis answered: reachable, whatever another connection of the pool saw last
                // (the pool's tracker only logs and notifies on a change).
                onLinkChange(true, nil)
            }
            return .success(value)
        } catch {
            if error.isReadOnly, sentinel != nil {
                dropAfterReadOnly()
                return .failure(error)
            }
            if error.breaksConnection {
                apply(machine.dropped(error, now: .now))
            }
            return .failure(error)
        }
    }

    /// A `READONLY` reply: this link no longer reaches the master; every link of the pool
    /// is stale too, so the monitor's epoch advances.
    private func dropAfterReadOnly() {
        apply(machine.masterRefusedWrite())
    }

    /// The link for the next command: the current one, or a new one (Sentinel: the master
    /// resolved again), or the machine's refusal (shut down, backing off).
    private func establishedLink() throws(RedisError) -> HiredisConnection {
        var pending = machine.linkNeeded(now: .now, epoch: sentinel?.epoch ?? 0)
        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .useLink:
                if let link { return link }
                // Unreachable (the machine says up only with a link); treat as a broken link.
                throw RedisError(.connectionLost, "no link to \(configuration.target)")
            case .fail(let error):
                throw error
            case .connect:
                do {
                    let fresh: HiredisConnection
                    if let sentinel {
                        (fresh, linkEndpoint) = try sentinel.connectToMaster()
                    } else {
                        fresh = try Self.open(configuration)
                        linkEndpoint = configuration.endpoint
                    }
                    link = fresh
                    apply(machine.connectSucceeded(now: .now))
                    return fresh
                } catch {
                    apply(machine.connectFailed(error, now: .now))
                    throw error
                }
            default:
                apply([action])
            }
        }
        throw RedisError(.connectionLost, "no link to \(configuration.target)")
    }

    /// Performs the machine's actions that need no caller (closing, reporting).
    private func apply(_ actions: [RedisLinkStateMachine.Action]) {
        for action in actions {
            switch action {
            case .closeConnection:
                link = nil
            case .report(.connected):
                onLinkChange(true, nil)
            case .report(.connectFailed(let error, _)):
                onLinkChange(false, error)
            case .report(.linkLost(let error)):
                logger.debug("redis link dropped", metadata: ["endpoint": "\(linkEndpoint.map(\.description) ?? configuration.target)", "error": "\(error)"])
                onLinkChange(false, error)
            case .report(.masterChanged):
                logger.debug("redis link dropped: the master is resolved again", metadata: ["endpoint": "\(linkEndpoint.map(\.description) ?? "?")"])
            case .report(.masterRefusedWrite):
                logger.info("redis READONLY reply: resolving the master again", metadata: ["endpoint": "\(linkEndpoint.map(\.description) ?? configuration.target)"])
                sentinel?.noteReadOnly(from: linkEndpoint)
            case .connect, .waitFor, .verifyMaster, .resubscribe, .useLink, .fail, .ping, .awaitTraffic, .finish:
                break // not produced for a lazy link without subscriptions outside establishedLink()
            }
        }
    }

    /// Connects to ``RedisConfiguration/endpoint``, authenticates and selects the database
    /// (plain URLs; Sentinel configurations go through ``SentinelMonitor/connectToMaster()``).
    static func open(_ configuration: RedisConfiguration) throws(RedisError) -> HiredisConnection {
        try open(configuration, at: configuration.endpoint, verify: nil)
    }

    /// Connects to `endpoint`, authenticates, runs `verify` (the Sentinel `ROLE` check), and
    /// selects the database.
    static func open(_ configuration: RedisConfiguration, at endpoint: RedisConfiguration.Endpoint, verify: ((HiredisConnection) throws(RedisError) -> Void)?) throws(RedisError) -> HiredisConnection {
        let link = try HiredisConnection.connect(
            to: endpoint,
            connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout,
            tls: configuration.tls
        )
        do throws(RedisError) {
            if let password = configuration.password {
                let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
                if case .error(let text) = try link.execute(auth) {
                    throw RedisError(.authenticationFailed, "AUTH\(configuration.username.map { " as \($0)" } ?? "") refused by \(endpoint): \(text)")
                }
            } else if verify == nil {
                // One round trip proves the link (and, over TLS, a server that checks client
                // certificates after the handshake) before it is handed out.
                _ = try link.execute(RedisCommand("PING"))
            }
            try verify?(link)
        } catch {
            guard error.code == .connectionLost else { throw error }
            guard let tls = configuration.tls else {
                throw RedisError(.connectionFailed, "\(error.message) right after connecting to \(endpoint) (a TLS-only server? use rediss://)")
            }
            // A server that checks client certificates after the handshake (TLS 1.3) closes
            // the connection at the first command when it refuses ours, or misses one; the
            // alert that says so is not always readable by then.
            if tls.certFile == nil {
                throw RedisError(.tls, "TLS with \(endpoint): the server closed the connection right after the handshake: it requires a client certificate (set cert_file and key_file / REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)", tlsFailure: .clientCertificateRequired)
            }
            throw RedisError(.tls, "TLS with \(endpoint): the server closed the connection right after the handshake: it refused our client certificate \(tls.certFile ?? "") (is it signed by the CA the server trusts?)", tlsFailure: .clientCertificateRejected)
        }
        if configuration.database != 0 {
            if case .error(let text) = try link.execute(RedisCommand("SELECT", configuration.database)) {
                throw RedisError(.databaseSelectionFailed, "SELECT \(configuration.database) refused by \(endpoint): \(text)")
            }
        }
        return link
    }

    static func unwrap(_ value: RedisValue) throws(RedisError) -> RedisValue {
        if case .error(let text) = value {
            throw RedisError(.server, text)
        }
        return value
    }

    static func pipeline(_ commands: [RedisCommand], on link: HiredisConnection) throws(RedisError) -> [Result<RedisValue, RedisError>] {
        for command in commands { try link.append(command) }
        var results: [Result<RedisValue, RedisError>] = []
        results.reserveCapacity(commands.count)
        for _ in commands {
            let reply = try link.nextReply()
            if case .error(let text) = reply {
                results.append(.failure(RedisError(.server, text)))
            } else {
                results.append(.success(reply))
            }
        }
        return results
    }

    static func evaluate(_ script: RedisScript, keys: [String], arguments: [[UInt8]], on link: HiredisConnection, scripts: ScriptCache) throws(RedisError) -> RedisValue {
        func evalsha(_ sha: String) throws(RedisError) -> RedisValue {
            var raw: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha.utf8), Array(String(keys.count).utf8)]
            raw.reserveCapacity(3 + keys.count + arguments.count)
            for key in keys { raw.append(Array(key.utf8)) }
            raw.append(contentsOf: arguments)
            return try link.execute(RedisCommand(rawArguments: raw))
        }
        func load() throws(RedisError) -> String {
            let reply = try link.execute(RedisCommand("SCRIPT", "LOAD", script.source))
            if case .error(let text) = reply {
                throw RedisError(.server, "SCRIPT LOAD \(script.name): \(text)")
            }
            guard let sha = reply.string else { throw RedisError(.protocolError, "SCRIPT LOAD \(script.name) returned \(reply)") }
            scripts.store(sha, for: script.source)
            return sha
        }
        let sha: String
        if let cached = scripts.sha(for: script.source) {
            sha = cached
        } else {
            sha = try load()
        }
        var reply = try evalsha(sha)
        if case .error(let text) = reply, text.hasPrefix("NOSCRIPT") {
            reply = try evalsha(try load())
        }
        if case .error(let text) = reply {
            throw RedisError(.server, "script \(script.name): \(text)")
        }
        return reply
    }

    static func transaction(
        watching keys: [String],
        reads: [RedisCommand],
        build: ([RedisValue]) -> [RedisCommand]?,
        on link: HiredisConnection
    ) throws(RedisError) -> TransactionOutcome {
        _ = try unwrap(link.execute(RedisCommand("WATCH", keys)))
        var values: [RedisValue] = []
        for read in reads {
            let reply = try link.execute(read)
            if case .error(let text) = reply {
                _ = try link.execute(RedisCommand("UNWATCH"))
                throw RedisError(.server, text)
            }
            values.append(reply)
        }
        guard let writes = build(values) else {
            _ = try link.execute(RedisCommand("UNWATCH"))
            return .abandoned
        }
        var batch = [RedisCommand("MULTI")]
        batch.append(contentsOf: writes)
        batch.append(RedisCommand("EXEC"))
        let replies = try pipeline(batch, on: link)
        guard case .success(let exec)? = replies.last else {
            // EXECABORT after a command was refused while queueing: a READONLY refusal (a
            // replica) is reported as such, so the Sentinel client resolves the master again.
            for case .failure(let error) in replies.dropLast() where error.isReadOnly { throw error }
            if case .failure(let error)? = replies.last { throw error }
            throw RedisError(.protocolError, "EXEC returned nothing")
        }
        for case .failure(let error) in replies.dropLast() {
            // A command rejected while queueing makes EXEC fail with EXECABORT (reported above);
            // here we surface the first queueing error for a clearer message.
            throw error
        }
        switch exec {
        case .null:
            return .conflict
        case .array(let results):
            return .committed(results)
        default:
            throw RedisError(.protocolError, "EXEC returned \(exec)")
        }
    }
}

/// The result of ``RedisConnection/transaction(watching:reads:build:)``.
public enum TransactionOutcome: Sendable, Equatable {
    /// EXEC ran; one reply per queued command (error replies included as ``RedisValue/error(_:)``).
    case committed([RedisValue])
    /// A watched key changed before EXEC; nothing was written.
    case conflict
    /// `build` returned `nil`; nothing was written.
    case abandoned
}
