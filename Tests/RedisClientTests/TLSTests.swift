import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// TLS-only `redis-server` processes (`--port 0 --tls-port …`) with certificates made in the
/// test: every failure names its cause, and nothing falls back to plaintext.
@Suite("Redis over TLS", .serialized, .tags(.integration))
struct TLSTests {
    /// A configuration for `server` with `tls` client settings and short timeouts.
    private func configuration(_ server: RedisServerProcess, _ tls: RedisConfiguration.TLS?, host: String = "127.0.0.1") -> RedisConfiguration {
        var configuration = RedisConfiguration(endpoint: .tcp(host: host, port: server.port), tls: tls)
        configuration.connectTimeout = .seconds(5)
        configuration.commandTimeout = .seconds(5)
        configuration.initialReconnectDelay = .milliseconds(20)
        configuration.maximumReconnectDelay = .milliseconds(200)
        return configuration
    }

    private func serverTLS(_ certificates: TestCertificates, cert: String? = nil, requireClient: Bool = false) -> RedisServerProcess.TLS {
        .init(certFile: cert ?? certificates.serverCert, keyFile: certificates.serverKey, caFile: certificates.caFile, requireClientCertificates: requireClient)
    }

    /// The error of one PING on a fresh connection, or `nil` if it succeeded.
    private func pingError(_ configuration: RedisConfiguration) async -> RedisError? {
        // The body catches every error: `withConnection` itself cannot fail here.
        let error: RedisError?? = try? await withConnection(configuration) { connection in
            do {
                _ = try await connection.execute("PING")
                return nil
            } catch let error as RedisError {
                return error
            } catch {
                return RedisError(.protocolError, "\(error)")
            }
        }
        return error ?? nil
    }

    @Test("commands, pipelines and pub/sub work against a TLS-only server, large replies included")
    func roundTrips() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates)) { server in
            let configuration = configuration(server, certificates.clientSettings())
            try await withConnection(configuration) { connection in
                // A 1 MB value spans many TLS records and reads.
                let big = [UInt8](repeating: 0x5A, count: 1 << 20)
                _ = try await connection.execute("SET", "big", big)
                #expect(try await connection.execute("GET", "big") == .bulkString(big))

                let subscriber = try RedisSubscriber(configuration: configuration)
                defer { subscriber.close() }
                try await subscriber.subscribe(["tls-events"])
                // Many messages published in one pipeline arrive in several records at once: the
                // subscriber must drain what the TLS session holds, not wait for the socket.
                let payload = String(repeating: "x", count: 3000)
                let count = 300
                let results = try await connection.pipeline((0..<count).map { RedisCommand("PUBLISH", "tls-events", "\($0):\(payload)") })
                #expect(results.count == count)
                var received: [String] = []
                for await event in subscriber.events {
                    guard case .message(let message) = event else { continue }
                    received.append(String(message.text.prefix(while: { $0 != ":" })))
                    if received.count == count { break }
                }
                #expect(received == (0..<count).map { "\($0)" })
            }
        }
    }

    @Test("a plaintext client on the TLS port gets a hint to use rediss://")
    func plaintextClientOnTLSPort() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates)) { server in
            let error = try #require(await pingError(configuration(server, nil)))
            #expect(error.message.contains("rediss://"), "\(error)")
        }
    }

    @Test("a TLS client on a plaintext server fails with a TLS cause, within the connect timeout")
    func tlsClientOnPlaintextServer() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer { server in
            var configuration = configuration(server, certificates.clientSettings())
            configuration.connectTimeout = .milliseconds(500)
            let error = try #require(await pingError(configuration))
            #expect(error.code == .tls, "\(error)")
            #expect(error.tlsFailure == .handshakeTimeout || error.tlsFailure == .plaintextServer, "\(error)")
            #expect(error.message.contains("plaintext"), "\(error)")
        }
    }

    @Test("a server certificate from an unknown CA is refused, naming the cause")
    func unknownCA() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates)) { server in
            var tls = certificates.clientSettings()
            tls.caFile = certificates.otherCAFile
            let error = try #require(await pingError(configuration(server, tls)))
            #expect(error.tlsFailure == .unknownCA, "\(error)")
            #expect(error.message.contains("unknown CA"))
            // verify: none accepts it (development only).
            tls.verify = .none
            #expect(await pingError(configuration(server, tls)) == nil)
        }
    }

    @Test("a certificate for another name is refused; server_name set to that name is accepted")
    func nameMismatch() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates, cert: certificates.otherNameCert)) { server in
            for host in ["127.0.0.1", "localhost"] {
                let error = try #require(await pingError(configuration(server, certificates.clientSettings(), host: host)))
                #expect(error.tlsFailure == .nameMismatch, "\(error)")
                #expect(error.message.contains("DNS:other.example") && error.message.contains("not \(host)"), "\(error)")
            }
            #expect(await pingError(configuration(server, certificates.clientSettings(serverName: "other.example"))) == nil)
            // server_name is also what is checked: a wrong one is refused even for the right host.
            try await withRedisServer(tls: serverTLS(certificates)) { good async throws in
                #expect(await pingError(configuration(good, certificates.clientSettings())) == nil)
                #expect(await pingError(configuration(good, certificates.clientSettings(serverName: "other.example")))?.tlsFailure == .nameMismatch)
            }
        }
    }

    @Test("an expired server certificate is refused with its end date")
    func expired() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates, cert: certificates.expiredCert)) { server in
            let error = try #require(await pingError(configuration(server, certificates.clientSettings())))
            #expect(error.tlsFailure == .expired, "\(error)")
            #expect(error.message.contains("not after"), "\(error)")
        }
    }

    @Test("tls-auth-clients yes: refused without a client certificate, accepted with one")
    func clientCertificates() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates, requireClient: true)) { server in
            let error = try #require(await pingError(configuration(server, certificates.clientSettings())))
            #expect(error.tlsFailure == .clientCertificateRequired || error.tlsFailure == .clientCertificateRejected, "\(error)")
            #expect(error.message.contains("client certificate"), "\(error)")
            #expect(await pingError(configuration(server, certificates.clientSettings(withClientCertificate: true))) == nil)
            // A client certificate the server's CA did not sign is rejected.
            let rejected = try #require(await pingError(configuration(server, .init(caFile: certificates.caFile, certFile: certificates.strangerClientCert, keyFile: certificates.clientKey))))
            #expect(rejected.code == .tls, "\(rejected)")
            #expect(rejected.message.contains("client certificate"), "\(rejected)")
        }
    }

    @Test("unreadable TLS files are a clear error naming the file, at connect and from checkFiles")
    func unreadableFiles() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates)) { server in
            let missing = certificates.scratchPath("absent")
            let tls = RedisConfiguration.TLS(caFile: missing)
            let error = try #require(await pingError(configuration(server, tls)))
            #expect(error.tlsFailure == .files && error.message.contains(missing), "\(error)")
            #expect(throws: RedisError.self) { try tls.checkFiles() }
            let mismatchedKey = RedisConfiguration.TLS(caFile: certificates.caFile, certFile: certificates.clientCert, keyFile: certificates.serverKey)
            #expect(throws: RedisError.self) { try mismatchedKey.checkFiles() }
            try certificates.clientSettings(withClientCertificate: true).checkFiles()
        }
    }

    @Test("a pool follows a server restart with a new CA and certificate: the CA file is read again on reconnect")
    func rotationAcrossRestart() async throws {
        let certificates = try await TestCertificates.shared()
        try await withRedisServer(tls: serverTLS(certificates)) { server in
            // The client's CA file is a copy that the rotation overwrites in place.
            let clientCA = certificates.scratchPath("client-trust")
            try FileManager.default.copyItem(atPath: certificates.caFile, toPath: clientCA)
            try await withPool(configuration(server, .init(caFile: clientCA)), size: 2) { pool in
                _ = try await pool.execute("SET", "rotation", "before")

                let rotated = try await certificates.rotatedAuthority("next")
                server.kill()
                server.tls = .init(certFile: rotated.serverCert, keyFile: certificates.serverKey, caFile: rotated.caFile)
                try server.start()
                // Until the client trusts the new CA, reconnects are refused as an unknown CA ...
                var sawUnknownCA = false
                let refused = await eventually(timeout: .seconds(30)) {
                    do {
                        _ = try await pool.execute("PING")
                        return false
                    } catch let error as RedisError {
                        if error.tlsFailure == .unknownCA || error.message.contains("unknown CA") { sawUnknownCA = true }
                        return sawUnknownCA
                    } catch {
                        return false
                    }
                }
                #expect(refused && sawUnknownCA)
                // ... and once the file holds the new CA, the next reconnect reads it and succeeds.
                try Data(contentsOf: URL(fileURLWithPath: rotated.caFile)).write(to: URL(fileURLWithPath: clientCA), options: .atomic)
                let recovered = await eventually(timeout: .seconds(30)) {
                    (try? await pool.execute("SET", "rotation", "after")) == .status("OK")
                }
                #expect(recovered)
                #expect(pool.isReachable == true)
            }
        }
    }
}
