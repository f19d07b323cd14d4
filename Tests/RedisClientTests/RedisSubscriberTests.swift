import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

@Suite("Redis pub/sub", .tags(.integration))
struct RedisSubscriberTests {
    @Test("delivers messages in publish order, binary payloads intact")
    func deliveryOrder() async throws {
        let configuration = try TestRedis.configuration()
        let channel = TestRedis.uniquePrefix("ch") + "order"
        let subscriber = try RedisSubscriber(configuration: configuration)
        defer { subscriber.close() }
        try await subscriber.subscribe([channel])
        try await withConnection(configuration) { publisher in
            let count = 500
            let commands = (0..<count).map { RedisCommand("PUBLISH", channel, "m\($0)") }
            _ = try await publisher.pipeline(commands)
            _ = try await publisher.execute("PUBLISH", channel, [0, 1, 0, 2] as [UInt8])
            var received: [String] = []
            var binary: [UInt8]?
            for await event in subscriber.events {
                guard case .message(let message) = event, message.channel == channel else { continue }
                if received.count == count {
                    binary = message.payload
                    break
                }
                received.append(message.text)
            }
            #expect(received == (0..<count).map { "m\($0)" })
            #expect(binary == [0, 1, 0, 2])
        }
    }

    @Test("delivers pattern subscriptions with the matching pattern")
    func patterns() async throws {
        let configuration = try TestRedis.configuration()
        let base = TestRedis.uniquePrefix("ps")
        let subscriber = try RedisSubscriber(configuration: configuration)
        defer { subscriber.close() }
        try await subscriber.psubscribe([base + "*"])
        try await withConnection(configuration) { publisher in
            _ = try await publisher.execute("PUBLISH", base + "a", "hello")
            for await event in subscriber.events {
                guard case .message(let message) = event else { continue }
                #expect(message.channel == base + "a")
                #expect(message.pattern == base + "*")
                #expect(message.text == "hello")
                break
            }
        }
    }

    @Test("resubscribes after the server restarts and tells the consumer")
    func resubscribesAfterRestart() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.initialReconnectDelay = .milliseconds(20)
            configuration.maximumReconnectDelay = .milliseconds(200)
            let subscriber = try RedisSubscriber(configuration: configuration)
            defer { subscriber.close() }
            try await subscriber.subscribe(["events"])
            server.kill()
            try server.start()
            var sawDisconnect = false
            var iterator = subscriber.events.makeAsyncIterator()
            while let event = await iterator.next() {
                if case .disconnected = event { sawDisconnect = true }
                if case .reconnected = event { break }
            }
            #expect(sawDisconnect)
            try await withConnection(configuration) { publisher in
                let delivered = try await publisher.execute("PUBLISH", "events", "after-restart")
                #expect(delivered == .integer(1))
                while let event = await iterator.next() {
                    if case .message(let message) = event {
                        #expect(message.text == "after-restart")
                        break
                    }
                }
            }
        }
    }
}
