import Foundation

/// `scripts/flaky_upstream.py` on a free loopback port, stopped by PID.
public final class FlakyUpstream: @unchecked Sendable {
    /// The Python process.
    public let process: ChildProcess
    /// Its port.
    public let port: Int

    /// The repository root (from this file's path).
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The script's path (`FLAKY_UPSTREAM_SCRIPT` overrides).
    public static var scriptPath: String {
        ProcessInfo.processInfo.environment["FLAKY_UPSTREAM_SCRIPT"] ?? repository.appendingPathComponent("scripts/flaky_upstream.py").path
    }

    /// Starts the upstream and waits until it accepts connections.
    /// - Parameter arguments: e.g. `["--mode", "error500"]` or `["--fail-for", "5"]`.
    public init(arguments: [String] = []) throws {
        let port = try Loopback.freePort()
        process = try ChildProcess("python3", [Self.scriptPath, "--port", "\(port)"] + arguments)
        self.port = port
        let deadline = ContinuousClock.now + .seconds(15)
        while !Loopback.canConnect(port: port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.stop(signal: SIGKILL)
                throw LoopbackError(message: "flaky upstream did not start (\(Self.scriptPath)): \(process.output)")
            }
            usleep(20_000)
        }
    }

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// A URL on the upstream.
    public func url(_ path: String = "") -> URL { URL(string: baseURL + path)! }

    /// Switches the failure mode (`healthy`, `error500`, `timeout`, `ratelimit`, `garbage`, `notfound`).
    public func setMode(_ mode: String) throws {
        _ = try Loopback.http(port: port, method: "POST", path: "/_control/mode", body: Data(mode.utf8))
    }

    /// Upstream requests served so far (control requests excluded).
    public func requestCount() throws -> Int {
        let body = try Loopback.http(port: port, path: "/_control/stats").body
        let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        return object?["requests"] as? Int ?? -1
    }

    /// One upstream request as the upstream saw it.
    public struct LoggedRequest: Sendable {
        /// Arrival time on the upstream's monotonic clock, in seconds.
        public var time: Double
        /// Path and query.
        public var path: String
        public var query: String
        /// The `Authorization` header ("" when absent).
        public var authorization: String
        /// The status it was answered with.
        public var status: Int
    }

    /// Every upstream request so far (the last 20000), in arrival order, and the upstream's
    /// clock now (same origin as ``LoggedRequest/time``).
    public func requestLog() throws -> (now: Double, requests: [LoggedRequest]) {
        let body = try Loopback.http(port: port, path: "/_control/log").body
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any],
              let now = object["now"] as? Double, let entries = object["requests"] as? [[String: Any]] else {
            throw LoopbackError(message: "unexpected /_control/log body")
        }
        let requests = entries.map { entry in
            LoggedRequest(
                time: entry["t"] as? Double ?? 0, path: entry["path"] as? String ?? "", query: entry["query"] as? String ?? "",
                authorization: entry["auth"] as? String ?? "", status: entry["status"] as? Int ?? 0
            )
        }
        return (now, requests)
    }

    /// SIGTERM, then SIGKILL if needed.
    public func stop() { process.stop() }

    deinit { process.stop() }
}
