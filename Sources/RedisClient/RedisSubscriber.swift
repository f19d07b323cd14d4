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
/// connection it reconnects with capped backoff and renews every subscription.
///
/// With a `redis-sentinel://` configuration it resolves the master through the sentinels at
/// every (re)connect and follows a failover: on `+switch-master` it drops its link at once
/// (``RedisSubscriberEvent/disconnected(_:)``), resolves the new master, resubscribes and
/// reports ``RedisSubscriberEvent/reconnected``.
public final class RedisSubscriber: Sendable {
    private struct Control: ~Copyable {
        var channels: Set<String> = []
        var patterns: Set<String> = []
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
    private let control = Mutex(Control())
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
            control.channels.formUnion(channels)
        }
    }

    /// Subscribes to glob patterns (PSUBSCRIBE); returns once the server has confirmed them.
    public func psubscribe(_ patterns: [String]) async throws {
        try await request(RedisCommand("PSUBSCRIBE", patterns), confirming: patterns.map { "psubscribe:" + $0 }) { control in
            control.patterns.formUnion(patterns)
        }
    }

    /// Unsubscribes from channels; returns once the server has confirmed.
    public func unsubscribe(_ channels: [String]) async throws {
        try await request(RedisCommand("UNSUBSCRIBE", channels), confirming: channels.map { "unsubscribe:" + $0 }) { control in
            control.channels.subtract(channels)
        }
    }

    /// Stops the thread, closes the connection and finishes ``events``.
    public func close() {
        let waiters = control.withLock { control -> [Waiter] in
            control.closed = true
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
        var failures = 0
        var everConnected = false
        var lastTraffic = ContinuousClock.now
        var pingOutstanding = false
        var linkEpoch = 0
        while true {
            if control.withLock({ $0.closed }) { break }
            let epoch = sentinel?.epoch ?? 0
            if link != nil, epoch != linkEpoch {
                // Sentinel announced a failover: leave the old master now, not at its next error.
                link = nil
                failures = 0
                let error = RedisError(.connectionLost, "the master \"\(configuration.sentinel?.masterName ?? "")\" changed; resolving it again")
                logger.info("redis pub/sub follows the new master", metadata: ["target": "\(configuration.target)"])
                sink.yield(.disconnected(error))
            }
            if link == nil {
                do {
                    linkEpoch = epoch
                    let fresh = try sentinel?.connectToMaster().link ?? RedisConnection.open(configuration)
                    // Renew every subscription; queued requests are re-sent too, so they get confirmed.
                    // Requests still in the outbox are sent after this and confirmed as usual.
                    let (channels, patterns) = control.withLock { control -> ([String], [String]) in
                        (Array(control.channels), Array(control.patterns))
                    }
                    if !channels.isEmpty { try fresh.append(RedisCommand("SUBSCRIBE", channels)) }
                    if !patterns.isEmpty { try fresh.append(RedisCommand("PSUBSCRIBE", patterns)) }
                    try fresh.flush()
                    link = fresh
                    failures = 0
                    lastTraffic = .now
                    pingOutstanding = false
                    if everConnected {
                        logger.info("redis pub/sub reconnected", metadata: ["endpoint": "\(configuration.target)"])
                        sink.yield(.reconnected)
                    }
                    everConnected = true
                } catch {
                    failures += 1
                    let delay = RedisConnection.reconnectDelay(failures: failures, configuration: configuration)
                    if failures == 1 {
                        logger.warning("redis pub/sub cannot connect", metadata: ["endpoint": "\(configuration.target)", "error": "\(error)"])
                    }
                    let readiness = waitReadable(nil, wake: wake, timeout: delay)
                    if readiness.woken { wake.drain() }
                    continue
                }
            }
            guard let current = link else { continue }
            do {
                let outbox = control.withLock { control -> [RedisCommand] in
                    defer { control.outbox.removeAll() }
                    return control.outbox
                }
                if !outbox.isEmpty {
                    for command in outbox { try current.append(command) }
                    try current.flush()
                }
                while let reply = try current.bufferedReply() {
                    lastTraffic = .now
                    pingOutstanding = false
                    handle(reply)
                }
                let readiness = waitReadable(current, wake: wake, timeout: .milliseconds(500))
                if readiness.woken { wake.drain() }
                if readiness.socketReadable {
                    try current.readAvailable()
                } else if ContinuousClock.now - lastTraffic > .seconds(5) {
                    // Keep-alive: a silent dead peer is detected by the missing PONG.
                    if pingOutstanding {
                        throw RedisError(.timeout, "no PONG from \(configuration.endpoint) within 5 s")
                    }
                    try current.append(RedisCommand("PING"))
                    try current.flush()
                    pingOutstanding = true
                    lastTraffic = .now
                }
            } catch {
                link = nil
                logger.warning("redis pub/sub connection lost", metadata: ["endpoint": "\(configuration.target)", "error": "\(error)"])
                sink.yield(.disconnected((error as? RedisError) ?? RedisError(.connectionLost, "\(error)")))
            }
        }
        link = nil
        sink.finish()
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
