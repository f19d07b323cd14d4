@testable import RedisClient
import Testing

/// The link state machine on its own: no server, no clock (time is an argument).
@Suite("Redis link state machine")
struct LinkStateMachineTests {
    typealias Machine = RedisLinkStateMachine
    typealias Action = RedisLinkStateMachine.Action

    private static let start = ContinuousClock.now
    private static let refused = RedisError(.connectionFailed, "connection refused")

    private static func at(_ milliseconds: Int) -> ContinuousClock.Instant {
        start + .milliseconds(milliseconds)
    }

    private static func policy(keepAlive: Duration? = nil, sentinel: Bool = false) -> Machine.Policy {
        Machine.Policy(initialDelay: .milliseconds(50), maximumDelay: .seconds(5), resolvesMaster: sentinel, keepAlive: keepAlive)
    }

    /// A subscriber-like machine that is up (connected at `at(0)`, epoch 0).
    private static func connectedSubscriber(channels: Set<String> = ["a"]) -> Machine {
        var machine = Machine(policy: policy(keepAlive: .seconds(5)), peer: "127.0.0.1:6379", channels: channels)
        _ = machine.nextStep(now: at(0), epoch: 0)
        _ = machine.connectSucceeded(now: at(0))
        _ = machine.resubscribed(now: at(0))
        return machine
    }

    // MARK: - Backoff

    @Test("backoff doubles from the initial delay per failed round and stops at the cap", arguments: [
        (1, 50), (2, 100), (3, 200), (4, 400), (7, 3200), (8, 5000), (9, 5000), (60, 5000),
    ])
    func backoffGrowth(rounds: Int, milliseconds: Int) {
        #expect(Machine.backoff(rounds: rounds, policy: Self.policy()) == .milliseconds(milliseconds))
    }

    @Test("no failure, no backoff")
    func noBackoffWithoutFailure() {
        #expect(Machine.backoff(rounds: 0, policy: Self.policy()) == .zero)
    }

    @Test("the watcher's backoff is four times the data links', at most 2 s", arguments: [(1, 200), (2, 400), (3, 800), (4, 1600), (5, 2000), (30, 2000)])
    func watcherBackoff(rounds: Int, milliseconds: Int) throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://127.0.0.1:1,127.0.0.1:2#m")
        #expect(Machine.backoff(rounds: rounds, policy: .sentinelWatcher(configuration, sentinels: 2)) == .milliseconds(milliseconds))
    }

    @Test("each failed attempt waits longer; the wait is what remains of the backoff")
    func failedAttemptsBackOff() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p")
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectFailed(Self.refused, now: Self.at(0)) == [.report(.connectFailed(Self.refused, firstOfOutage: true))])
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.waitFor(.milliseconds(50))])
        // Woken early (e.g. by a request): only the rest of the backoff is waited.
        #expect(machine.nextStep(now: Self.at(30), epoch: 0) == [.waitFor(.milliseconds(20))])
        #expect(machine.nextStep(now: Self.at(50), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectFailed(Self.refused, now: Self.at(50)) == [.report(.connectFailed(Self.refused, firstOfOutage: false))])
        #expect(machine.nextStep(now: Self.at(50), epoch: 0) == [.waitFor(.milliseconds(100))])
        #expect(machine.failures == 2)
    }

    @Test("a success resets the backoff: the next outage starts from the initial delay again")
    func successResetsBackoff() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p")
        var now = 0
        for _ in 0..<5 {
            _ = machine.nextStep(now: Self.at(now), epoch: 0)
            _ = machine.connectFailed(Self.refused, now: Self.at(now))
            now += 10_000
        }
        _ = machine.nextStep(now: Self.at(now), epoch: 0)
        #expect(machine.connectSucceeded(now: Self.at(now)) == [.report(.connected(reconnected: false))])
        #expect(machine.failures == 0)
        let lost = RedisError(.connectionLost, "EOF")
        #expect(machine.dropped(lost, now: Self.at(now)) == [.closeConnection, .report(.linkLost(lost))])
        // A drop reconnects at once; only a failed attempt backs off, from the start.
        #expect(machine.nextStep(now: Self.at(now), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectFailed(Self.refused, now: Self.at(now)) == [.report(.connectFailed(Self.refused, firstOfOutage: true))])
        #expect(machine.nextStep(now: Self.at(now), epoch: 0) == [.waitFor(.milliseconds(50))])
    }

    // MARK: - Reporting once per outage

    @Test("a connect failure is reported as first of its outage once, until the link is up again")
    func firstFailurePerOutage() {
        var machine = Machine(policy: Self.policy(), peer: "p")
        var firsts: [Bool] = []
        for round in 0..<2 {
            for attempt in 0..<4 {
                let now = Self.at(round * 100_000 + attempt * 10_000)
                _ = machine.linkNeeded(now: now, epoch: 0)
                for case .report(.connectFailed(_, let first)) in machine.connectFailed(Self.refused, now: now) { firsts.append(first) }
            }
            let now = Self.at(round * 100_000 + 50_000)
            #expect(machine.linkNeeded(now: now, epoch: 0) == [.connect(.endpoint(0))])
            _ = machine.connectSucceeded(now: now)
            _ = machine.dropped(RedisError(.connectionLost, "EOF"), now: now)
        }
        #expect(firsts == [true, false, false, false, true, false, false, false])
    }

    @Test("the pool's reachability logs once per change and once per new cause within an outage")
    func reachabilityOncePerCause() {
        var reachability = RedisReachability()
        let refused = RedisError(.connectionFailed, "refused").cause
        let tls = RedisError(.tls, "unknown CA", tlsFailure: .unknownCA).cause
        #expect(tls == "TLS unknown CA")
        #expect(reachability.update(up: false, cause: refused) == .init(changed: true, log: true))
        #expect(reachability.update(up: false, cause: refused) == .init(changed: false, log: false))
        #expect(reachability.update(up: false, cause: tls) == .init(changed: false, log: true))
        #expect(reachability.update(up: false, cause: refused) == .init(changed: false, log: false))
        #expect(reachability.update(up: false, cause: tls) == .init(changed: false, log: false))
        #expect(reachability.update(up: true, cause: "unknown") == .init(changed: true, log: true))
        #expect(reachability.update(up: true, cause: "unknown") == .init(changed: false, log: false))
        // A new outage logs its causes again.
        #expect(reachability.update(up: false, cause: tls) == .init(changed: true, log: true))
        #expect(reachability.up == false)
    }

    // MARK: - Lazy links (command connections)

    @Test("a command link fails fast while backing off, naming the last error, and reconnects when it is due")
    func lazyLinkFailsFastWhileBackingOff() {
        var machine = Machine(policy: Self.policy(), peer: "redis 127.0.0.1:6379")
        #expect(machine.linkNeeded(now: Self.at(0), epoch: 0) == [.connect(.endpoint(0))])
        _ = machine.connectFailed(Self.refused, now: Self.at(0))
        let actions = machine.linkNeeded(now: Self.at(20), epoch: 0)
        guard case .fail(let error)? = actions.first else {
            Issue.record("expected a refusal, got \(actions)")
            return
        }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("next reconnect in 30 ms") && error.message.contains("connection refused"))
        #expect(machine.linkNeeded(now: Self.at(50), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectSucceeded(now: Self.at(50)) == [.report(.connected(reconnected: false))])
        #expect(machine.linkNeeded(now: Self.at(60), epoch: 0) == [.useLink])
    }

    @Test("a command link connects through the sentinels when configured so")
    func lazyLinkResolvesMaster() {
        var machine = Machine(policy: Self.policy(sentinel: true), peer: "p")
        #expect(machine.linkNeeded(now: Self.at(0), epoch: 0) == [.connect(.master)])
    }

    @Test("a shut-down command link refuses every command with code closed")
    func lazyLinkClosed() {
        var machine = Machine(policy: Self.policy(), peer: "p")
        _ = machine.linkNeeded(now: Self.at(0), epoch: 0)
        _ = machine.connectSucceeded(now: Self.at(0))
        #expect(machine.closeRequested() == [.closeConnection, .finish])
        #expect(machine.linkNeeded(now: Self.at(1), epoch: 0) == [.fail(RedisError(.closed, "the connection was shut down"))])
    }

    @Test("a link without an open connection is not dropped twice")
    func dropWithoutLinkIsNothing() {
        var machine = Machine(policy: Self.policy(), peer: "p")
        #expect(machine.dropped(RedisError(.connectionLost, "EOF"), now: Self.at(0)) == [])
        _ = machine.linkNeeded(now: Self.at(0), epoch: 0)
        _ = machine.connectFailed(Self.refused, now: Self.at(0))
        #expect(machine.dropped(RedisError(.connectionLost, "EOF"), now: Self.at(0)) == [])
        #expect(machine.masterRefusedWrite() == [])
    }

    // MARK: - Sentinel: following the master

    @Test("a new epoch (+switch-master) closes a link opened in the old one and resolves the master at once")
    func newEpochResolvesAgain() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5), sentinel: true), peer: "p", channels: ["a"])
        #expect(machine.nextStep(now: Self.at(0), epoch: 3) == [.connect(.master)])
        _ = machine.connectSucceeded(now: Self.at(0))
        _ = machine.resubscribed(now: Self.at(0))
        #expect(machine.nextStep(now: Self.at(10), epoch: 3) == [.awaitTraffic(.milliseconds(500))])
        #expect(machine.nextStep(now: Self.at(20), epoch: 4) == [.closeConnection, .report(.masterChanged), .connect(.master)])
        #expect(machine.connectSucceeded(now: Self.at(30)) == [.resubscribe(channels: ["a"], patterns: [])])
        #expect(machine.resubscribed(now: Self.at(30)) == [.report(.connected(reconnected: true))])
        #expect(machine.nextStep(now: Self.at(40), epoch: 4) == [.awaitTraffic(.milliseconds(500))])
    }

    @Test("a new epoch skips what remains of the backoff")
    func newEpochSkipsBackoff() {
        var machine = Machine(policy: Self.policy(sentinel: true), peer: "p")
        _ = machine.linkNeeded(now: Self.at(0), epoch: 1)
        _ = machine.connectFailed(Self.refused, now: Self.at(0))
        #expect(machine.linkNeeded(now: Self.at(10), epoch: 1).first.map { if case .fail = $0 { true } else { false } } == true)
        #expect(machine.linkNeeded(now: Self.at(10), epoch: 2) == [.connect(.master)])
    }

    @Test("a failed resolution re-resolves at the next attempt (after the backoff)")
    func failedResolutionResolvesAgain() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5), sentinel: true), peer: "p")
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.connect(.master)])
        _ = machine.connectFailed(Self.refused, now: Self.at(0))
        #expect(machine.nextStep(now: Self.at(50), epoch: 0) == [.connect(.master)])
    }

    @Test("READONLY closes the link; the driver's new epoch then resolves the master without backoff")
    func readOnlyResolvesAgain() {
        var machine = Machine(policy: Self.policy(sentinel: true), peer: "p")
        _ = machine.linkNeeded(now: Self.at(0), epoch: 0)
        _ = machine.connectSucceeded(now: Self.at(0))
        #expect(machine.masterRefusedWrite() == [.closeConnection, .report(.masterRefusedWrite)])
        #expect(machine.linkNeeded(now: Self.at(1), epoch: 1) == [.connect(.master)])
        #expect(machine.failures == 0)
    }

    @Test("the watcher tries every sentinel in turn, warns once after a full round, then backs off per round")
    func watcherRotation() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3#m")
        var machine = Machine(policy: .sentinelWatcher(configuration, sentinels: 3), peer: "the sentinel", channels: ["+switch-master"])
        var targets: [Machine.Target] = []
        var warnings = 0
        var waits: [Duration] = []
        var now = Self.at(0)
        for _ in 0..<8 {
            for action in machine.nextStep(now: now, epoch: 0) {
                if case .connect(let target) = action { targets.append(target) }
                if case .waitFor(let delay) = action {
                    waits.append(delay)
                    now = now + delay
                }
            }
            if case .backingOff = machine.phase { continue }
            for case .report(.connectFailed(_, true)) in machine.connectFailed(Self.refused, now: now) { warnings += 1 }
        }
        #expect(targets == [.endpoint(0), .endpoint(1), .endpoint(2), .endpoint(0), .endpoint(1), .endpoint(2)])
        #expect(warnings == 1)
        #expect(waits == [.milliseconds(200), .milliseconds(400)])
    }

    @Test("the watcher subscribes to +switch-master, and after a reconnect first asks which master the sentinel names")
    func watcherVerifiesAfterReconnect() throws {
        let configuration = try RedisConfiguration(url: "redis-sentinel://127.0.0.1:1,127.0.0.1:2#m")
        var machine = Machine(policy: .sentinelWatcher(configuration, sentinels: 2), peer: "the sentinel", channels: ["+switch-master"])
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectSucceeded(now: Self.at(0)) == [.resubscribe(channels: ["+switch-master"], patterns: [])])
        #expect(machine.resubscribed(now: Self.at(0)) == [.report(.connected(reconnected: false))])
        let lost = RedisError(.connectionLost, "EOF")
        #expect(machine.dropped(lost, now: Self.at(1)) == [.closeConnection, .report(.linkLost(lost))])
        // The next sentinel, at once; it is asked which master it names before subscribing.
        #expect(machine.nextStep(now: Self.at(1), epoch: 0) == [.connect(.endpoint(1))])
        #expect(machine.connectSucceeded(now: Self.at(2)) == [.verifyMaster, .resubscribe(channels: ["+switch-master"], patterns: [])])
        // That sentinel fails to answer: a failed attempt, the next sentinel is tried.
        #expect(machine.connectFailed(Self.refused, now: Self.at(3)) == [.closeConnection, .report(.connectFailed(Self.refused, firstOfOutage: false))])
        #expect(machine.nextStep(now: Self.at(3), epoch: 0) == [.connect(.endpoint(0))])
    }

    // MARK: - Subscriptions

    @Test("after a drop, the reconnected link renews exactly the channels and patterns subscribed now")
    func resubscribeSetAfterDrop() {
        var machine = Self.connectedSubscriber(channels: [])
        machine.subscribe(channels: ["b", "a", "c"])
        machine.subscribe(patterns: ["p*"])
        machine.unsubscribe(channels: ["c"])
        _ = machine.dropped(RedisError(.connectionLost, "EOF"), now: Self.at(10))
        #expect(machine.nextStep(now: Self.at(10), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.connectSucceeded(now: Self.at(10)) == [.resubscribe(channels: ["a", "b"], patterns: ["p*"])])
        #expect(machine.resubscribed(now: Self.at(10)) == [.report(.connected(reconnected: true))])
    }

    @Test("a subscriber with nothing subscribed is up as soon as it connects")
    func nothingToResubscribe() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p")
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        #expect(machine.connectSucceeded(now: Self.at(0)) == [.report(.connected(reconnected: false))])
    }

    @Test("a failed resubscription counts as a failed attempt: the link is closed and the backoff applies")
    func failedResubscription() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p", channels: ["a"])
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        _ = machine.connectSucceeded(now: Self.at(0))
        let lost = RedisError(.connectionLost, "EOF")
        #expect(machine.connectFailed(lost, now: Self.at(0)) == [.closeConnection, .report(.connectFailed(lost, firstOfOutage: true))])
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.waitFor(.milliseconds(50))])
    }

    // MARK: - Keep-alive

    @Test("5 s without traffic sends a PING; 5 s more without a reply drops the link with a timeout")
    func pingTimeoutDrops() throws {
        var machine = Self.connectedSubscriber()
        #expect(machine.nextStep(now: Self.at(4_800), epoch: 0) == [.awaitTraffic(.milliseconds(200))])
        #expect(machine.nextStep(now: Self.at(5_000), epoch: 0) == [.ping])
        #expect(machine.nextStep(now: Self.at(9_999), epoch: 0) == [.awaitTraffic(.milliseconds(1))])
        let actions = machine.nextStep(now: Self.at(10_000), epoch: 0)
        #expect(actions.count == 2)
        #expect(actions.first == .closeConnection)
        guard case .report(.linkLost(let error))? = actions.last else {
            Issue.record("expected a lost link, got \(actions)")
            return
        }
        #expect(error.code == .timeout)
        #expect(error.message == "no PONG from 127.0.0.1:6379 within 5 s")
        // The next step reconnects at once.
        #expect(machine.nextStep(now: Self.at(10_000), epoch: 0) == [.connect(.endpoint(0))])
    }

    @Test("a PONG (any reply) keeps the link: the idle clock restarts")
    func pongKeepsLink() {
        var machine = Self.connectedSubscriber()
        #expect(machine.nextStep(now: Self.at(5_000), epoch: 0) == [.ping])
        machine.received(now: Self.at(5_100))
        #expect(machine.nextStep(now: Self.at(10_000), epoch: 0) == [.awaitTraffic(.milliseconds(100))])
        #expect(machine.nextStep(now: Self.at(10_100), epoch: 0) == [.ping])
    }

    @Test("a command link has no keep-alive: it waits, never pings")
    func noKeepAliveWithoutPolicy() {
        var machine = Machine(policy: Self.policy(), peer: "p")
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        _ = machine.connectSucceeded(now: Self.at(0))
        #expect(machine.nextStep(now: Self.at(60_000), epoch: 0) == [.awaitTraffic(.milliseconds(500))])
    }

    // MARK: - Close

    @Test("close while connecting: the link the attempt opens is closed, and the loop ends")
    func closeWhileConnecting() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p", channels: ["a"])
        #expect(machine.nextStep(now: Self.at(0), epoch: 0) == [.connect(.endpoint(0))])
        #expect(machine.closeRequested() == [.finish])
        #expect(machine.connectSucceeded(now: Self.at(1)) == [.closeConnection, .finish])
        #expect(machine.nextStep(now: Self.at(2), epoch: 0) == [.finish])
    }

    @Test("close while a connect attempt fails: nothing is reported, the loop ends")
    func closeWhileConnectFails() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p")
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        _ = machine.closeRequested()
        #expect(machine.connectFailed(Self.refused, now: Self.at(1)) == [.finish])
    }

    @Test("close while resubscribing: the link is closed, the loop ends")
    func closeWhileEstablishing() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p", channels: ["a"])
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        _ = machine.connectSucceeded(now: Self.at(0))
        #expect(machine.closeRequested() == [.closeConnection, .finish])
        #expect(machine.resubscribed(now: Self.at(1)) == [.closeConnection, .finish])
    }

    @Test("close while backing off ends the wait: the next step finishes instead of reconnecting")
    func closeWhileBackingOff() {
        var machine = Machine(policy: Self.policy(keepAlive: .seconds(5)), peer: "p")
        _ = machine.nextStep(now: Self.at(0), epoch: 0)
        _ = machine.connectFailed(Self.refused, now: Self.at(0))
        #expect(machine.nextStep(now: Self.at(1), epoch: 0) == [.waitFor(.milliseconds(49))])
        #expect(machine.closeRequested() == [.finish])
        #expect(machine.nextStep(now: Self.at(2), epoch: 0) == [.finish])
        #expect(machine.nextStep(now: Self.at(100), epoch: 5) == [.finish])
    }

    @Test("close while up closes the link")
    func closeWhileUp() {
        var machine = Self.connectedSubscriber()
        #expect(machine.closeRequested() == [.closeConnection, .finish])
        #expect(machine.phase == .closed)
        #expect(machine.dropped(RedisError(.connectionLost, "EOF"), now: Self.at(1)) == [])
    }
}
