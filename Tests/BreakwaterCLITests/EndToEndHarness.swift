import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

/// Paths of the built executables and the repository, found from the test bundle.
enum Built {
    static let binDirectory: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        return FileManager.default.isExecutableFile(atPath: bundle.appendingPathComponent("breakwater").path) ? bundle : bundle.deletingLastPathComponent()
    }()
    static var breakwater: String { binDirectory.appendingPathComponent("breakwater").path }
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var flakyUpstream: String { repository.appendingPathComponent("scripts/flaky_upstream.py").path }
}

/// The result of running `breakwater` to completion.
struct CommandResult {
    var exitCode: Int32?
    var output: String
}

/// Runs `breakwater ARGS` against the test Redis and waits for it.
func breakwater(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30)) throws -> CommandResult {
    var env = ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""]
    for (key, value) in environment { env[key] = value }
    let process = try ChildProcess(Built.breakwater, arguments, environment: env)
    let code = process.waitForExit(timeout: timeout)
    if code == nil { process.stop(signal: SIGKILL) }
    return CommandResult(exitCode: code, output: process.output)
}

/// The Python flaky upstream on a free loopback port.
final class FlakyUpstream: @unchecked Sendable {
    let process: ChildProcess
    let port: Int

    init(arguments: [String] = []) throws {
        let port = try RedisServerProcess.freePort()
        process = try ChildProcess("python3", [Built.flakyUpstream, "--port", "\(port)"] + arguments)
        self.port = port
        let deadline = ContinuousClock.now + .seconds(10)
        while !RedisServerProcess.canConnect(port: port) {
            guard ContinuousClock.now < deadline else { throw RedisError(.connectionFailed, "flaky upstream did not start: \(process.output)") }
            usleep(20_000)
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func setMode(_ mode: String) throws {
        _ = try http("POST", "/_control/mode", body: mode)
    }

    /// Upstream requests served so far (control requests excluded).
    func requestCount() throws -> Int {
        let data = try http("GET", "/_control/stats")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["requests"] as? Int ?? -1
    }

    private func http(_ method: String, _ path: String, body: String? = nil) throws -> Data {
        // A blocking one-shot HTTP/1.0 exchange over a socket: no URLSession on the test's threads.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw RedisError(.connectionFailed, "cannot reach flaky upstream") }
        let payload = body ?? ""
        let request = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { return Data() }
        return response[split.upperBound...]
    }

    deinit { process.stop() }
}

/// A `breakwater run` daemon with its own config file.
final class DaemonProcess: @unchecked Sendable {
    let configPath: String
    let httpPort: Int
    let instance: String
    private(set) var process: ChildProcess

    init(instance: String, collectorName: String, upstream: FlakyUpstream, openTimeoutSeconds: Double = 1, threshold: Int = 3, interval: Double = 0.1) throws {
        httpPort = try RedisServerProcess.freePort()
        self.instance = instance
        configPath = FileManager.default.temporaryDirectory.appendingPathComponent("bw-\(instance)-\(UUID().uuidString.prefix(6)).yaml").path
        let yaml = """
        instance_id: \(instance)
        http: { listen: 127.0.0.1:\(httpPort) }
        collectors:
          - name: \(collectorName)
            kind: http_json
            base_url: \(upstream.baseURL)/data
            interval_seconds: \(interval)
            timeout_seconds: 0.5
            breaker:
              failure_threshold: \(threshold)
              open_timeout_seconds: \(openTimeoutSeconds)
              half_open_max_calls: 1
              half_open_success_threshold: 1
        """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try Self.spawn(configPath)
    }

    private static func spawn(_ config: String) throws -> ChildProcess {
        try ChildProcess(Built.breakwater, ["run", "--config", config], environment: ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""])
    }

    /// SIGTERM, and the exit code (nil if it did not exit within `timeout`).
    func terminate(timeout: Duration = .seconds(10)) -> Int32? {
        kill(process.pid, SIGTERM)
        return process.waitForExit(timeout: timeout)
    }

    func restart() throws {
        process = try Self.spawn(configPath)
    }

    deinit {
        process.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: configPath)
    }
}
