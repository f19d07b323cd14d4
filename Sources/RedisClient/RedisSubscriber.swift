import Foundation
import Logging
import Synchronization

/// A message received on a subscribed channel or pattern.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published on.
    public var channel: String
    /// The pattern that matched, for PSUBSCRIBE deliveries.
    public var pattern: String?
    /// The payload bytes, verbatim.
    public var payload: [UInt8]

    /// The payload as UTF-8 text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// What a ``RedisSubscriber`` delivers.
public enum RedisSubscriberEvent: Sendable, Hashable {
    /// A published message.
    case message(RedisPubSubMessage)
    /// The connection broke; messages published until ``reconnected`` are lost.
    case disconnected(RedisError)
    /// The connection was re-established and every subscription renewed.
    /// Consumers should re-read any state they keep in sync through messages.
    case reconnected
}

/// A dedicated pub/sub connection that delivers messages as an `AsyncSequence`.
///
/// A dedicated thread blocks in `poll(2)` on the socket, so messages are handed over as
/// soon as they arrive and nothing blocks Swift's cooperative pool. After a dropped
/// connection it reconnects with capped backoff and renews every subscription; after 5 s
/// without traffic it sends a `PING`, and drops the link when 5 s more pass without a reply.
/// The decisions are ``RedisLinkStateMachine``'s; the thread performs them.
///
/// With a `redis-sentinel://` configuration it resolves the master through the sentinels at
/// every (re)connect and follows a failover: on `+switch-master` it drops its link at once
/// (``RedisSubscriberEvent/disconnected(_:)``), resolves the new master, resubscribes and
/// reports ``RedisSubscriberEvent/reconnected``.
public final class RedisSubscriber: Sendable {
    private struct Control: ~Copyable {
        /// The reconnect logic; its channels and patterns are renewed after every reconnect.
        var machine: RedisLinkStateMachine
        var outbox: [RedisCommand] = []
        var waiters: [Waiter] = []
        var closed = false
    }

    private struct Waiter {
        var remaining: Set<String>
        var continuation: CheckedContinuation<Void, any Error>
    }

    /// Everything delivered by this subscriber, in arrival order.
    public let events: AsyncStream<RedisSubscriberEvent>
    private let sink: AsyncStream<RedisSubscriberEvent>.Continuation
    private let control: Mutex<Control>
    private let wake: WakePipe
    private let configuration: RedisConfiguration
    private let logger: Logger
    /// Set for sentinel configurations (owned: stopped by ``close()``).
    let sentinel: SentinelMonitor?

    /// Creates a subscriber and starts its thread; it connects at once and keeps reconnecting.
    ///
    /// - Parameters:
    ///   - configuration: where to connect.
    ///   - logger: receives disconnect/reconnect lines.
    /// - Throws: ``RedisError`` if the wake-up pipe cannot be created.
    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "breakwater.redis.pubsub")) throws {
        self.configuration = configuration
        self.logger = logger
        self.control = Mutex(Control(machine: RedisLinkStateMachine(policy: .dataLink(configuration, keepAlive: .seconds(5)), peer: configuration.endpoint.description)))
        let wake = try WakePipe()
        self.wake = wake
        self.sentinel = SentinelMonitor.make(for: configuration, logger: logger)
        sentinel?.onInvalidate { wake.wake() }
        (events, sink) = AsyncStream.makeStream(of: RedisSubscriberEvent.self, bufferingPolicy: .bufferingNewest(100_000))
        let thread = Thread { [self] in self.runLoop() }
        thread.name = "breakwater.redis.pubsub"
        thread.start()
    }

    /// Subscribes to channels; returns once the server has confirmed every one.
    public func subscribe(_ channels: [String]) async throws {
        try await request(RedisCommand("SUBSCRIBE", channels), confirming: channels.map { "subscribe:" + $0 }) { control in
            control.machine.subscribe(channels: channels)
        }
    }

    /// Subscribes to glob patterns (PSUBSCRIBE); returns once the server has confirmed them.
    public func psubscribe(_ patterns: [String]) async throws {
        try await request(RedisCommand("PSUBSCRIBE", patterns), confirming: patterns.map { "psubscribe:" + $0 }) { control in
            control.machine.subscribe(patterns: patterns)
        }
    }

    /// Unsubscribes from channels; returns once the server has confirmed.
    public func unsubscribe(_ channels: [String]) async throws {
        try await request(RedisCommand("UNSUBSCRIBE", channels), confirming: channels.map { "unsubscribe:" + $0 }) { control in
            control.machine.unsubscribe(channels: channels)
        }
    }

    /// Stops the thread, closes the connection and finishes ``events``.
    public func close() {
        let waiters = control.withLock { control -> [Waiter] in
            control.closed = true
            _ = control.machine.closeRequested() // the thread closes its link at its next step
            defer { control.waiters = [] }
            return control.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: RedisError(.closed, "the subscriber was closed")) }
        sentinel?.stop()
        wake.wake()
    }

    deinit {
        close()
    }

    private func request(_ command: RedisCommand, confirming tokens: [String], update: @escaping @Sendable (inout Control) -> Void) async throws {
        guard !tokens.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = control.withLock { control -> Bool in
                guard !control.closed else { return false }
                update(&control)
                control.outbox.append(command)
                control.waiters.append(Waiter(remaining: Set(tokens), continuation: continuation))
                return true
            }
            if accepted {
                wake.wake()
            } else {
                continuation.resume(throwing: RedisError(.closed, "the subscriber was closed"))
            }
        }
    }

    // MARK: - The subscriber thread

    private func runLoop() {
        var link: HiredisConnection?
        while true {
            let epoch = sentinel?.epoch ?? 0
            var pending = control.withLock { $0.machine.nextStep(now: .now, epoch: epoch) }
            while !pending.isEmpty {
                let action = pending.removeFirst()
                switch action {
                case .finish:
                    link = nil
                    sink.finish()
                    return
                case .connect:
                    do throws(RedisError) {
                        if let sentinel {
                            link = try sentinel.connectToMaster().link
                        } else {
                            link = try RedisConnection.open(configuration)
                        }
                        pending = control.withLock { $0.machine.connectSucceeded(now: .now) } + pending
                    } catch {
                        pending = control.withLock { $0.machine.connectFailed(error, now: .now) }
                    }
                case .resubscribe(let channels, let patterns):
                    // Queued requests are re-sent after this (from the outbox) and confirmed as usual.
                    do throws(RedisError) {
                        guard let current = link else { throw RedisError(.connectionLost, "no link to \(configuration.endpoint)") }
                        if !channels.isEmpty { try current.append(RedisCommand("SUBSCRIBE", channels)) }
                        if !patterns.isEmpty { try current.append(RedisCommand("PSUBSCRIBE", patterns)) }
                        try current.flush()
                        pending = control.withLock { $0.machine.resubscribed(now: .now) } + pending
                    } catch {
                        pending = control.withLock { $0.machine.connectFailed(error, now: .now) }
                    }
                case .waitFor(let delay):
                    // Woken early by close(), a master change or a request; the machine then says what is next.
                    if waitReadable(nil, wake: wake, timeout: delay).woken { wake.drain() }
                case .ping:
                    do throws(RedisError) {
                        try link?.append(RedisCommand("PING"))
                        try link?.flush()
                    } catch {
                        pending = control.withLock { $0.machine.dropped(error, now: .now) }
                    }
                case .awaitTraffic(let timeout):
                    guard let current = link else { break }
                    do throws(RedisError) {
                        try exchange(on: current, timeout: timeout)
                    } catch {
                        pending = control.withLock { $0.machine.dropped(error, now: .now) }
                    }
                case .closeConnection:
                    link = nil
                case .report(let report):
                    self.report(report)
                case .verifyMaster, .useLink, .fail:
                    break // not produced for a subscriber
                }
            }
        }
    }

    /// Sends queued requests, hands over buffered replies, then waits up to `timeout` for more.
    private func exchange(on link: HiredisConnection, timeout: Duration) throws(RedisError) {
        let outbox = control.withLock { control -> [RedisCommand] in
            defer { control.outbox.removeAll() }
            return control.outbox
        }
        if !outbox.isEmpty {
            for command in outbox { try link.append(command) }
            try link.flush()
        }
        while let reply = try link.bufferedReply() {
            control.withLock { $0.machine.received(now: .now) }
            handle(reply)
        }
        let readiness = waitReadable(link, wake: wake, timeout: timeout)
        if readiness.woken { wake.drain() }
        if readiness.socketReadable { try link.readAvailable() }
    }

    private func report(_ report: RedisLinkStateMachine.Report) {
        switch report {
        case .connected(let reconnected):
            if reconnected {
                logger.info("redis pub/sub reconnected", metadata: ["endpoint": "\(configuration.target)"])
                sink.yield(.reconnected)
            }
        case .connectFailed(let error, let firstOfOutage):
            if firstOfOutage {
                logger.warning("redis pub/sub cannot connect", metadata: ["endpoint": "\(configuration.target)", "error": "\(error)"])
            }
        case .linkLost(let error):
            logger.warning("redis pub/sub connection lost", metadata: ["endpoint": "\(configuration.target)", "error": "\(error)"])
            sink.yield(.disconnected(error))
        case .masterChanged:
            // Sentinel announced a failover: leave the old master now, not at its next error.
            let error = RedisError(.connectionLost, "the master \"\(configuration.sentinel?.masterName ?? "")\" changed; resolving it again")
            logger.info("redis pub/sub follows the new master", metadata: ["target": "\(configuration.target)"])
            sink.yield(.disconnected(error))
        case .masterRefusedWrite:
            break // a subscriber does not write
        }
    }

    private func handle(_ reply: RedisValue) {
        guard case .array(let parts) = reply, let kind = parts.first?.string?.lowercased() else { return }
        switch kind {
        case "message" where parts.count == 3:
            sink.yield(.message(RedisPubSubMessage(channel: parts[1].string ?? "", pattern: nil, payload: parts[2].bytes ?? [])))
        case "pmessage" where parts.count == 4:
            sink.yield(.message(RedisPubSubMessage(channel: parts[2].string ?? "", pattern: parts[1].string, payload: parts[3].bytes ?? [])))
        case "subscribe", "psubscribe", "unsubscribe", "punsubscribe":
            guard parts.count >= 2, let name = parts[1].string else { return }
            confirm(kind + ":" + name)
        default:
            break // "pong" and anything else
        }
    }

    private func confirm(_ token: String) {
        let ready = control.withLock { control -> [CheckedContinuation<Void, any Error>] in
            for index in control.waiters.indices { control.waiters[index].remaining.remove(token) }
            let done = control.waiters.filter { $0.remaining.isEmpty }.map(\.continuation)
            control.waiters.removeAll { $0.remaining.isEmpty }
            return done
        }
        for continuation in ready { continuation.resume() }
    }
}
