import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// Real processes against a TLS-only `redis-server` that requires client certificates: the
/// daemon (TLS from its config file), the CLI and the dashboard (TLS from `REDIS_TLS_*`).
@Suite("End to end over TLS", .serialized, .tags(.integration))
struct TLSEndToEndTests {
    let certificates: TestCertificates

    init() async throws {
        certificates = try await TestCertificates.shared()
    }

    /// The CLI's and dashboard's environment: this CA and the client certificate.
    func clientEnvironment(_ server: RedisServerProcess, caFile: String? = nil) -> [String: String] {
        ["REDIS_URL": server.url, "REDIS_TLS_CA_FILE": caFile ?? certificates.caFile,
         "REDIS_TLS_CERT_FILE": certificates.clientCert, "REDIS_TLS_KEY_FILE": certificates.clientKey]
    }

    func daemonYAML(_ server: RedisServerProcess, name: String, upstream: FlakyUpstream, caFile: String, url: String? = nil, clientCertificate: Bool = true) -> String {
        let client = clientCertificate ? ", cert_file: \(certificates.clientCert), key_file: \(certificates.clientKey)" : ""
        return """
        redis:
          url: \(url ?? server.url)
          tls: { ca_file: \(caFile)\(client) }
        collectors:
          - name: \(name)
            kind: http_json
            base_url: \(upstream.baseURL)/data
            interval_seconds: 0.1
            timeout_seconds: 0.5
            breaker: { failure_threshold: 3, open_timeout_seconds: 1, half_open_max_calls: 1, half_open_success_threshold: 1 }
        """
    }

    func readyStatus(_ daemon: DaemonProcess) -> Int? {
        (try? Loopback.http(port: daemon.httpPort, path: "/readyz"))?.status
    }

    @Test("daemon, CLI and dashboard over mTLS: trip, recover, force-open seen over pub/sub, a Redis restart with a reissued certificate")
    func fullCycle() async throws {
        try await withRedisServer(tls: .init(certFile: certificates.serverCert, keyFile: certificates.serverKey, caFile: certificates.caFile, requireClientCertificates: true)) { server in
            let env = clientEnvironment(server)
            var configuration = try RedisConfiguration(url: server.url, environment: env)
            configuration.maximumReconnectDelay = .milliseconds(200)
            try await withPool(configuration, size: 1) { pool in
                func field(_ name: String, _ field: String) async -> String? {
                    try? await pool.execute("HGET", "cb_state:" + name, field).string
                }
                let name = "tls-\(UUID().uuidString.prefix(8).lowercased())"
                try await withKeysDeleted(["cb_state:" + name, "collector:" + name, "cb_log:" + name], pool: pool) {
                    let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
                    let daemon = try DaemonProcess(instance: "tls-1", yaml: daemonYAML(server, name: name, upstream: upstream, caFile: certificates.caFile), redisURL: server.url)
                    #expect(await eventually(timeout: .seconds(30)) { ((try? await pool.execute("XLEN", "collector:" + name).int) ?? 0) >= 3 }, "\(daemon.process.output.suffix(2000))")
                    #expect(readyStatus(daemon) == 200)

                    // Trip and recover through the shared state.
                    try upstream.setMode("error500")
                    #expect(await eventually(timeout: .seconds(15)) { await field(name, "state") == "open" })
                    try upstream.setMode("healthy")
                    #expect(await eventually(timeout: .seconds(15)) { await field(name, "state") == "closed" })

                    // The dashboard subscribes over TLS and lists the breaker.
                    let port = try Loopback.freePort()
                    let dashboard = try ChildProcess(Built.breakwater, ["dashboard", "--listen", "127.0.0.1:\(port)"], environment: env)
                    defer { dashboard.stop(signal: SIGTERM) }
                    #expect(await eventually(timeout: .seconds(30)) { Loopback.canConnect(port: port) })
                    let stream = try ChildProcess("curl", ["-sN", "--max-time", "60", "http://127.0.0.1:\(port)/events"])
                    defer { stream.stop(signal: SIGKILL) }
                    #expect(await eventually(timeout: .seconds(15)) { stream.output.contains(": connected") })

                    // A force-open from the CLI reaches the daemon over pub/sub: its view opens.
                    let forced = try await breakwater(["force-open", name, "--note", "tls drill"], environment: env)
                    #expect(forced.exitCode == 0, "\(forced.output)")
                    #expect(await eventually(timeout: .seconds(10)) {
                        ((try? Loopback.http(port: daemon.httpPort, path: "/metrics")).map { String(decoding: $0.body, as: UTF8.self) } ?? "")
                            .contains("breakwater_breaker_state{breaker=\"\(name)\"} 2")
                    })
                    #expect(await eventually(timeout: .seconds(15)) { stream.output.contains("event: transition") && stream.output.contains("forced_open") }, "\(stream.output.suffix(1000))")
                    let status = try await breakwater(["status", name], environment: env)
                    #expect(status.exitCode == 0 && status.output.contains("open"), "\(status.output)")
                    #expect(try await breakwater(["reset", name], environment: env).exitCode == 0)

                    // Redis restarts with a reissued certificate: the daemon reconnects and goes on.
                    server.kill()
                    server.tls?.certFile = try await certificates.reissuedServerCertificate("restart")
                    #expect(await eventually(timeout: .seconds(15)) { readyStatus(daemon) == 503 })
                    try server.start()
                    #expect(await eventually(timeout: .seconds(30)) { readyStatus(daemon) == 200 }, "\(daemon.process.output.suffix(2000))")
                    let before = (try? await pool.execute("XLEN", "collector:" + name).int) ?? 0
                    #expect(await eventually(timeout: .seconds(30)) { ((try? await pool.execute("XLEN", "collector:" + name).int) ?? 0) > before })
                    #expect(await daemon.terminate() == 0)
                }
            }
        }
    }

    @Test("a refused TLS link: the daemon stays up with /readyz 503 and one line per cause, and recovers when the CA file is fixed; the CLI exits 1 naming the cause")
    func refusedThenFixed() async throws {
        try await withRedisServer(tls: .init(certFile: certificates.serverCert, keyFile: certificates.serverKey, caFile: certificates.caFile)) { server in
            // The CLI: one line naming the cause, exit 1.
            let wrongCA = clientEnvironment(server, caFile: certificates.otherCAFile)
            let cli = try await breakwater(["list"], environment: wrongCA)
            #expect(cli.exitCode == 1, "\(cli.output)")
            #expect(cli.output.contains("unknown CA") && cli.output.split(separator: "\n").count == 1, "\(cli.output)")
            var insecureEnvironment = wrongCA
            insecureEnvironment["REDIS_TLS_VERIFY"] = "none"
            let insecure = try await breakwater(["list"], environment: insecureEnvironment)
            #expect(insecure.exitCode == 0 && insecure.output.contains("verification is off"), "\(insecure.output)")
            try await withRedisServer { plain in
                let onPlaintext = try await breakwater(["list"], environment: ["REDIS_URL": "rediss://127.0.0.1:\(plain.port)", "REDIS_TLS_CA_FILE": certificates.caFile])
                #expect(onPlaintext.exitCode == 1 && onPlaintext.output.contains("plaintext"), "\(onPlaintext.output)")

                // The daemon trusts the wrong CA through a file that is then fixed in place.
                let trust = certificates.scratchPath("daemon-trust")
                try FileManager.default.copyItem(atPath: certificates.otherCAFile, toPath: trust)
                let name = "tls-\(UUID().uuidString.prefix(8).lowercased())"
                try await withCleanup(name, cleanUp: { name in
                    // Through a pool that trusts the server's CA, whatever the daemon's trust file held.
                    guard var configuration = try? RedisConfiguration(url: server.url, environment: ["REDIS_TLS_CA_FILE": certificates.caFile]) else { return }
                    configuration.connectTimeout = .seconds(5)
                    let pool = RedisConnectionPool(configuration: configuration, size: 1)
                    _ = try? await pool.execute("DEL", "cb_state:" + name, "collector:" + name, "cb_log:" + name)
                    await pool.shutdown()
                }) { name in
                    let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
                    let daemon = try DaemonProcess(instance: "tls-2", yaml: daemonYAML(server, name: name, upstream: upstream, caFile: trust), redisURL: server.url)
                    #expect(await eventually(timeout: .seconds(30)) { readyStatus(daemon) == 503 })
                    #expect(await eventually(timeout: .seconds(30)) { daemon.process.output.contains("cause=TLS unknown CA") }, "\(daemon.process.output.suffix(2000))")
                    // Reconnects go on with backoff meanwhile; each is refused the same way, and logged once.
                    try await Task.sleep(for: .seconds(2))
                    #expect(daemon.process.isRunning)
                    let lines = daemon.process.output.split(separator: "\n").filter { $0.contains("redis unreachable") && $0.contains("cause=TLS unknown CA") }
                    #expect(lines.count == 1, "\(lines)")
                    // The CA file is fixed: the next reconnect reads it.
                    try Data(contentsOf: URL(fileURLWithPath: certificates.caFile)).write(to: URL(fileURLWithPath: trust), options: .atomic)
                    #expect(await eventually(timeout: .seconds(30)) { readyStatus(daemon) == 200 }, "\(daemon.process.output.suffix(2000))")
                    // SIGHUP re-reads the files and says so.
                    kill(daemon.process.pid, SIGHUP)
                    #expect(await eventually(timeout: .seconds(15)) { daemon.process.output.contains("SIGHUP: redis TLS files read") })
                    #expect(await daemon.terminate() == 0)
                }
            }
        }
    }

    /// What a daemon meets, and the cause its one log line must name.
    enum Refusal: String, CaseIterable, Sendable {
        case expired, nameMismatch, clientCertificateMissing, plaintextServer, missingCAFile
    }

    @Test("every TLS refusal: the daemon stays up, /readyz 503, one line naming the cause", arguments: Refusal.allCases)
    func refusalsNameTheirCause(_ refusal: Refusal) async throws {
        let tls = RedisServerProcess.TLS(certFile: certificates.serverCert, keyFile: certificates.serverKey, caFile: certificates.caFile)
        var serverTLS: RedisServerProcess.TLS? = tls
        var caFile = certificates.caFile
        var clientCertificate = true
        let causes: [String]
        switch refusal {
        case .expired:
            serverTLS?.certFile = certificates.expiredCert
            causes = ["cause=TLS expired"]
        case .nameMismatch:
            serverTLS?.certFile = certificates.otherNameCert
            causes = ["cause=TLS name mismatch"]
        case .clientCertificateMissing:
            serverTLS?.requireClientCertificates = true
            clientCertificate = false
            causes = ["cause=TLS client certificate required"]
        case .plaintextServer:
            serverTLS = nil
            causes = ["cause=TLS handshake timeout", "cause=TLS plaintext server"]
        case .missingCAFile:
            caFile = certificates.scratchPath("absent-ca")
            causes = ["cause=TLS files"]
        }
        try await withRedisServer(tls: serverTLS) { server in
            let upstream = try FlakyUpstream(arguments: ["--mode", "healthy"])
            let url = "rediss://127.0.0.1:\(server.port)"
            let daemon = try DaemonProcess(instance: "tls-\(refusal.rawValue.lowercased())", yaml: daemonYAML(server, name: "tls-refused", upstream: upstream, caFile: caFile, url: url, clientCertificate: clientCertificate), redisURL: url)
            #expect(await eventually(timeout: .seconds(30)) { readyStatus(daemon) == 503 }, "\(daemon.process.output.suffix(2000))")
            #expect(await eventually(timeout: .seconds(30)) { causes.contains { daemon.process.output.contains($0) } }, "\(daemon.process.output.suffix(2000))")
            #expect(daemon.process.isRunning)
            let lines = daemon.process.output.split(separator: "\n").filter { $0.contains("redis unreachable") }
            #expect(lines.count <= 2, "\(lines)")   // at most a first, untyped failure and the cause
            #expect(await daemon.terminate() == 0)
        }
    }
}
