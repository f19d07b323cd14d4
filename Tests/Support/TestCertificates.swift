import Foundation
import RedisClient

/// Certificates for TLS tests, made by the `openssl` command in a temp directory.
///
/// One CA signs a server certificate for `127.0.0.1` / `localhost`, one for another name
/// (`other.example`), an expired one, and a client certificate; a second CA (`otherCA`)
/// signs nothing the servers use, for "unknown CA" cases. EC P-256 keys, so making them takes
/// well under a second.
///
/// Tests share one set (``shared()``): made once per test process, so a parallel test run does
/// not start dozens of `openssl` processes at once. Files a test writes go to
/// ``scratchPath(_:)``, unique per call.
public final class TestCertificates: @unchecked Sendable {
    private static let made = Task<TestCertificates, any Error> { try await offload { try TestCertificates() } }

    /// The certificates every test of this process uses (made once, on first use).
    ///
    /// `openssl` runs on a dispatch thread, never on a Swift concurrency thread: on a 2-core
    /// machine the cooperative pool has 2 threads, and blocking them stalls every other test.
    public static func shared() async throws -> TestCertificates {
        try await made.value
    }

    /// Runs blocking work (waiting for child processes) off the cooperative thread pool.
    private static func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A path in ``directory`` no other caller gets (for files a test writes or rotates).
    public func scratchPath(_ label: String) -> String {
        directory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))").path
    }

    /// The directory holding every file (removed on deinit).
    public let directory: URL
    /// PEM paths.
    public let caFile: String
    public let otherCAFile: String
    public let serverCert: String
    public let serverKey: String
    public let otherNameCert: String
    public let expiredCert: String
    public let clientCert: String
    public let clientKey: String
    /// A client certificate (key ``clientKey``) signed by the other CA: one a server refuses.
    public let strangerClientCert: String

    /// Makes every file (throws with openssl's output if a step fails).
    public init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bw-certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        caFile = path("ca.crt")
        otherCAFile = path("other-ca.crt")
        serverCert = path("server.crt")
        serverKey = path("server.key")
        otherNameCert = path("other-name.crt")
        expiredCert = path("expired.crt")
        clientCert = path("client.crt")
        clientKey = path("client.key")
        strangerClientCert = path("stranger-client.crt")
        try Self.makeCA(name: "Breakwater test CA", key: path("ca.key"), cert: caFile)
        try Self.makeCA(name: "Some other CA", key: path("other-ca.key"), cert: otherCAFile)
        try sign(subject: "localhost", names: "IP:127.0.0.1,DNS:localhost", key: serverKey, cert: serverCert)
        try sign(subject: "other.example", names: "DNS:other.example", key: serverKey, cert: otherNameCert, reuseKey: true)
        try sign(subject: "localhost", names: "IP:127.0.0.1,DNS:localhost", key: serverKey, cert: expiredCert, days: -1, reuseKey: true)
        try sign(subject: "breakwater-client", names: "DNS:breakwater-client", key: clientKey, cert: clientCert, clientAuth: true)
        try sign(subject: "stranger", names: "DNS:stranger", key: clientKey, cert: strangerClientCert, reuseKey: true, clientAuth: true,
                 caKey: path("other-ca.key"), caCert: otherCAFile)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A new server certificate for `127.0.0.1`/`localhost` signed by a new CA (rotation):
    /// returns the CA and certificate paths; the key is ``serverKey``.
    public func rotatedAuthority(_ label: String) async throws -> (caFile: String, serverCert: String) {
        try await Self.offload { try self.makeRotatedAuthority(label) }
    }

    private func makeRotatedAuthority(_ label: String) throws -> (caFile: String, serverCert: String) {
        let base = scratchPath(label)
        let ca = base + "-ca.crt"
        let cert = base + "-server.crt"
        try Self.makeCA(name: "Breakwater test CA \(label)", key: base + "-ca.key", cert: ca)
        try sign(subject: "localhost", names: "IP:127.0.0.1,DNS:localhost", key: serverKey, cert: cert, reuseKey: true,
                 caKey: base + "-ca.key", caCert: ca)
        return (ca, cert)
    }

    /// A fresh server certificate from the same CA (a routine rotation): its path.
    public func reissuedServerCertificate(_ label: String) async throws -> String {
        try await Self.offload { try self.makeReissuedServerCertificate(label) }
    }

    private func makeReissuedServerCertificate(_ label: String) throws -> String {
        let cert = scratchPath(label) + "-reissued.crt"
        try sign(subject: "localhost", names: "IP:127.0.0.1,DNS:localhost", key: serverKey, cert: cert, reuseKey: true)
        return cert
    }

    /// TLS client settings trusting this CA (full verification).
    public func clientSettings(serverName: String? = nil, withClientCertificate: Bool = false) -> RedisConfiguration.TLS {
        RedisConfiguration.TLS(caFile: caFile, certFile: withClientCertificate ? clientCert : nil, keyFile: withClientCertificate ? clientKey : nil, serverName: serverName)
    }

    private static func makeCA(name: String, key: String, cert: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=\(name)"])
    }

    private func sign(subject: String, names: String, key: String, cert: String, days: Int = 2, reuseKey: Bool = false, clientAuth: Bool = false,
                      caKey: String? = nil, caCert: String? = nil) throws {
        let request = cert + ".csr"
        let extensions = cert + ".ext"
        var lines = "subjectAltName=\(names)\nbasicConstraints=CA:FALSE\n"
        lines += clientAuth ? "extendedKeyUsage=clientAuth\n" : "extendedKeyUsage=serverAuth\n"
        try lines.write(toFile: extensions, atomically: true, encoding: .utf8)
        if reuseKey {
            try Self.openssl(["req", "-new", "-key", key, "-out", request, "-subj", "/CN=\(subject)"])
        } else {
            try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=\(subject)"])
        }
        try Self.openssl(["x509", "-req", "-in", request, "-CA", caCert ?? caFile, "-CAkey", caKey ?? directory.appendingPathComponent("ca.key").path,
                          "-CAcreateserial", "-out", cert, "-days", "\(days)", "-extfile", extensions])
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = try ChildProcess("openssl", arguments)
        guard let status = process.waitForExit(timeout: .seconds(60)), status == 0 else {
            let output = (try? String(contentsOfFile: process.outputPath, encoding: .utf8)) ?? ""
            throw RedisError(.invalidConfiguration, "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(output.suffix(400))")
        }
    }
}
