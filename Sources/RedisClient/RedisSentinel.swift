import Foundation
import Logging
import Synchronization

/// Finds the master through Redis Sentinel and watches for failovers (docs/operations.md).
///
/// One monitor serves a ``RedisConnectionPool`` (all its connections), a standalone
/// ``RedisConnection`` or a ``RedisSubscriber``. It does two things:
///
/// - **Resolution** (``connectToMaster()``, blocking, called on a connection's queue or the
///   subscriber's thread): asks the sentinels in turn — starting with the one that answered
///   last — for `SENTINEL get-master-addr-by-name`, connects to that address, authenticates,
///   checks `ROLE` is `master`, then selects the database. A sentinel that is down, does not
///   know the master, or names a node that is not a master, is skipped; when none works the
///   call throws `connectionFailed` and the caller's reconnect backoff applies.
/// - **Invalidation**: an *epoch* counter. Connections remember the epoch their link was
///   opened in and drop the link when it has changed, so their next call resolves again.
///   The epoch advances on a `+switch-master` message for our master (a background thread
///   subscribed to one sentinel at a time), when that thread reconnects to a sentinel that
///   names another master than the one last resolved, and on a `READONLY` reply.
///
/// Sendable: all mutable state is behind a `Mutex`; the watcher thread owns its own link.
final class SentinelMonitor: Sendable {
    private struct State {
        var epoch = 0
        var listeners: [@Sendable () -> Void] = []
        var closed = false
        var preferred = 0
        var master: RedisConfiguration.Endpoint?
        var forcedNext: RedisConfiguration.Endpoint?
        var switchMessages = 0
        var readOnlyReplies = 0
        var warnedNoRole = false
    }

    let configuration: RedisConfiguration
    let settings: RedisConfiguration.Sentinel
    private let state = Mutex(State())
    private let wake: WakePipe?
    private let logger: Logger

    /// Creates a monitor and starts its `+switch-master` watcher thread.
    init(configuration: RedisConfiguration, settings: RedisConfiguration.Sentinel, logger: Logger) {
        self.configuration = configuration
        self.settings = settings
        self.logger = logger
        let wake = try? WakePipe()
        self.wake = wake
        if let wake {
            let thread = Thread { [self] in self.watchLoop(wake: wake) }
            thread.name = "breakwater.redis.sentinel"
            thread.start()
        } else {
            logger.warning("redis sentinel: cannot create a wake pipe; +switch-master is not watched (broken connections and READONLY still re-resolve)")
        }
    }

    /// Makes ``RedisConfiguration/sentinel`` a monitor, or `nil` for a plain URL.
    static func make(for configuration: RedisConfiguration, logger: Logger) -> SentinelMonitor? {
        guard let settings = configuration.sentinel else { return nil }
        return SentinelMonitor(configuration: configuration, settings: settings, logger: logger)
    }

    /// The current epoch; a link opened in an older one must be dropped.
    var epoch: Int { state.withLock { $0.epoch } }

    /// The master address last resolved, if any.
    var currentMaster: RedisConfiguration.Endpoint? { state.withLock { $0.master } }

    /// How many `+switch-master` messages for our master the watcher has seen.
    var switchMessages: Int { state.withLock { $0.switchMessages } }

    /// How many `READONLY` replies made the client resolve again.
    var readOnlyReplies: Int { state.withLock { $0.readOnlyReplies } }

    /// Test hook: the next resolution connects to `endpoint` without asking the sentinels or
    /// checking `ROLE` (e.g. a replica, to provoke `READONLY`); open links are dropped first.
    func forceNextResolution(to endpoint: RedisConfiguration.Endpoint) {
        state.withLock { $0.forcedNext = endpoint }
        invalidate("test hook: next resolution forced to \(endpoint)")
    }

    /// Registers a callback run (on the invalidating thread) whenever the epoch advances.
    func onInvalidate(_ listener: @escaping @Sendable () -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// Advances the epoch: every link opened before is dropped at its next use.
    func invalidate(_ reason: String) {
        let (listeners, epoch) = state.withLock { state in
            state.epoch += 1
            return (state.listeners, state.epoch)
        }
        logger.info("redis master will be resolved again", metadata: ["master": "\(settings.masterName)", "reason": "\(reason)", "epoch": "\(epoch)"])
        for listener in listeners { listener() }
    }

    /// A `READONLY` reply on a link to `endpoint`: the node is no longer the master.
    func noteReadOnly(from endpoint: RedisConfiguration.Endpoint?) {
        state.withLock { $0.readOnlyReplies += 1 }
        invalidate("READONLY reply from \(endpoint.map(\.description) ?? "the master")")
    }

    /// Stops the watcher thread (idempotent).
    func stop() {
        let wasClosed = state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        if !wasClosed { wake?.wake() }
    }

    deinit { stop() }

    // MARK: - Resolution

    /// Resolves the master and opens an authenticated link to it (blocking).
    ///
    /// - Returns: the link and the master's address.
    /// - Throws: `connectionFailed` naming what every sentinel said; `authenticationFailed`
    ///   or `databaseSelectionFailed` if the master itself refused us.
    func connectToMaster() throws(RedisError) -> (link: HiredisConnection, endpoint: RedisConfiguration.Endpoint) {
        if let forced = state.withLock({ state -> RedisConfiguration.Endpoint? in
            defer { state.forcedNext = nil }
            return state.forcedNext
        }) {
            return (try RedisConnection.open(configuration, at: forced, verify: nil), forced)
        }
        let count = settings.sentinels.count
        let start = state.withLock { $0.preferred }
        var problems: [String] = []
        var refusal: RedisError.Code?
        var tlsFailures: [TLSFailure] = []
        for offset in 0..<count {
            let index = (start + offset) % count
            let sentinel = settings.sentinels[index]
            let address: RedisConfiguration.Endpoint
            do {
                let link = try connectToSentinel(sentinel)
                address = try queryMaster(on: link, sentinel: sentinel)
            } catch {
                problems.append("sentinel \(sentinel): \(error.message)")
                if let cause = error.tlsFailure { tlsFailures.append(cause) }
                continue
            }
            do {
                let link = try RedisConnection.open(configuration, at: address) { (link) throws(RedisError) in
                    try self.verifyRole(link, at: address)
                }
                let previous = state.withLock { state -> RedisConfiguration.Endpoint? in
                    defer {
                        state.preferred = index
                        state.master = address
                    }
                    return state.master
                }
                if previous != address {
                    logger.info("redis master resolved", metadata: ["master": "\(settings.masterName)", "address": "\(address)", "sentinel": "\(sentinel)"])
                }
                return (link, address)
            } catch {
                if error.code == .authenticationFailed || error.code == .databaseSelectionFailed { refusal = error.code }
                if let cause = error.tlsFailure { tlsFailures.append(cause) }
                problems.append("master \(address) named by sentinel \(sentinel): \(error.message)")
            }
        }
        let message = "cannot resolve master \"\(settings.masterName)\" through \(count) sentinel(s): \(problems.joined(separator: "; "))"
        // A TLS problem every answer shared is the cause an operator must see.
        if refusal == nil, let cause = tlsFailures.first, tlsFailures.count == problems.count, tlsFailures.allSatisfy({ $0 == cause }) {
            throw RedisError(.tls, message, tlsFailure: cause)
        }
        throw RedisError(refusal ?? .connectionFailed, message)
    }

    /// Opens an authenticated link to one sentinel with the short sentinel timeout.
    private func connectToSentinel(_ sentinel: RedisConfiguration.Endpoint) throws(RedisError) -> HiredisConnection {
        let link = try HiredisConnection.connect(
            to: sentinel,
            connectTimeout: settings.connectTimeout,
            commandTimeout: min(configuration.commandTimeout, .seconds(1)),
            tls: configuration.tls
        )
        if let password = settings.password {
            let auth = settings.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            if case .error(let text) = try link.execute(auth) {
                throw RedisError(.authenticationFailed, "AUTH refused by the sentinel (check REDIS_SENTINEL_PASSWORD): \(text)")
            }
        }
        return link
    }

    /// `SENTINEL get-master-addr-by-name`, parsed.
    private func queryMaster(on link: HiredisConnection, sentinel: RedisConfiguration.Endpoint) throws(RedisError) -> RedisConfiguration.Endpoint {
        let reply = try link.execute(RedisCommand("SENTINEL", "get-master-addr-by-name", settings.masterName))
        switch reply {
        case .array(let parts) where parts.count == 2:
            guard let host = parts[0].string, !host.isEmpty, host.utf8.count <= 255, let portText = parts[1].string,
                  let port = Int(portText), (1...65535).contains(port) else {
                throw RedisError(.protocolError, "unexpected reply \(String(describing: reply).prefix(200)) (want a host and a port 1-65535)")
            }
            return .tcp(host: host, port: port)
        case .null, .array([]):
            throw RedisError(.connectionFailed, "does not monitor a master named \"\(settings.masterName)\"")
        case .error(let text) where text.hasPrefix("NOAUTH"):
            throw RedisError(.authenticationFailed, "\(text) (the sentinel needs a password: set REDIS_SENTINEL_PASSWORD)")
        case .error(let text):
            throw RedisError(.server, text)
        default:
            throw RedisError(.protocolError, "unexpected reply \(reply)")
        }
    }

    /// Checks `ROLE` says `master`. An ACL without `+role` (NOPERM) is accepted with a warning:
    /// the `READONLY` check still catches a replica at the first write.
    func verifyRole(_ link: HiredisConnection, at address: RedisConfiguration.Endpoint) throws(RedisError) {
        let reply = try link.execute(RedisCommand("ROLE"))
        switch reply {
        case .array(let parts):
            guard let role = parts.first?.string else { throw RedisError(.protocolError, "ROLE returned \(reply)") }
            guard role == "master" else {
                throw RedisError(.connectionFailed, "reports ROLE \(role), not master (the sentinel's view is stale or a failover is under way)")
            }
        case .error(let text) where text.hasPrefix("NOPERM"):
            let first = state.withLock { state -> Bool in
                defer { state.warnedNoRole = true }
                return !state.warnedNoRole
            }
            if first {
                logger.warning("redis user may not run ROLE; the master named by the sentinels is not verified (grant +role to check it)", metadata: ["address": "\(address)"])
            }
        case .error(let text):
            throw RedisError(.server, "ROLE: \(text)")
        default:
            throw RedisError(.protocolError, "ROLE returned \(reply)")
        }
    }

    // MARK: - The +switch-master watcher

    private var isClosed: Bool { state.withLock { $0.closed } }

    /// Subscribes to `+switch-master` on one sentinel at a time; the reconnect decisions
    /// (next sentinel after a failure or a drop, backoff after a full round, keep-alive) are
    /// ``RedisLinkStateMachine``'s.
    private func watchLoop(wake: WakePipe) {
        var machine = RedisLinkStateMachine(
            policy: .sentinelWatcher(configuration, sentinels: settings.sentinels.count),
            peer: "the sentinel",
            channels: ["+switch-master"]
        )
        var link: HiredisConnection?
        var sentinelIndex = 0
        while true {
            if isClosed, machine.phase != .closed { _ = machine.closeRequested() }
            var pending = machine.nextStep(now: .now, epoch: 0)
            while !pending.isEmpty {
                let action = pending.removeFirst()
                switch action {
                case .finish:
                    return
                case .connect(let target):
                    if case .endpoint(let index) = target { sentinelIndex = index }
                    do throws(RedisError) {
                        link = try connectToSentinel(settings.sentinels[sentinelIndex])
                        pending = machine.connectSucceeded(now: .now) + pending
                    } catch {
                        pending = machine.connectFailed(error, now: .now)
                    }
                case .verifyMaster:
                    // A switch may have happened while we were not subscribed.
                    let sentinel = settings.sentinels[sentinelIndex]
                    do throws(RedisError) {
                        guard let current = link else { throw RedisError(.connectionLost, "no link to sentinel \(sentinel)") }
                        if let known = currentMaster {
                            let named = try queryMaster(on: current, sentinel: sentinel)
                            if named != known { invalidate("sentinel \(sentinel) names \(named), not \(known)") }
                        }
                    } catch {
                        pending = machine.connectFailed(error, now: .now)
                    }
                case .resubscribe(let channels, _):
                    do throws(RedisError) {
                        guard let current = link else { throw RedisError(.connectionLost, "no link to the sentinel") }
                        try current.append(RedisCommand("SUBSCRIBE", channels))
                        try current.flush()
                        pending = machine.resubscribed(now: .now) + pending
                    } catch {
                        pending = machine.connectFailed(error, now: .now)
                    }
                case .waitFor(let delay):
                    if waitReadable(nil, wake: wake, timeout: delay).woken { wake.drain() }
                case .ping:
                    do throws(RedisError) {
                        try link?.append(RedisCommand("PING"))
                        try link?.flush()
                    } catch {
                        pending = machine.dropped(error, now: .now)
                    }
                case .awaitTraffic(let timeout):
                    guard let current = link else { break }
                    do throws(RedisError) {
                        while let reply = try current.bufferedReply() {
                            machine.received(now: .now)
                            handle(reply, from: sentinelIndex)
                        }
                        let readiness = waitReadable(current, wake: wake, timeout: timeout)
                        if readiness.woken { wake.drain() }
                        if readiness.socketReadable { try current.readAvailable() }
                    } catch {
                        pending = machine.dropped(error, now: .now)
                    }
                case .closeConnection:
                    link = nil
                case .report(.connected):
                    logger.debug("redis sentinel watcher subscribed", metadata: ["sentinel": "\(settings.sentinels[sentinelIndex])"])
                case .report(.connectFailed(let error, let firstOfOutage)):
                    if firstOfOutage {
                        logger.warning("redis sentinel watcher cannot reach any sentinel", metadata: ["error": "\(error)"])
                    }
                case .report(.linkLost(let error)):
                    logger.info("redis sentinel watcher lost its sentinel; trying the next", metadata: ["error": "\(error)"])
                case .report(.masterChanged), .report(.masterRefusedWrite), .useLink, .fail:
                    break // not produced for the watcher (its links follow no epoch)
                }
            }
        }
    }

    /// A `+switch-master` for our master: the announcing sentinel knows the new master, so it
    /// is asked first (another sentinel may still name the old master for a moment, and the
    /// old master still answers `ROLE master` until Sentinel demotes it).
    private func handle(_ reply: RedisValue, from sentinelIndex: Int) {
        guard case .array(let parts) = reply, parts.count == 3, parts[0].string?.lowercased() == "message",
              parts[1].string == "+switch-master", let payload = parts[2].string else { return }
        // "<master name> <old ip> <old port> <new ip> <new port>"
        let fields = payload.split(separator: " ")
        guard fields.count == 5, fields[0] == settings.masterName else { return }
        state.withLock { state in
            state.switchMessages += 1
            state.preferred = sentinelIndex
        }
        invalidate("+switch-master to \(fields[3]):\(fields[4])")
    }
}
