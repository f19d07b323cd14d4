import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running `scripts/flaky_upstream.py` on 127.0.0.1, for integration tests.
///
/// Started with `Process`; the port is read from its `LISTENING <port>` line. Call
/// ``stop()`` (in a `defer`) to send SIGTERM to its PID and wait for it.
final class FlakyUpstream {
    let process: Process
    let port: Int

    struct StartError: Error, CustomStringConvertible {
        var description: String
    }

    static var scriptPath: String {
        ProcessInfo.processInfo.environment["FLAKY_UPSTREAM_SCRIPT"]
            ?? Fixtures.repositoryRoot.appendingPathComponent("scripts/flaky_upstream.py").path
    }

    /// Starts the server with extra arguments (e.g. `["--mode", "error500"]`).
    init(arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.scriptPath, "--port", "0"] + arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()

        // Read until the first newline; EOF means the script died.
        var line = Data()
        let handle = stdout.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("LISTENING "), let port = Int(text.dropFirst("LISTENING ".count)) else {
            kill(process.processIdentifier, SIGKILL)
            throw StartError(description: "flaky upstream did not start (\(Self.scriptPath)): \(text)")
        }
        self.process = process
        self.port = port
    }

    /// `http://127.0.0.1:<port>` plus a path.
    func url(_ path: String = "") -> URL {
        URL(string: "http://127.0.0.1:\(port)\(path)")!
    }

    /// Stops the server by PID: SIGTERM, then SIGKILL if it is still running after two seconds.
    func stop() {
        let pid = process.processIdentifier
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        for _ in 0..<40 where process.isRunning {
            usleep(50_000)
        }
        if process.isRunning {
            kill(pid, SIGKILL)
            for _ in 0..<40 where process.isRunning {
                usleep(50_000)
            }
        }
    }

    /// Switches the failure mode (`POST /_control/mode`).
    func setMode(_ mode: String) async throws {
        let port = self.port
        _ = try await Task.detached { try RawHTTP.exchange(port: port, method: "POST", path: "/_control/mode", body: Data(mode.utf8)) }.value
    }

    /// The number of upstream (non-control) requests served so far (`GET /_control/stats`).
    func requestCount() async throws -> Int {
        let port = self.port
        let data = try await Task.detached { try RawHTTP.exchange(port: port, method: "GET", path: "/_control/stats", body: Data()) }.value
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return (object?["requests"] as? Int) ?? -1
    }
}

/// A minimal HTTP/1.1 client over a POSIX socket for the control endpoints.
enum RawHTTP {
    struct Failure: Error {}

    static func exchange(port: Int, method: String, path: String, body: Data) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure() }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Failure() }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        request.append(body)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw Failure() }
        return response[split.upperBound...]
    }
}
