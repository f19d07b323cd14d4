import ArgumentParser
import Foundation
import Logging
import RedisClient
import SafeNumbers
import SharedBreaker

/// `breakwater watch [NAME…]`: one line per transition, live, from `cb_events:<name>`.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Print breaker transitions live (pub/sub), one line each, until Ctrl-C.")

    @OptionGroup var redis: RedisOptions
    @Argument(help: "Breaker names (default: all).") var names: [String] = []
    @Flag(name: .long, help: "Print each event's JSON as published.") var json = false
    @Option(name: .long, help: "Stop after this many seconds.") var duration: Double?

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 31_536_000) {
            throw ValidationError("--duration must be a number of seconds > 0 and at most a year, got \(duration)")
        }
    }

    func run() async throws {
        let validated = try breakerNames(names)
        let configuration = try redis.configuration()
        // Fail fast with exit 1 if Redis is unreachable, rather than waiting silently.
        let probe = try redis.pool()
        do { _ = try await probe.execute("PING") } catch { throw runtimeFailure(error) }
        await probe.shutdown()

        let subscriber = try RedisSubscriber(configuration: configuration, logger: Logger(label: "breakwater.watch", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            if validated.isEmpty {
                try await subscriber.psubscribe(["cb_events:*"])
            } else {
                try await subscriber.subscribe(validated.map { $0.eventsChannel })
            }
        } catch {
            throw runtimeFailure(error)
        }
        let scope = validated.isEmpty ? "all breakers" : validated.map { $0.rawValue }.joined(separator: ", ")
        emit("watching \(scope) on \(configuration.target) (Ctrl-C to stop)")

        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let (stop, stopSink) = AsyncStream.makeStream(of: Void.self)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { stopSink.finish() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        if let duration {
            Task {
                try? await Task.sleep(for: Duration(clampingSeconds: duration) ?? .zero)
                stopSink.finish()
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in subscriber.events {
                    switch event {
                    case .message(let message):
                        emit(json ? message.text : Self.line(for: message))
                    case .disconnected(let error):
                        emit("-- disconnected from redis: \(error.message); reconnecting")
                    case .reconnected:
                        emit("-- reconnected; transitions published meanwhile were missed (see breakwater status)")
                    }
                }
            }
            for await _ in stop {}
            subscriber.close()
            group.cancelAll()
        }
    }

    /// `2026-11-25T17:10:00.123Z moralis closed -> open v3 by onchain-1 (failure_threshold)`.
    static func line(for message: RedisPubSubMessage) -> String {
        guard let event = BreakerEvent.decode(message.payload) else {
            return "\(message.channel): unrecognised event \(message.text.prefix(200))"
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let time = formatter.string(from: Date(timeIntervalSince1970: Double(event.atMilliseconds) / 1000))
        var text = "\(time) \(event.name) \(event.from) -> \(event.to) v\(event.version) by \(event.by) (\(event.reason))"
        if event.to == "open", let timeout = event.openTimeoutMilliseconds {
            text += " open for \(BreakerOutput.seconds(timeout))"
        }
        return text
    }
}

/// Prints a line and flushes, so pipes see it at once.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
