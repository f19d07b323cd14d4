import BreakwaterTestSupport
import Foundation
import SafeNumbers
import Synchronization
@testable import RedisClient
import Testing

/// Real master, replica and three sentinels on loopback (``SentinelCluster``); serialized so
/// at most one cluster runs at a time on small CI machines.
@Suite("Redis Sentinel", .serialized, .tags(.integration))
struct SentinelTests {
    private static func configuration(_ url: String) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: url)
        configuration.initialReconnectDelay = .milliseconds(20)
        configuration.maximumReconnectDelay = .milliseconds(250)
        return configuration
    }

    @Test("the pool resolves the master through the sentinels and writes to it")
    func resolvesAndWrites() async throws {
        try await withSentinelCluster { cluster in
            try await withPool(try Self.configuration(cluster.url()), size: 2) { pool in
                _ = try await pool.execute("SET", "sentinel:k", "v1")
                #expect(try await cluster.command(port: cluster.master.port, "GET", "sentinel:k") == .bulkString(Array("v1".utf8)))
                #expect(pool.sentinel?.currentMaster == .tcp(host: "127.0.0.1", port: cluster.master.port))
                #expect(pool.isReachable == true)
            }
        }
    }

    @Test("a sentinel that is down, or not listening at all, is skipped")
    func skipsDownSentinel() async throws {
        try await withSentinelCluster { cluster in
            cluster.stopSentinel(0)
            let nobody = try Loopback.freePort()
            // A port nobody listens on first, then the stopped sentinel, then two live ones.
            try await withPool(try Self.configuration(cluster.url(prefixing: [nobody])), size: 1) { pool in
                let started = ContinuousClock.now
                _ = try await pool.execute("SET", "sentinel:skip", "ok")
                let elapsed = ContinuousClock.now - started
                #expect(try await cluster.command(port: cluster.master.port, "GET", "sentinel:skip") == .bulkString(Array("ok".utf8)))
                print("sentinel: resolved past 2 dead sentinels in \(elapsed.millisecondsClamped) ms")

                // Every sentinel down: a clear error naming the master and what each sentinel said.
                for index in 1..<3 { cluster.stopSentinel(index) }
                try await withConnection(try Self.configuration(cluster.url())) { orphan async throws in
                    await #expect {
                        _ = try await orphan.execute("PING")
                    } throws: { error in
                        guard let error = error as? RedisError else { return false }
                        return error.code == .connectionFailed && error.message.contains("cannot resolve master \"mymaster\" through 3 sentinel(s)")
                    }
                }
            }
        }
    }

    @Test("a READONLY reply makes the client resolve the master again (retried once)")
    func readOnlyReResolves() async throws {
        try await withSentinelCluster { cluster in
            try await withPool(try Self.configuration(cluster.url()), size: 1) { pool in
                let monitor = try #require(pool.sentinel)
                // Resolution deliberately returns the replica (test hook): the write gets READONLY,
                // the link is dropped, the master resolved again, and the write retried once there.
                monitor.forceNextResolution(to: .tcp(host: "127.0.0.1", port: cluster.replica.port))
                _ = try await pool.execute("SET", "sentinel:ro", "after-readonly")
                #expect(monitor.readOnlyReplies == 1)
                #expect(monitor.currentMaster == .tcp(host: "127.0.0.1", port: cluster.master.port))
                #expect(try await cluster.command(port: cluster.master.port, "GET", "sentinel:ro") == .bulkString(Array("after-readonly".utf8)))

                // A pipeline is not retried: its READONLY result is returned, and the next call is fine.
                monitor.forceNextResolution(to: .tcp(host: "127.0.0.1", port: cluster.replica.port))
                let results = try await pool.pipeline([RedisCommand("GET", "sentinel:ro"), RedisCommand("SET", "sentinel:ro2", "x")])
                guard case .failure(let error) = results[1] else {
                    Issue.record("expected READONLY, got \(results)")
                    return
                }
                #expect(error.isReadOnly)
                #expect(monitor.readOnlyReplies == 2)
                _ = try await pool.execute("SET", "sentinel:ro2", "y")
                #expect(try await cluster.command(port: cluster.master.port, "GET", "sentinel:ro2") == .bulkString(Array("y".utf8)))

                // The ROLE check refuses a node that is not a master (resolution then asks the next sentinel).
                #expect {
                    _ = try RedisConnection.open(monitor.configuration, at: .tcp(host: "127.0.0.1", port: cluster.replica.port)) { (link) throws(RedisError) in
                        try monitor.verifyRole(link, at: .tcp(host: "127.0.0.1", port: cluster.replica.port))
                    }
                } throws: { error in
                    (error as? RedisError)?.message.contains("reports ROLE slave, not master") == true
                }
            }
        }
    }

    @Test("after SENTINEL FAILOVER the pool and a subscriber follow the new master within 5 s")
    func followsFailover() async throws {
        try await withSentinelCluster { cluster in
            let configuration = try Self.configuration(cluster.url())
            try await withPool(configuration, size: 2) { pool in
                let subscriber = try RedisSubscriber(configuration: configuration)
                defer { subscriber.close() }
                try await subscriber.subscribe(["sentinel:events"])
                _ = try await pool.execute("SET", "sentinel:before", "1")
                // Wait until the replica has the write, so the failover loses nothing we check.
                #expect(try await eventually { try await cluster.command(port: cluster.replica.port, "GET", "sentinel:before") == .bulkString(Array("1".utf8)) })

                // Keep writing in the background during the failover, as a daemon would.
                let writer = Task {
                    var written = 0
                    var failed = 0
                    while !Task.isCancelled {
                        do {
                            _ = try await pool.execute("INCR", "sentinel:counter")
                            written += 1
                        } catch {
                            failed += 1
                        }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    return (written, failed)
                }

                // The promotion: the replica says it is the master.
                let promotion = await cluster.failOver()
                #expect(promotion != nil, "the replica was never promoted")
                let promotedAt = promotion ?? ContinuousClock.now
                let newMaster = RedisConfiguration.Endpoint.tcp(host: "127.0.0.1", port: cluster.replica.port)

                // The pool: a write lands on the new master.
                var poolFollowedAt = ContinuousClock.now
                let poolFollowed = try await eventually(timeout: .seconds(30), interval: .milliseconds(5)) {
                    poolFollowedAt = ContinuousClock.now
                    guard (try? await pool.execute("SET", "sentinel:after", "2")) != nil else { return false }
                    return (try? await cluster.command(port: cluster.replica.port, "GET", "sentinel:after")) == .bulkString(Array("2".utf8))
                }
                #expect(poolFollowed)

                // The subscriber: it reconnects (to the new master) and gets what is published there.
                let received = Mutex<ContinuousClock.Instant?>(nil)
                let consumer = Task {
                    for await event in subscriber.events {
                        if case .message(let message) = event, message.text == "on-new-master" {
                            received.withLock { $0 = .now }
                            return
                        }
                    }
                }
                // Publish on the new master until the subscriber, resubscribed there, receives it.
                _ = try await eventually(timeout: .seconds(30), interval: .milliseconds(20)) {
                    if received.withLock({ $0 }) != nil { return true }
                    _ = try? await cluster.command(port: cluster.replica.port, "PUBLISH", "sentinel:events", "on-new-master")
                    return false
                }
                consumer.cancel()
                let subscriberFollowedAt = received.withLock { $0 }
                let subscriberAt = try #require(subscriberFollowedAt, "the subscriber never received a message published on the new master")

                writer.cancel()
                let (written, failed) = await writer.value
                let counterOnNewMaster = Int((try await cluster.command(port: cluster.replica.port, "GET", "sentinel:counter")).string ?? "0") ?? 0
                let poolDelay = max(.zero, poolFollowedAt - promotedAt)
                let subscriberDelay = max(.zero, subscriberAt - promotedAt)
                print("sentinel failover: pool followed \(poolDelay.millisecondsClamped) ms after the promotion, subscriber \(subscriberDelay.millisecondsClamped) ms; background INCRs acknowledged \(written), failed \(failed), on the new master \(counterOnNewMaster) (lost: \(max(0, written - counterOnNewMaster))); +switch-master seen by the pool: \(pool.sentinel?.switchMessages ?? -1)")
                #expect(poolDelay < .seconds(5))
                #expect(subscriberDelay < .seconds(5))
                #expect(pool.sentinel?.currentMaster == newMaster)
                #expect(try await cluster.command(port: cluster.replica.port, "GET", "sentinel:before") == .bulkString(Array("1".utf8)))
            }
        }
    }

    @Test("over TLS (tls-port, tls-replication): the pool and a subscriber resolve through the sentinels and follow a failover")
    func followsFailoverOverTLS() async throws {
        try await withSentinelCluster(tls: TestCertificates.shared()) { cluster in
            // The sentinels answer with an IP: the certificate is checked against 127.0.0.1.
            var configuration = try RedisConfiguration(url: cluster.url(), environment: ["REDIS_TLS_CA_FILE": try #require(cluster.certificates).caFile])
            configuration.initialReconnectDelay = .milliseconds(20)
            configuration.maximumReconnectDelay = .milliseconds(250)
            try await withPool(configuration, size: 2) { pool in
                let subscriber = try RedisSubscriber(configuration: configuration)
                defer { subscriber.close() }
                try await subscriber.subscribe(["sentinel:tls"])
                _ = try await pool.execute("SET", "sentinel:tls:before", "1")
                #expect(pool.sentinel?.currentMaster == .tcp(host: "127.0.0.1", port: cluster.master.port))
                #expect(try await eventually { try await cluster.command(port: cluster.replica.port, "GET", "sentinel:tls:before") == .bulkString(Array("1".utf8)) })

                #expect(await cluster.failOver() != nil, "the replica was never promoted")
                #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(5)) {
                    guard (try? await pool.execute("SET", "sentinel:tls:after", "2")) != nil else { return false }
                    return (try? await cluster.command(port: cluster.replica.port, "GET", "sentinel:tls:after")) == .bulkString(Array("2".utf8))
                })
                let received = Mutex(false)
                let consumer = Task {
                    for await event in subscriber.events {
                        if case .message(let message) = event, message.text == "on-new-master" {
                            received.withLock { $0 = true }
                            return
                        }
                    }
                }
                defer { consumer.cancel() }
                #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(20)) {
                    if received.withLock({ $0 }) { return true }
                    _ = try? await cluster.command(port: cluster.replica.port, "PUBLISH", "sentinel:tls", "on-new-master")
                    return false
                })

                // A client that trusts another CA is refused by every sentinel with the same cause.
                var wrong = configuration
                wrong.tls?.caFile = try #require(cluster.certificates).otherCAFile
                try await withConnection(wrong) { refused async throws in
                    do {
                        _ = try await refused.execute("PING")
                        Issue.record("a client trusting another CA reached the master")
                    } catch let error as RedisError {
                        #expect(error.code == .tls && error.tlsFailure == .unknownCA, "\(error)")
                    }
                }
            }
        }
    }
}
