import Foundation
import RedisClient

/// One master, one replica (`--replicaof`) and three `redis-server --sentinel` processes on
/// free loopback ports, each in its own temp directory; every process is owned and stopped
/// by PID. Sentinels monitor the master as `mymaster` with quorum 2,
/// `down-after-milliseconds 1000` and `failover-timeout 5000`.
///
/// ``start()`` returns once every sentinel knows the replica and the two other sentinels and
/// the replica's link to the master is up, so `SENTINEL FAILOVER` can succeed at once.
public final class SentinelCluster: @unchecked Sendable {
    /// The name the sentinels monitor.
    public let masterName = "mymaster"
    /// The initial master.
    public let master: RedisServerProcess
    /// The initial replica.
    public let replica: RedisServerProcess
    /// The sentinels' ports, in URL order.
    public let sentinelPorts: [Int]
    private var sentinels: [ChildProcess?]
    private let directory: URL
    private let lock = NSLock()
    /// Set: every process speaks only TLS (`tls-port`, `tls-replication yes`), and
    /// ``url(prefixing:)`` is a `rediss-sentinel://` URL.
    public let certificates: TestCertificates?

    /// The client TLS settings for this cluster (`nil` without TLS).
    public var clientTLS: RedisConfiguration.TLS? { certificates?.clientSettings() }

    /// Starts every process and waits (generous deadlines, no fixed sleeps) until the
    /// topology is settled.
    ///
    /// - Parameter certificates: serve TLS only, with these certificates.
    public static func start(tls certificates: TestCertificates? = nil) async throws -> SentinelCluster {
        let cluster = try SentinelCluster(certificates: certificates)
        do {
            try await cluster.waitUntilSettled()
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(certificates: TestCertificates?) throws {
        self.certificates = certificates
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bw-sentinel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let serverTLS = certificates.map { RedisServerProcess.TLS(certFile: $0.serverCert, keyFile: $0.serverKey, caFile: $0.caFile) }
        let replication = certificates == nil ? [] : ["--tls-replication", "yes"]
        master = try RedisServerProcess(arguments: replication, tls: serverTLS)
        replica = try RedisServerProcess(arguments: ["--replicaof", "127.0.0.1", "\(master.port)"] + replication, tls: serverTLS)
        var ports: [Int] = []
        for _ in 0..<3 {
            var port = try Loopback.freePort()
            while ports.contains(port) || port == master.port || port == replica.port { port = try Loopback.freePort() }
            ports.append(port)
        }
        sentinelPorts = ports
        sentinels = [nil, nil, nil]
        for index in 0..<3 {
            let dir = directory.appendingPathComponent("sentinel-\(index)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            // Sentinels rewrite their config file, so it lives in the temp dir.
            let listener = certificates.map {
                """
                port 0
                tls-port \(ports[index])
                tls-cert-file \($0.serverCert)
                tls-key-file \($0.serverKey)
                tls-ca-cert-file \($0.caFile)
                tls-auth-clients no
                tls-replication yes
                """
            } ?? "port \(ports[index])"
            let conf = """
                \(listener)
                bind 127.0.0.1
                daemonize no
                dir \(dir.path)
                sentinel monitor \(masterName) 127.0.0.1 \(master.port) 2
                sentinel down-after-milliseconds \(masterName) 1000
                sentinel failover-timeout \(masterName) 5000
                sentinel parallel-syncs \(masterName) 1

                """
            try conf.write(to: dir.appendingPathComponent("sentinel.conf"), atomically: true, encoding: .utf8)
        }
        for index in 0..<3 { try startSentinel(index) }
    }

    /// `redis-sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3#mymaster`, optionally with
    /// extra (e.g. dead) sentinels first.
    public func url(prefixing extra: [Int] = []) -> String {
        (certificates == nil ? "redis-sentinel://" : "rediss-sentinel://") + (extra + sentinelPorts).map { "127.0.0.1:\($0)" }.joined(separator: ",") + "#" + masterName
    }

    /// Starts (or restarts) sentinel `index` with its (possibly rewritten) config file.
    public func startSentinel(_ index: Int) throws {
        let dir = directory.appendingPathComponent("sentinel-\(index)")
        let process = try ChildProcess("redis-server", [dir.appendingPathComponent("sentinel.conf").path, "--sentinel"], outputPath: dir.appendingPathComponent("sentinel.log").path)
        lock.withLock { sentinels[index] = process }
        let deadline = ContinuousClock.now + .seconds(30)
        while !Loopback.canConnect(port: sentinelPorts[index]) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw LoopbackError(message: "sentinel \(index) on port \(sentinelPorts[index]) did not start: \(process.output.suffix(800))")
            }
            usleep(20_000)
        }
    }

    /// Stops sentinel `index` (SIGKILL by default: a sentinel that is simply gone).
    public func stopSentinel(_ index: Int, signal: Int32 = SIGKILL) {
        let process = lock.withLock { () -> ChildProcess? in
            defer { sentinels[index] = nil }
            return sentinels[index]
        }
        process?.stop(signal: signal)
    }

    /// Sends one command to a server on 127.0.0.1:`port` on a short-lived connection.
    public func command(port: Int, _ name: String, _ arguments: any RedisArgumentConvertible...) async throws -> RedisValue {
        var configuration = RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port), tls: clientTLS)
        configuration.connectTimeout = .seconds(2)
        return try await withConnection(configuration) { connection in
            try await connection.execute(RedisCommand(name, arguments))
        }
    }

    /// Sends a command to sentinel `index`.
    public func sentinelCommand(_ index: Int, _ arguments: any RedisArgumentConvertible...) async throws -> RedisValue {
        return try await withConnection(RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: sentinelPorts[index]), tls: clientTLS)) { connection in
            try await connection.execute(RedisCommand("SENTINEL", arguments))
        }
    }

    /// The master port sentinel `index` reports.
    public func masterPort(accordingTo index: Int) async throws -> Int? {
        let reply = try await sentinelCommand(index, "get-master-addr-by-name", masterName)
        guard let parts = reply.array, parts.count == 2, let text = parts[1].string else { return nil }
        return Int(text)
    }

    /// Fails the master over to the replica with `SENTINEL FAILOVER` and waits until the
    /// promotion is complete: the replica says it is the master *and* every sentinel names it
    /// (`get-master-addr-by-name`). A client learns the new master from the sentinels, so that
    /// is the moment "follows within N s" is measured from. On a busy machine a sentinel may
    /// take seconds to announce a promotion the replica already made.
    ///
    /// A sentinel sometimes aborts a failover it started (its failover-timeout passes before
    /// the promotion is confirmed) and waits twice that long before trying again; so the
    /// command is re-sent (to the next sentinel) whenever a try has not completed within
    /// 15 s, up to `timeout`. `-INPROG` replies are fine.
    ///
    /// - Returns: When the completed promotion was first seen, or `nil` if it never was.
    public func failOver(timeout: Duration = .seconds(120)) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while ContinuousClock.now < deadline {
            _ = try? await sentinelCommand(attempt % 3, "failover", masterName)
            attempt += 1
            let tryDeadline = min(deadline, ContinuousClock.now + .seconds(15))
            while ContinuousClock.now < tryDeadline {
                if (try? await role(port: replica.port)) == "master" {
                    var announced = true
                    for index in 0..<3 where (try? await masterPort(accordingTo: index)) != replica.port { announced = false }
                    if announced { return ContinuousClock.now }
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        return nil
    }

    /// `master`, `slave` or `sentinel`, from `ROLE` on 127.0.0.1:`port`.
    public func role(port: Int) async throws -> String? {
        try await command(port: port, "ROLE").array?.first?.string
    }

    /// Stops every process (sentinels first) and removes the temp directories.
    public func stop() {
        for index in 0..<3 { stopSentinel(index, signal: SIGTERM) }
        replica.stop()
        master.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    private func waitUntilSettled() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = "nothing checked yet"
        while ContinuousClock.now < deadline {
            do {
                let info = try await command(port: replica.port, "INFO", "replication").string ?? ""
                guard info.contains("master_link_status:up") else {
                    last = "replica link not up"
                    try await Task.sleep(for: .milliseconds(100))
                    continue
                }
                var settled = true
                for index in 0..<3 {
                    let replicas = try await sentinelCommand(index, "replicas", masterName).array ?? []
                    let others = try await sentinelCommand(index, "sentinels", masterName).array ?? []
                    let replicaOK = replicas.contains { entry in
                        let fields = Self.fields(entry)
                        return fields["port"] == "\(replica.port)" && fields["flags"] == "slave" && fields["master-link-status"] == "ok"
                    }
                    if !replicaOK || others.count < 2 {
                        last = "sentinel \(index): replica known=\(replicaOK), other sentinels=\(others.count)"
                        settled = false
                        break
                    }
                }
                if settled { return }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LoopbackError(message: "sentinel cluster did not settle within 60 s (\(last))")
    }

    /// A sentinel `SENTINEL replicas` entry (flat name/value array) as a dictionary.
    public static func fields(_ entry: RedisValue) -> [String: String] {
        guard let flat = entry.array else { return [:] }
        var result: [String: String] = [:]
        var index = 0
        while index + 1 < flat.count {
            if let key = flat[index].string { result[key] = flat[index + 1].string ?? "" }
            index += 2
        }
        return result
    }
}
