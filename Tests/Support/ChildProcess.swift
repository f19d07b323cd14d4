import Foundation

/// A child process spawned with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process.waitUntilExit()` can spin forever on Linux when many children
/// run at once, so tests use this small wrapper instead. Stops only the process it started,
/// by PID.
public final class ChildProcess: @unchecked Sendable {
    /// The child's PID.
    public let pid: pid_t
    /// The file the child's stdout and stderr go to.
    public let outputPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Spawns `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - executable: an absolute path, or a name looked up on PATH.
    ///   - arguments: the arguments (without argv[0]).
    ///   - environment: extra environment variables layered over the current ones.
    ///   - outputPath: where stdout and stderr go (a temp file by default).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], outputPath: String? = nil) throws {
        let path = executable.hasPrefix("/") ? executable : try RedisServerProcess.locate(executable).path
        let output = outputPath ?? FileManager.default.temporaryDirectory.appendingPathComponent("bw-child-\(UUID().uuidString).log").path
        self.outputPath = output
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // Threads of the test runner (libdispatch workers) block most signals, and a spawned
        // child inherits that mask: reset it, or the child would ignore SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &fileActions, &attributes, argv, envp)
        guard result == 0 else {
            throw NSError(domain: "ChildProcess", code: Int(result), userInfo: [NSLocalizedDescriptionKey: "posix_spawn \(path) failed: \(String(cString: strerror(result)))"])
        }
        self.pid = child
    }

    /// Whether the child is still running (reaps it if it has exited).
    public var isRunning: Bool {
        lock.withLock {
            if exitStatus != nil { return false }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || reaped < 0 {
                exitStatus = reaped == pid ? Self.decode(status) : -1
                return false
            }
            return true
        }
    }

    /// Sends `signal` and waits up to `timeout` for the child to exit (then SIGKILLs it).
    ///
    /// - Returns: the exit code (128 + signal number when killed by a signal).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) -> Int32 {
        if isRunning { kill(pid, signal) }
        return waitForExit(timeout: timeout) ?? {
            kill(pid, SIGKILL)
            return waitForExit(timeout: .seconds(5)) ?? -1
        }()
    }

    /// Waits for the child to exit on its own.
    ///
    /// - Returns: its exit code, or `nil` if it was still running after `timeout`.
    public func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !isRunning { return lock.withLock { exitStatus } }
            usleep(5_000)
        }
        return isRunning ? nil : lock.withLock { exitStatus }
    }

    /// Waits for the child to exit without blocking a thread of the cooperative pool (so other
    /// tests' async work keeps running on a loaded machine).
    ///
    /// - Returns: the exit status, or `nil` if it still runs after `timeout`.
    public func exited(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !isRunning { return lock.withLock { exitStatus } }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return isRunning ? nil : lock.withLock { exitStatus }
    }

    /// Everything the child wrote to stdout/stderr so far.
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
