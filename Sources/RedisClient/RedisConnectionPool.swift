import Logging
import Synchronization

/// A small pool of ``RedisConnection``s serving concurrent callers.
///
/// Each call goes to the least-loaded connection. Connections connect lazily and
/// reconnect with capped backoff; the pool logs once when Redis becomes unreachable and
/// once when it is back, and reports ``isReachable``.
public final class RedisConnectionPool: Sendable {
    /// The configuration every connection uses.
    public let configuration: RedisConfiguration
    private let connections: [RedisConnection]
    private let reachability: ReachabilityTracker
    /// The Sentinel monitor shared by every connection (`redis-sentinel://` only).
    let sentinel: SentinelMonitor?

    /// Creates a pool; no connection is opened until the first command.
    ///
    /// - Parameters:
    ///   - configuration: where to connect.
    ///   - size: the number of connections (at least 1).
    ///   - logger: receives one line per reachability change.
    public init(configuration: RedisConfiguration, size: Int = 4, logger: Logger = Logger(label: "breakwater.redis")) {
        self.configuration = configuration
        let scripts = ScriptCache()
        let reachability = ReachabilityTracker(target: configuration.target, logger: logger)
        self.reachability = reachability
        let sentinel = SentinelMonitor.make(for: configuration, logger: logger)
        self.sentinel = sentinel
        self.connections = (0..<max(1, size)).map { index in
            RedisConnection(
                configuration: configuration,
                label: "breakwater.redis.\(index)",
                logger: logger,
                scripts: scripts,
                sentinel: sentinel,
                onLinkChange: { up, error in reachability.update(up, error: error) }
            )
        }
    }

    /// Whether the last connection attempt or command reached Redis (`nil` before the first).
    public var isReachable: Bool? { reachability.current }

    /// Registers a callback for reachability changes (called from a connection's queue).
    public func onReachabilityChange(_ observer: @escaping @Sendable (Bool) -> Void) {
        reachability.observe(observer)
    }

    /// The least-loaded connection, for callers that want to pin several calls to one.
    public func connection() -> RedisConnection {
        var best = connections[0]
        var bestLoad = best.load
        for candidate in connections.dropFirst() where bestLoad > 0 {
            let load = candidate.load
            if load < bestLoad {
                best = candidate
                bestLoad = load
            }
        }
        return best
    }

    /// Sends a command. See ``RedisConnection/execute(_:)``.
    public func execute(_ command: RedisCommand) async throws -> RedisValue {
        try await connection().execute(command)
    }

    /// Sends a command built from a name and arguments. See ``RedisConnection/execute(_:)``.
    public func execute(_ name: String, _ arguments: any RedisArgumentConvertible...) async throws -> RedisValue {
        try await connection().execute(RedisCommand(name, arguments))
    }

    /// Pipelines commands on one connection. See ``RedisConnection/pipeline(_:)``.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RedisValue, RedisError>] {
        try await connection().pipeline(commands)
    }

    /// Runs a script by EVALSHA with automatic load. See ``RedisConnection/evaluate(_:keys:arguments:)``.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [any RedisArgumentConvertible]) async throws -> RedisValue {
        try await connection().evaluate(script, keys: keys, arguments: arguments)
    }

    /// Runs an optimistic WATCH/MULTI/EXEC transaction. See ``RedisConnection/transaction(watching:reads:build:)``.
    public func transaction(
        watching keys: [String],
        reads: [RedisCommand],
        build: @escaping @Sendable ([RedisValue]) -> [RedisCommand]?
    ) async throws -> TransactionOutcome {
        try await connection().transaction(watching: keys, reads: reads, build: build)
    }

    /// Closes every connection (and stops the Sentinel watcher).
    public func shutdown() async {
        sentinel?.stop()
        for connection in connections { await connection.shutdown() }
    }

    deinit {
        sentinel?.stop()
    }
}

/// Tracks whether Redis is reachable for a whole pool and logs and notifies what
/// ``RedisReachability`` decides: once per change and, while unreachable, once per cause not
/// yet logged in this outage.
final class ReachabilityTracker: Sendable {
    private let state = Mutex(RedisReachability())
    private let observers = Mutex<[@Sendable (Bool) -> Void]>([])
    private let endpoint: String
    private let logger: Logger

    init(target: String, logger: Logger) {
        self.endpoint = target
        self.logger = logger
    }

    var current: Bool? { state.withLock { $0.up } }

    func observe(_ observer: @escaping @Sendable (Bool) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func update(_ up: Bool, error: RedisError?) {
        let cause = error?.cause ?? "unknown"
        let outcome = state.withLock { $0.update(up: up, cause: cause) }
        if outcome.log {
            if up {
                logger.info("redis reachable", metadata: ["endpoint": "\(endpoint)"])
            } else {
                logger.warning("redis unreachable", metadata: ["endpoint": "\(endpoint)", "cause": "\(cause)", "error": "\(error.map(\.message) ?? "unknown")"])
            }
        }
        guard outcome.changed else { return }
        for observer in observers.withLock({ $0 }) { observer(up) }
    }
}
