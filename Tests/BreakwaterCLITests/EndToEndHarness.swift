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
}

/// The result of running `breakwater` to completion.
struct CommandResult {
    var exitCode: Int32?
    var output: String
}

/// Runs `breakwater ARGS` against the test Redis and waits for it.
///
/// - Parameter executable: another `breakwater` binary (e.g. the previous release's).
func breakwater(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30), executable: String = Built.breakwater) async throws -> CommandResult {
    var env = ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""]
    for (key, value) in environment { env[key] = value }
    let process = try ChildProcess(executable, arguments, environment: env)
    let code = await process.exited(within: timeout)
    if code == nil { process.stop(signal: SIGKILL) }
    return CommandResult(exitCode: code, output: process.output)
}

/// A `breakwater run` daemon with its own config file.
final class DaemonProcess: @unchecked Sendable {
    let configPath: String
    let httpPort: Int
    let instance: String
    private(set) var process: ChildProcess

    /// A daemon polling `upstream` with one collector `collectorName` behind a breaker.
    ///
    /// - Parameters:
    ///   - executable: another `breakwater` binary (e.g. the previous release's).
    ///   - redisURL: Its Redis (default: the test Redis, `REDIS_URL`).
    init(
        instance: String, collectorName: String, upstream: FlakyUpstream, openTimeoutSeconds: Double = 1, threshold: Int = 3, interval: Double = 0.1, mode: String = "enforce",
        executable: String = Built.breakwater, redisURL: String? = nil
    ) throws {
        httpPort = try Loopback.freePort()
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
              mode: \(mode)
        """
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        self.executable = executable
        self.redisURL = redisURL
        process = try Self.spawn(configPath, redisURL: redisURL, executable: executable)
    }

    /// A daemon running `yaml` (with `instance_id` and `http.listen` on a free port added).
    ///
    /// - Parameters:
    ///   - redisURL: Its Redis (default: the test Redis, `REDIS_URL`).
    ///   - environment: More environment (e.g. `REDIS_TLS_*`).
    init(instance: String, yaml: String, arguments: [String] = [], redisURL: String? = nil, environment: [String: String] = [:]) throws {
        httpPort = try Loopback.freePort()
        self.instance = instance
        self.arguments = arguments
        self.redisURL = redisURL
        self.environment = environment
        configPath = FileManager.default.temporaryDirectory.appendingPathComponent("bw-\(instance)-\(UUID().uuidString.prefix(6)).yaml").path
        let text = "instance_id: \(instance)\nhttp: { listen: 127.0.0.1:\(httpPort) }\n" + yaml
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        process = try Self.spawn(configPath, arguments, redisURL: redisURL, environment: environment)
    }

    private var arguments: [String] = []
    private var redisURL: String?
    private var environment: [String: String] = [:]
    /// The `breakwater` binary it runs.
    private(set) var executable = Built.breakwater

    private static func spawn(
        _ config: String, _ arguments: [String] = [], redisURL: String? = nil, environment: [String: String] = [:], executable: String = Built.breakwater
    ) throws -> ChildProcess {
        var env = environment
        env["REDIS_URL"] = redisURL ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""
        return try ChildProcess(executable, ["run", "--config", config] + arguments, environment: env)
    }

    /// SIGTERM, and the exit code (nil if it did not exit within `timeout`).
    func terminate(timeout: Duration = .seconds(10)) async -> Int32? {
        kill(process.pid, SIGTERM)
        return await process.exited(within: timeout)
    }

    func restart() throws {
        process = try Self.spawn(configPath, arguments, redisURL: redisURL, environment: environment, executable: executable)
    }

    /// Everything the daemon logged so far (since its last start).
    var log: String { process.output }

    /// Its `/breakers` entry for breaker `name`, or `nil` when it cannot be read (yet).
    func breakerStatus(_ name: String) -> [String: Any]? {
        guard let response = try? Loopback.http(port: httpPort, path: "/breakers"), response.status == 200,
              let entries = try? JSONSerialization.jsonObject(with: response.body) as? [[String: Any]] else { return nil }
        return entries.first { $0["name"] as? String == name }
    }

    deinit {
        process.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: configPath)
    }
}
