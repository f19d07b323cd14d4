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
func breakwater(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(30)) async throws -> CommandResult {
    var env = ["REDIS_URL": ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""]
    for (key, value) in environment { env[key] = value }
    let process = try ChildProcess(Built.breakwater, arguments, environment: env)
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

    init(instance: String, collectorName: String, upstream: FlakyUpstream, openTimeoutSeconds: Double = 1, threshold: Int = 3, interval: Double = 0.1, mode: String = "enforce") throws {
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
        process = try Self.spawn(configPath)
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

    private static func spawn(_ config: String, _ arguments: [String] = [], redisURL: String? = nil, environment: [String: String] = [:]) throws -> ChildProcess {
        var env = environment
        env["REDIS_URL"] = redisURL ?? ProcessInfo.processInfo.environment["REDIS_URL"] ?? ""
        return try ChildProcess(Built.breakwater, ["run", "--config", config] + arguments, environment: env)
    }

    /// SIGTERM, and the exit code (nil if it did not exit within `timeout`).
    func terminate(timeout: Duration = .seconds(10)) async -> Int32? {
        kill(process.pid, SIGTERM)
        return await process.exited(within: timeout)
    }

    func restart() throws {
        process = try Self.spawn(configPath, arguments, redisURL: redisURL, environment: environment)
    }

    deinit {
        process.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: configPath)
    }
}
