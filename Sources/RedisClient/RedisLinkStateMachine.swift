import SafeNumbers

/// The reconnect logic of one Redis link, as a value: no I/O, no clock reads, no locks.
///
/// Three drivers own a link and perform what this machine decides: ``RedisConnection``
/// (lazy: connects when a command needs the link, fails fast while backing off),
/// ``RedisSubscriber`` (eager: reconnects on its own, renews every subscription, keeps the link
/// alive with `PING`) and the Sentinel `+switch-master` watcher (eager, like a subscriber to
/// one channel, rotating through the sentinels). Each driver feeds in what happened
/// (``connectSucceeded(now:)``, ``connectFailed(_:now:)``, ``received(now:)``,
/// ``dropped(_:now:)``, …) and what time it is, and performs the returned ``Action``s in order.
///
/// The Sentinel *epoch* (it advances when the master may have moved: `+switch-master`, a
/// `READONLY` reply, a sentinel naming another master) is passed in like the time: a link
/// opened in an older epoch is closed and the master resolved again at once, skipping any
/// remaining backoff.
///
/// Backoff after `n` failed rounds (a round is one attempt, or for the watcher one attempt per
/// sentinel): `min(min(initial × 2^(n−1), maximum) × roundFactor, roundCap)`.
struct RedisLinkStateMachine: Sendable {
    /// How a link reconnects and keeps itself alive.
    struct Policy: Sendable, Hashable {
        /// The first reconnect delay after a failed round.
        var initialDelay: Duration
        /// The cap on the doubled delay.
        var maximumDelay: Duration
        /// How many endpoints are tried in turn before a round counts as failed (the
        /// sentinels, for the watcher); 1 for a link to one address.
        var endpoints: Int = 1
        /// Multiplies the round's delay (the watcher backs off 4× longer than data links).
        var roundFactor: Int = 1
        /// An extra cap on the multiplied delay (`nil`: none).
        var roundCap: Duration?
        /// Where connecting goes: the master resolved through the sentinels, or ``endpoints``
        /// addresses taken in turn.
        var resolvesMaster: Bool = false
        /// Whether, after a reconnect, the driver must ask the new peer which master it names
        /// (the watcher: a failover may have happened while it was not subscribed).
        var verifiesMasterOnReconnect: Bool = false
        /// Idle time after which a `PING` is sent on an eager link; a second such interval
        /// without any reply drops it. `nil`: no keep-alive (each command has its own timeout).
        var keepAlive: Duration?
        /// The longest single wait for traffic, so a missed wake-up costs at most this.
        var pollInterval: Duration = .milliseconds(500)

        /// The policy of a command link or a subscriber for `configuration`.
        static func dataLink(_ configuration: RedisConfiguration, keepAlive: Duration? = nil) -> Policy {
            Policy(
                initialDelay: configuration.initialReconnectDelay,
                maximumDelay: configuration.maximumReconnectDelay,
                resolvesMaster: configuration.sentinel != nil,
                keepAlive: keepAlive
            )
        }

        /// The policy of the `+switch-master` watcher: every sentinel in turn, then a backoff
        /// four times the data links' (at most 2 s), keep-alive `PING` every 5 s.
        static func sentinelWatcher(_ configuration: RedisConfiguration, sentinels: Int) -> Policy {
            Policy(
                initialDelay: configuration.initialReconnectDelay,
                maximumDelay: configuration.maximumReconnectDelay,
                endpoints: max(1, sentinels),
                roundFactor: 4,
                roundCap: .seconds(2),
                verifiesMasterOnReconnect: true,
                keepAlive: .seconds(5)
            )
        }
    }

    /// Where a ``Action/connect(_:)`` goes.
    enum Target: Sendable, Hashable {
        /// Resolve the master through the sentinels and connect to it.
        case master
        /// The endpoint at this index (0 for a link to one configured address; the sentinel to
        /// try, for the watcher).
        case endpoint(Int)
    }

    /// What the driver reports (logs, events, reachability); it decides the wording.
    enum Report: Sendable, Hashable {
        /// The link is up; `reconnected` after an earlier link of this machine.
        case connected(reconnected: Bool)
        /// A connect attempt failed; `firstOfOutage` for the first failed round since the link
        /// was last up (a warning is logged once per outage).
        case connectFailed(RedisError, firstOfOutage: Bool)
        /// An established link broke (I/O error, timeout, missing `PONG`).
        case linkLost(RedisError)
        /// The link was closed because the master may have moved (the epoch advanced).
        case masterChanged
        /// The master refused a write (`READONLY`): the driver makes every link resolve again.
        case masterRefusedWrite
    }

    /// What the driver must do, in order.
    enum Action: Sendable, Hashable {
        /// Open a link (resolving the master first for ``Target/master``), then call
        /// ``connectSucceeded(now:)`` or ``connectFailed(_:now:)``.
        case connect(Target)
        /// Back off: wait this long (or until woken by a close or a master change), then ask
        /// for the next step.
        case waitFor(Duration)
        /// Ask the newly connected sentinel which master it names; tell the monitor if it is not
        /// the one last resolved. A failure is a ``connectFailed(_:now:)``.
        case verifyMaster
        /// Renew these subscriptions on the new link, then call ``resubscribed(now:)``; a failure
        /// is a ``connectFailed(_:now:)``.
        case resubscribe(channels: [String], patterns: [String])
        /// The link is up and current: run the command on it (lazy links).
        case useLink
        /// Refuse the caller's command with this error (lazy links: closed, or backing off).
        case fail(RedisError)
        /// Send a keep-alive `PING`.
        case ping
        /// Send what is queued, read what arrived (call ``received(now:)`` per reply) and wait at
        /// most this long for more.
        case awaitTraffic(Duration)
        /// Close (discard) the current link.
        case closeConnection
        /// Tell the outside world; see ``Report``.
        case report(Report)
        /// The machine is closed: end the driver's loop.
        case finish
    }

    /// Where the link is.
    enum Phase: Sendable, Hashable {
        /// No link; the next step connects.
        case idle
        /// A connect attempt is under way (opened in `epoch`).
        case connecting(epoch: Int)
        /// Connected; the driver is verifying the master and renewing subscriptions.
        case establishing(epoch: Int)
        /// Up. `lastTraffic` is the last reply (or the `PING` sent); `pingOutstanding` while a
        /// keep-alive `PING` is unanswered.
        case connected(epoch: Int, lastTraffic: ContinuousClock.Instant, pingOutstanding: Bool)
        /// Waiting until `until` before the next attempt; `lastError` is the last attempt's.
        case backingOff(epoch: Int, until: ContinuousClock.Instant, lastError: RedisError)
        /// Closed for good.
        case closed
    }

    /// The reconnect and keep-alive policy.
    let policy: Policy
    /// What the link is to, for messages.
    let peer: String
    /// Where the link is.
    private(set) var phase: Phase = .idle
    /// Failed attempts since the link was last up (0 while it is up).
    private(set) var failures = 0
    /// Whether a link was ever up (a later one is a reconnect).
    private(set) var everConnected = false
    /// The endpoint the next attempt goes to (rotates after every failure and drop).
    private(set) var endpointIndex = 0
    /// The channels renewed after every reconnect.
    private(set) var channels: Set<String> = []
    /// The patterns renewed after every reconnect.
    private(set) var patterns: Set<String> = []

    /// Creates a machine with no link.
    ///
    /// - Parameters:
    ///   - policy: how to reconnect and keep alive.
    ///   - peer: what the link is to, for messages (e.g. `127.0.0.1:6379`).
    ///   - channels: channels subscribed on every link from the start.
    init(policy: Policy, peer: String, channels: Set<String> = []) {
        self.policy = policy
        self.peer = peer
        self.channels = channels
    }

    /// Whether a link is open (being established or up).
    var hasLink: Bool {
        switch phase {
        case .establishing, .connected: true
        default: false
        }
    }

    /// The delay after `rounds` failed rounds (0 for none).
    static func backoff(rounds: Int, policy: Policy) -> Duration {
        guard rounds > 0 else { return .zero }
        let doubled = min(policy.initialDelay * (1 << min(rounds - 1, 20)), policy.maximumDelay)
        let multiplied = doubled * max(1, policy.roundFactor)
        return policy.roundCap.map { min(multiplied, $0) } ?? multiplied
    }

    // MARK: - Subscriptions

    /// Adds channels renewed after every reconnect.
    mutating func subscribe(channels added: some Sequence<String>) { channels.formUnion(added) }

    /// Adds patterns renewed after every reconnect.
    mutating func subscribe(patterns added: some Sequence<String>) { patterns.formUnion(added) }

    /// Removes channels.
    mutating func unsubscribe(channels removed: some Sequence<String>) { channels.subtract(removed) }

    // MARK: - Steps

    /// The next step of an eager link (subscriber, watcher): connect, back off, keep alive, or
    /// wait for traffic.
    ///
    /// - Parameters:
    ///   - now: the current time.
    ///   - epoch: the Sentinel epoch (0 without Sentinel).
    mutating func nextStep(now: ContinuousClock.Instant, epoch: Int) -> [Action] {
        var actions = followEpoch(epoch)
        switch phase {
        case .closed:
            actions.append(.finish)
        case .idle:
            actions.append(startConnecting(epoch: epoch))
        case .backingOff(_, let until, _):
            if now < until {
                actions.append(.waitFor(until - now))
            } else {
                actions.append(startConnecting(epoch: epoch))
            }
        case .connecting, .establishing:
            // The driver is mid-attempt; it reports the outcome before asking again.
            break
        case .connected(let linkEpoch, let lastTraffic, let pingOutstanding):
            guard let keepAlive = policy.keepAlive else {
                actions.append(.awaitTraffic(policy.pollInterval))
                break
            }
            let idle = now - lastTraffic
            if idle < keepAlive {
                actions.append(.awaitTraffic(min(policy.pollInterval, keepAlive - idle)))
            } else if pingOutstanding {
                let error = RedisError(.timeout, "no PONG from \(peer) within \(keepAlive.millisecondsClamped / 1000) s")
                actions.append(contentsOf: dropped(error, now: now))
            } else {
                phase = .connected(epoch: linkEpoch, lastTraffic: now, pingOutstanding: true)
                actions.append(.ping)
            }
        }
        return actions
    }

    /// What a lazy link (a command connection) does for a command: use the link, connect, or
    /// refuse while closed or backing off.
    ///
    /// - Parameters:
    ///   - now: the current time.
    ///   - epoch: the Sentinel epoch (0 without Sentinel).
    mutating func linkNeeded(now: ContinuousClock.Instant, epoch: Int) -> [Action] {
        var actions = followEpoch(epoch)
        switch phase {
        case .closed:
            actions.append(.fail(RedisError(.closed, "the connection was shut down")))
        case .idle:
            actions.append(startConnecting(epoch: epoch))
        case .backingOff(_, let until, let lastError):
            if now < until {
                let wait = until - now
                actions.append(.fail(RedisError(.unavailable, "redis at \(peer) is unreachable; next reconnect in \(wait.millisecondsClamped) ms (last error: \(lastError.message))")))
            } else {
                actions.append(startConnecting(epoch: epoch))
            }
        case .connecting, .establishing:
            actions.append(.fail(RedisError(.unavailable, "redis at \(peer): a connect attempt is under way")))
        case .connected:
            actions.append(.useLink)
        }
        return actions
    }

    /// A link opened in an older epoch is closed; a backoff begun in one is skipped.
    private mutating func followEpoch(_ epoch: Int) -> [Action] {
        switch phase {
        case .connected(let linkEpoch, _, _) where linkEpoch != epoch, .establishing(let linkEpoch) where linkEpoch != epoch:
            phase = .idle
            return [.closeConnection, .report(.masterChanged)]
        case .backingOff(let attemptEpoch, _, _) where attemptEpoch != epoch:
            phase = .idle
            return []
        default:
            return []
        }
    }

    private mutating func startConnecting(epoch: Int) -> Action {
        phase = .connecting(epoch: epoch)
        return .connect(policy.resolvesMaster ? .master : .endpoint(endpointIndex % max(1, policy.endpoints)))
    }

    // MARK: - Events

    /// The link is open (and authenticated). A closed machine discards it.
    mutating func connectSucceeded(now: ContinuousClock.Instant) -> [Action] {
        guard case .connecting(let epoch) = phase else {
            return phase == .closed ? [.closeConnection, .finish] : []
        }
        var actions: [Action] = []
        if policy.verifiesMasterOnReconnect, everConnected { actions.append(.verifyMaster) }
        if !channels.isEmpty || !patterns.isEmpty {
            actions.append(.resubscribe(channels: channels.sorted(), patterns: patterns.sorted()))
        }
        guard actions.isEmpty else {
            phase = .establishing(epoch: epoch)
            return actions
        }
        return becameUp(epoch: epoch, now: now)
    }

    /// Verification and resubscription are done (sent); the link is up.
    mutating func resubscribed(now: ContinuousClock.Instant) -> [Action] {
        guard case .establishing(let epoch) = phase else {
            return phase == .closed ? [.closeConnection, .finish] : []
        }
        return becameUp(epoch: epoch, now: now)
    }

    private mutating func becameUp(epoch: Int, now: ContinuousClock.Instant) -> [Action] {
        let reconnected = everConnected
        phase = .connected(epoch: epoch, lastTraffic: now, pingOutstanding: false)
        failures = 0
        everConnected = true
        return [.report(.connected(reconnected: reconnected))]
    }

    /// A connect attempt (or the verification / resubscription after it) failed.
    mutating func connectFailed(_ error: RedisError, now: ContinuousClock.Instant) -> [Action] {
        let epoch: Int
        var actions: [Action] = []
        switch phase {
        case .connecting(let attemptEpoch):
            epoch = attemptEpoch
        case .establishing(let attemptEpoch):
            epoch = attemptEpoch
            actions.append(.closeConnection)
        case .closed:
            return [.finish]
        default:
            return []
        }
        failures += 1
        endpointIndex += 1
        let endpoints = max(1, policy.endpoints)
        actions.append(.report(.connectFailed(error, firstOfOutage: failures == endpoints)))
        if failures % endpoints == 0 {
            let delay = Self.backoff(rounds: failures / endpoints, policy: policy)
            phase = .backingOff(epoch: epoch, until: now + delay, lastError: error)
        } else {
            // The next endpoint is tried at once; the round's backoff comes after the last.
            phase = .idle
        }
        return actions
    }

    /// A reply (any: a message, a confirmation, a `PONG`) arrived on the link.
    mutating func received(now: ContinuousClock.Instant) {
        guard case .connected(let epoch, _, _) = phase else { return }
        phase = .connected(epoch: epoch, lastTraffic: now, pingOutstanding: false)
    }

    /// The established link broke. The next step reconnects at once (to the next endpoint,
    /// for the watcher); the backoff applies only if that attempt fails.
    mutating func dropped(_ error: RedisError, now: ContinuousClock.Instant) -> [Action] {
        switch phase {
        case .connected, .establishing:
            phase = .idle
            endpointIndex += 1
            return [.closeConnection, .report(.linkLost(error))]
        default:
            return []
        }
    }

    /// The master refused a write (`READONLY`): the link no longer reaches the master. It is
    /// closed; the driver advances the epoch so every link resolves again.
    mutating func masterRefusedWrite() -> [Action] {
        guard hasLink else { return [] }
        phase = .idle
        return [.closeConnection, .report(.masterRefusedWrite)]
    }

    /// Close for good, from any phase: an open link is closed, an attempt under way is
    /// discarded when it reports back, a backoff ends.
    mutating func closeRequested() -> [Action] {
        let hadLink = hasLink
        phase = .closed
        return hadLink ? [.closeConnection, .finish] : [.finish]
    }
}

/// Whether Redis is reachable, as seen by every link of a pool: a value that decides what to
/// log and notify (``ReachabilityTracker`` holds it behind a lock).
///
/// Logs once per change to reachable and, while unreachable, once per cause not yet logged in
/// this outage (refused, then a TLS name mismatch: two lines, however often reconnects
/// alternate between them); notifies observers once per change.
struct RedisReachability: Sendable, Hashable {
    /// What an update means for the outside world.
    struct Outcome: Sendable, Hashable {
        /// Reachability changed: observers are notified.
        var changed: Bool
        /// A line is logged ("reachable" after a change up; "unreachable" for a new cause).
        var log: Bool
    }

    /// The last state seen (`nil` before the first).
    private(set) var up: Bool?
    /// The causes logged since Redis was last reachable.
    private(set) var loggedCauses: Set<String> = []

    /// Records a link going up or a failure with `cause` (``RedisError/cause``).
    mutating func update(up: Bool, cause: String) -> Outcome {
        let changed = self.up != up
        self.up = up
        if up {
            loggedCauses.removeAll()
            return Outcome(changed: changed, log: changed)
        }
        return Outcome(changed: changed, log: loggedCauses.insert(cause).inserted)
    }
}
