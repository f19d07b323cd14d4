import Foundation
import RedisClient

/// A throwaway `redis-server` started by a test on a free loopback port, stopped by PID.
///
/// Used where a test must own the server: restarts, AUTH, DEBUG SLEEP, ACL files.
public final class RedisServerProcess: @unchecked Sendable {
    /// The loopback port it listens on.
    public private(set) var port: Int
    private let portWasPicked: Bool
    /// A temporary directory for its files (removed by ``stop()``).
    public let directory: URL
    private let extraArguments: [String]
    private let configFile: String?
    private var process: ChildProcess?
    private let lock = NSLock()

    /// A TLS-only server's files (`--port 0 --tls-port …`).
    public struct TLS: Sendable {
        public var certFile: String
        public var keyFile: String
        public var caFile: String
        /// `tls-auth-clients yes`: a client certificate signed by ``caFile`` is required.
        public var requireClientCertificates: Bool

        public init(certFile: String, keyFile: String, caFile: String, requireClientCertificates: Bool = false) {
            self.certFile = certFile
            self.keyFile = keyFile
            self.caFile = caFile
            self.requireClientCertificates = requireClientCertificates
        }

        /// The `redis-server` arguments for a TLS-only listener on `port`.
        public func arguments(port: Int) -> [String] {
            ["--port", "0", "--tls-port", "\(port)", "--tls-cert-file", certFile, "--tls-key-file", keyFile,
             "--tls-ca-cert-file", caFile, "--tls-auth-clients", requireClientCertificates ? "yes" : "no"]
        }
    }
    /// Set: the server speaks only TLS; change it before ``start()`` to restart with other files.
    public var tls: TLS?

    /// Starts a server and waits until it answers PING.
    ///
    /// - Parameters:
    ///   - arguments: extra `redis-server` arguments, e.g. `["--requirepass", "pw"]`.
    ///   - port: a fixed port, or `nil` to pick a free one.
    ///   - configFile: a redis.conf to load first (the test's own flags still override it).
    ///   - tls: serve TLS only, with these files.
    public init(arguments: [String] = [], port: Int? = nil, configFile: String? = nil, tls: TLS? = nil) throws {
        self.configFile = configFile
        self.tls = tls
        self.port = try port ?? Self.freePort()
        self.portWasPicked = port == nil
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("bw-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.extraArguments = arguments
        try start()
    }

    /// The `redis://` URL of this server (without credentials).
    public var url: String { tls == nil ? "redis://127.0.0.1:\(port)" : "rediss://127.0.0.1:\(port)" }

    /// Starts (or restarts) the process on the same port and directory.
    ///
    /// If a picked port was taken meanwhile by another test's server, a new one is picked.
    public func start() throws {
        for attempt in 1...5 {
            let logPath = directory.appendingPathComponent("redis.log").path
            // Without a config file: no persistence unless the test asks. With one, its
            // persistence settings stand; only the address and directory are the test's.
            let persistence = configFile == nil ? ["--save", "", "--appendonly", "no"] : []
            let listener = tls?.arguments(port: port) ?? ["--port", "\(port)"]
            let process = try ChildProcess("redis-server", (configFile.map { [$0] } ?? []) + listener + [
                "--bind", "127.0.0.1", "--dir", directory.path,
                "--daemonize", "no", "--loglevel", "warning",
            ] + persistence + extraArguments, outputPath: logPath)
            lock.withLock { self.process = process }
            do {
                try waitUntilListening(process)
                return
            } catch {
                process.stop(signal: SIGKILL)
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                guard portWasPicked, attempt < 5, log.contains("Address already in use") else {
                    throw RedisError(.connectionFailed, "redis-server on port \(port) did not start: \(log.suffix(500))")
                }
                port = try Self.freePort()
            }
        }
    }

    /// Stops the process (SIGTERM, then waits) without removing its directory.
    public func kill(signal: Int32 = SIGKILL) {
        let current = lock.withLock { () -> ChildProcess? in
            defer { self.process = nil }
            return self.process
        }
        current?.stop(signal: signal)
    }

    /// Stops the process and removes its directory.
    public func stop() {
        kill(signal: SIGTERM)
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    private func waitUntilListening(_ process: ChildProcess) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            // Only our own child counts: it must still be running (a bind failure exits at once).
            guard process.isRunning else { throw RedisError(.connectionFailed, "redis-server exited") }
            if Self.canConnect(port: port) {
                // Another test's server could own the port: ours would have exited on the
                // bind failure within this grace period.
                usleep(100_000)
                if process.isRunning { return }
                throw RedisError(.connectionFailed, "redis-server exited")
            }
            usleep(20_000)
        }
        throw RedisError(.connectionFailed, "redis-server on port \(port) did not start within 30 s")
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func canConnect(port: Int) -> Bool { Loopback.canConnect(port: port) }

    /// A port that was free a moment ago.
    public static func freePort() throws -> Int { try Loopback.freePort() }

    /// Finds an executable on PATH.
    public static func locate(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw RedisError(.invalidConfiguration, "\(name) is not on PATH; install redis-server (apt-get install -y redis-server)")
    }
}
