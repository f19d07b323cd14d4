// Fuzz entry points compiled into the RedisClient module (see scripts/fuzz), so that the
// internal reply path (HiredisConnection, SentinelMonitor) is reachable without @testable.
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

// MARK: - redis-reply

/// An in-process "server": a Unix socket whose accepted end we write the fuzzed bytes to,
/// so replies reach the product through hiredis' real reader (HiredisConnection), exactly
/// as from a Redis server or a sentinel. Nothing leaves the process.
private final class FakeServer: @unchecked Sendable {
    let path: String
    let listener: Int32

    init() {
        // The daemon ignores SIGPIPE as a side effect of SwiftNIO (first NIO socket); a
        // process without NIO (the CLI, breakwater-node, library users) dies of SIGPIPE when
        // hiredis writes to a connection the server closed — see Fuzz/crashes/redis-reply/.
        // Ignored here so the parsers keep being fuzzed; BREAKWATER_FUZZ_KEEP_SIGPIPE=1
        // keeps the default disposition to reproduce that finding.
        if getenv("BREAKWATER_FUZZ_KEEP_SIGPIPE").map({ String(cString: $0) }) != "1" { signal(SIGPIPE, SIG_IGN) }
        var template = Array("/tmp/breakwater-fuzz-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        path = dir + "/s"
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        precondition(listener >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(bound == 0 && listen(listener, 16) == 0)
        atexit { unlink(fakeServer.path); rmdir(String(fakeServer.path.dropLast(2))) }
    }

    /// A client link whose peer has already sent `bytes` and then closed its write side.
    func link(replying bytes: UnsafeBufferPointer<UInt8>) -> HiredisConnection {
        let link: HiredisConnection
        do {
            link = try HiredisConnection.connect(to: .unix(path: path), connectTimeout: .seconds(2), commandTimeout: .seconds(2))
        } catch {
            fatalError("fuzz harness: cannot connect to its own socket: \(error)")
        }
        let peer = accept(listener, nil, nil)
        precondition(peer >= 0)
        var offset = 0
        while offset < bytes.count {
            let written = write(peer, bytes.baseAddress! + offset, bytes.count - offset)
            precondition(written > 0, "fuzz harness: write to its own socket failed (errno \(errno))")
            offset += written
        }
        shutdown(peer, Int32(SHUT_WR))
        close(peer)  // the client still reads what was sent, then EOF
        return link
    }
}

private let fakeServer = FakeServer()

private let fuzzMonitor: SentinelMonitor = {
    // Sentinels on a path that does not exist: the watcher thread's connects fail at once
    // (no network), and stop() ends it. Only queryMaster/handle/verifyRole are used.
    let settings = RedisConfiguration.Sentinel(masterName: "mymaster", sentinels: [.unix(path: "/nonexistent/breakwater-fuzz.sock")])
    var configuration = RedisConfiguration(endpoint: .unix(path: "/nonexistent/breakwater-fuzz.sock"))
    configuration.sentinel = settings
    let monitor = SentinelMonitor(configuration: configuration, settings: settings, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    monitor.stop()
    return monitor
}()

/// Everything the product reads off a RedisValue.
private func inspect(_ value: RedisValue, depth: Int = 0) {
    _ = value.string
    _ = value.int
    _ = value.bytes
    _ = value.isNull
    _ = value.description
    if let fields = value.fieldDictionary {
        precondition(fields.count <= (value.array?.count ?? 0) / 2)
    }
    if let elements = value.array, depth < 16 {
        for element in elements { inspect(element, depth: depth + 1) }
    }
}

/// `redis-reply`: byte 0 picks the consumer, the rest is what the server sends.
/// 0: the subscriber/watcher path (readAvailable + bufferedReply loop, each reply to the
///    sentinel watcher's +switch-master handler); 1: `SENTINEL get-master-addr-by-name`
///    (queryMaster); 2: `ROLE` (verifyRole); 3: any command through execute().
@_cdecl("breakwater_fuzz_redis_reply")
public func breakwaterFuzzRedisReply(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let mode = data[0] % 4
    let bytes = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let link = fakeServer.link(replying: bytes)
    switch mode {
    case 0:
        do {
            try link.readAvailable()
            var replies = 0
            while let reply = try link.bufferedReply() {
                inspect(reply)
                fuzzMonitor.handle(reply, from: 0)
                replies += 1
                precondition(replies <= bytes.count, "more replies than bytes")
            }
        } catch {
            _ = error.message
        }
    case 1:
        do {
            let endpoint = try fuzzMonitor.queryMaster(on: link, sentinel: .unix(path: "/nonexistent"))
            _ = endpoint.description
            if case .tcp(_, let port) = endpoint {
                // queryMaster accepts any Int; HiredisConnection.connect does Int32(port).
                _ = Int32(exactly: port)
            }
        } catch {
            _ = error.message
        }
    case 2:
        do {
            try fuzzMonitor.verifyRole(link, at: .unix(path: "/nonexistent"))
        } catch {
            _ = error.message
        }
    default:
        do {
            inspect(try link.execute(RedisCommand("PING")))
        } catch {
            _ = error.message
        }
    }
    return 0
}

// MARK: - redis-url

/// `redis-url`: NUL-separated `URL`, then optional REDIS_PASSWORD, REDIS_SENTINEL_PASSWORD,
/// REDIS_SENTINEL_USERNAME values (never the *_FILE variants: no file reads).
@_cdecl("breakwater_fuzz_redis_url")
public func breakwaterFuzzRedisURL(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    let url = parts.first ?? ""
    var environment: [String: String] = [:]
    let names = ["REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_USERNAME"] + RedisConfiguration.TLS.environmentNames
    for (index, name) in names.enumerated() where parts.count > index + 1 {
        environment[name] = parts[index + 1]
    }
    // redacted() must show the userinfo as `user:***` (or `***`), never the password.
    let redacted = RedisConfiguration.redacted(url)
    if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") {
        let userinfo = url[scheme.upperBound..<at]
        let shownStart = redacted.range(of: "://")!.upperBound
        let shown = redacted[shownStart..<redacted[shownStart...].lastIndex(of: "@")!]
        if let colon = userinfo.firstIndex(of: ":") {
            precondition(shown == userinfo[..<colon] + ":***", "redacted() shows \(shown.debugDescription) for \(url.debugDescription)")
        } else {
            precondition(shown == "***", "redacted() shows \(shown.debugDescription) for \(url.debugDescription)")
        }
    }
    do {
        let configuration = try RedisConfiguration(url: url, environment: environment)
        _ = configuration.description
        _ = configuration.target
        _ = configuration.usesSentinel
        precondition(configuration.database >= 0)
        if let sentinel = configuration.sentinel {
            precondition(!sentinel.sentinels.isEmpty && !sentinel.masterName.isEmpty)
            precondition(configuration.endpoint == sentinel.sentinels[0])
            for endpoint in sentinel.sentinels {
                guard case .tcp(let host, let port) = endpoint else { preconditionFailure("sentinel \(endpoint) is not tcp") }
                precondition(!host.isEmpty && (1...65535).contains(port), "bad sentinel \(endpoint)")
            }
        } else if case .tcp(let host, let port) = configuration.endpoint {
            precondition(!host.isEmpty && (1...65535).contains(port), "bad endpoint \(configuration.endpoint)")
        }
        // The description shows target, db and user, and the password only as `***`.
        let shown = "redis \(configuration.target) db=\(configuration.database)"
            + (configuration.username.map { " user=\($0)" } ?? "") + (configuration.password == nil ? "" : " password=***")
        precondition(configuration.description == shown, "description \(configuration.description.debugDescription)")
        // TLS exactly for the TLS schemes, with settings that passed their own validation.
        let secure = url.lowercased().hasPrefix("rediss://") || url.lowercased().hasPrefix("rediss-sentinel://")
        precondition((configuration.tls != nil) == secure, "tls \(String(describing: configuration.tls)) for \(url.debugDescription)")
        if let tls = configuration.tls {
            do { try tls.validate() } catch { preconditionFailure("accepted TLS settings fail validation: \(error)") }
            _ = tls.description
        }
    } catch {
        _ = error.message
    }
    return 0
}
