import SafeNumbers
import Foundation
import RedisClient

/// Sequential and pipelined SET/GET throughput of the Swift client, next to
/// `redis-benchmark -c 1` against the same server in the same run (with `--tls` for a
/// `rediss://` URL, whose settings come from `REDIS_TLS_*`), and the time to open a fresh
/// connection and get a PONG (for TLS: the handshake).
enum RedisBench {
    static func run(url: String, operations: Int) async throws {
        let configuration = try RedisConfiguration(url: url, environment: ProcessInfo.processInfo.environment)
        let connection = RedisConnection(configuration: configuration)
        let key = "bench:redis:key"
        let value = String(repeating: "x", count: 3)
        _ = try await connection.execute("SET", key, value)

        // Warm up.
        for _ in 0..<2_000 { _ = try await connection.execute("GET", key) }

        let clock = ContinuousClock()
        let setCommand = RedisCommand("SET", key, value)
        let getCommand = RedisCommand("GET", key)
        let sequentialSet = try await clock.measure {
            for _ in 0..<operations { _ = try await connection.execute(setCommand) }
        }
        let sequentialGet = try await clock.measure {
            for _ in 0..<operations { _ = try await connection.execute(getCommand) }
        }
        let batch = 100
        let pipelined = try await clock.measure {
            var done = 0
            let commands = (0..<batch).map { $0 % 2 == 0 ? setCommand : getCommand }
            while done < operations {
                _ = try await connection.pipeline(commands)
                done += batch
            }
        }
        let setRate = rate(operations, sequentialSet)
        let getRate = rate(operations, sequentialGet)
        let pipeRate = rate(operations, pipelined)
        print("redis client (\(configuration.target), \(operations) ops each)")
        print(String(format: "  swift sequential SET      %10.0f ops/s", setRate))
        print(String(format: "  swift sequential GET      %10.0f ops/s", getRate))
        print(String(format: "  swift pipelined SET/GET   %10.0f ops/s  (batches of %d, %.1fx sequential)", pipeRate, batch, pipeRate / ((setRate + getRate) / 2)))
        if let reference = redisBenchmark(configuration: configuration, operations: operations) {
            for (name, value) in reference.sorted(by: { $0.key > $1.key }) {
                print(String(format: "  redis-benchmark -c 1 %-4@ %10.0f ops/s", name as NSString, value))
            }
            if let refSet = reference["SET"], let refGet = reference["GET"] {
                print(String(format: "  swift/redis-benchmark     SET %.0f%%  GET %.0f%%", 100 * setRate / refSet, 100 * getRate / refGet))
            }
        } else {
            print("  redis-benchmark: not available (apt-get install -y redis-tools)")
        }
        _ = try await connection.execute("DEL", key)
        let connects = max(20, min(500, operations / 100))
        let opening = try await clock.measure {
            for _ in 0..<connects {
                let fresh = RedisConnection(configuration: configuration)
                _ = try await fresh.execute("PING")
                await fresh.shutdown()
            }
        }
        print(String(format: "  swift connect+PING        %10.3f ms each (%d fresh connections)", 1000 / rate(connects, opening), connects))
    }

    private static func rate(_ operations: Int, _ duration: Duration) -> Double {
        let seconds = duration.secondsValue
        return Double(operations) / seconds
    }

    /// Runs `redis-benchmark -c 1 -t set,get` and parses its `-q` output.
    private static func redisBenchmark(configuration: RedisConfiguration, operations: Int) -> [String: Double]? {
        guard configuration.sentinel == nil, case .tcp(let host, let port) = configuration.endpoint else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["redis-benchmark", "-h", host, "-p", "\(port)", "-c", "1", "-n", "\(operations)", "-t", "set,get", "-q", "-d", "3"]
        if let password = configuration.password { arguments += ["-a", password] }
        if let user = configuration.username { arguments += ["--user", user] }
        if let tls = configuration.tls {
            arguments.append("--tls")
            if let ca = tls.caFile { arguments += ["--cacert", ca] }
            if let cert = tls.certFile { arguments += ["--cert", cert, "--key", tls.keyFile ?? cert] }
            if let name = tls.serverName { arguments += ["--sni", name] }
            if tls.verify == .none { arguments.append("--insecure") }
        }
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var result: [String: Double] = [:]
        // Lines look like "SET: 41322.31 requests per second, p50=0.023 msec" (with \r progress noise).
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, ["SET", "GET"].contains(parts[0].trimmingCharacters(in: .whitespaces)),
                  let number = parts[1].split(separator: " ").first.flatMap({ Double($0) }), line.contains("requests per second") else { continue }
            result[parts[0].trimmingCharacters(in: .whitespaces)] = number
        }
        return result.isEmpty ? nil : result
    }
}
