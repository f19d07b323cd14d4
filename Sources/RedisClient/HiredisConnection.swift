import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SafeNumbers

/// The one owner of a hiredis `redisContext`: the only unsafe code in Breakwater.
///
/// Every `redisReply` is copied at once into a ``RedisValue`` and freed with
/// `freeReplyObject` before the call returns; the context is freed exactly once, in
/// `deinit` (a failed connect frees it before throwing). No C pointer leaves this file.
///
/// Not thread-safe: an instance is confined to one thread or serial queue at a time
/// (``RedisConnection`` and ``RedisSubscriber`` guarantee that). After any thrown error
/// with ``RedisError/breaksConnection`` the instance must be discarded.
final class HiredisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    private init(context: UnsafeMutablePointer<redisContext>) {
        self.context = context
    }

    deinit {
        redisFree(context)
    }

    /// Opens a connection (blocking) and applies the command timeout.
    static func connect(to endpoint: RedisConfiguration.Endpoint, connectTimeout: Duration, commandTimeout: Duration) throws(RedisError) -> HiredisConnection {
        let timeout = makeTimeval(connectTimeout)
        let raw: UnsafeMutablePointer<redisContext>?
        switch endpoint {
        case .tcp(let host, let port):
            guard let port = Int32(exactly: port), (1...65535).contains(port) else {
                throw RedisError(.invalidConfiguration, "port \(port) of \(host) is not 1-65535")
            }
            raw = redisConnectWithTimeout(host, port, timeout)
        case .unix(let path):
            raw = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let context = raw else {
            throw RedisError(.connectionFailed, "cannot allocate a hiredis context for \(endpoint)")
        }
        if context.pointee.err != 0 {
            let error = Self.error(from: context, while: "connecting to \(endpoint)", connecting: true)
            redisFree(context)
            throw error
        }
        breakwater_harden_context(context) // a reply's array header cannot allocate gigabytes; no SIGPIPE
        let connection = HiredisConnection(context: context)
        try connection.setCommandTimeout(commandTimeout)
        return connection
    }

    /// The socket's file descriptor, for `poll(2)`.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// Sets the read/write timeout of the socket (`SO_RCVTIMEO`/`SO_SNDTIMEO`).
    func setCommandTimeout(_ timeout: Duration) throws(RedisError) {
        if redisSetTimeout(context, makeTimeval(timeout)) != REDIS_OK {
            throw Self.error(from: context, while: "setting the command timeout", connecting: false)
        }
    }

    /// Sends one command and waits for its reply.
    ///
    /// A server error reply is returned as ``RedisValue/error(_:)``, not thrown.
    func execute(_ command: RedisCommand) throws(RedisError) -> RedisValue {
        let reply: UnsafeMutableRawPointer? = Self.withArgv(command.arguments) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let reply else {
            throw Self.error(from: context, while: "executing \(command.name)", connecting: false)
        }
        defer { freeReplyObject(reply) }
        return try Self.decode(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// Queues a command in the output buffer without sending it (pipelining).
    func append(_ command: RedisCommand) throws(RedisError) {
        let status = Self.withArgv(command.arguments) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        if status != REDIS_OK {
            throw Self.error(from: context, while: "queueing \(command.name)", connecting: false)
        }
    }

    /// Flushes queued commands if needed and blocks for the next reply.
    func nextReply() throws(RedisError) -> RedisValue {
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(context, &raw) != REDIS_OK || raw == nil {
            throw Self.error(from: context, while: "reading a reply", connecting: false)
        }
        defer { freeReplyObject(raw) }
        return try Self.decode(raw!.assumingMemoryBound(to: redisReply.self))
    }

    /// Writes the whole output buffer to the socket.
    func flush() throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK {
                throw Self.error(from: context, while: "writing", connecting: false)
            }
        }
    }

    /// Returns a reply already parsed from the input buffer, without touching the socket.
    func bufferedReply() throws(RedisError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &raw) != REDIS_OK {
            throw Self.error(from: context, while: "parsing a reply", connecting: false)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return try Self.decode(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Reads whatever the socket has into the input buffer (call after `poll` says readable).
    func readAvailable() throws(RedisError) {
        if redisBufferRead(context) != REDIS_OK {
            throw Self.error(from: context, while: "reading", connecting: false)
        }
    }

    // MARK: - C boundary helpers

    /// Lays the arguments out in one contiguous buffer and calls `body` with argc/argv/argvlen.
    private static func withArgv<R>(_ arguments: [[UInt8]], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        var total = 0
        for argument in arguments { total += argument.count }
        var flat = [UInt8]()
        flat.reserveCapacity(max(total, 1))
        var lengths = [Int]()
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            flat.append(contentsOf: argument)
            lengths.append(argument.count)
        }
        if flat.isEmpty { flat.append(0) }
        return flat.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: arguments.count)
            defer { argv.deallocate() }
            var offset = 0
            for index in 0..<arguments.count {
                argv[index] = base + offset
                offset += lengths[index]
            }
            return lengths.withUnsafeBufferPointer { lengthPointer in
                body(Int32(arguments.count), argv, lengthPointer.baseAddress!)
            }
        }
    }

    /// Copies a reply tree into Swift values (the caller frees the root).
    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STATUS:
            return .status(string(node.str, node.len))
        case REDIS_REPLY_ERROR:
            return .error(string(node.str, node.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_STRING:
            guard let pointer = node.str else { return .bulkString([]) }
            return .bulkString(Array(UnsafeRawBufferPointer(start: pointer, count: node.len)))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                guard let child = node.element[index] else {
                    throw RedisError(.protocolError, "array reply has a missing element at \(index)")
                }
                elements.append(try decode(child))
            }
            return .array(elements)
        default:
            throw RedisError(.protocolError, "unknown reply type \(node.type)")
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// Maps hiredis' `err`/`errstr` (and errno for timeouts) to one ``RedisError``.
    private static func error(from context: UnsafeMutablePointer<redisContext>, while action: String, connecting: Bool) -> RedisError {
        let savedErrno = errno
        let code = context.pointee.err
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if code == REDIS_ERR_IO && (savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || savedErrno == EINPROGRESS || savedErrno == ETIMEDOUT)
            || text.contains("timed out") || text.contains("Resource temporarily unavailable") {
            return RedisError(.timeout, "timed out \(action)")
        }
        if connecting {
            return RedisError(.connectionFailed, "\(action): \(text.isEmpty ? "error \(code)" : text)")
        }
        switch code {
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocolError, "\(action): \(text)")
        case REDIS_ERR_EOF:
            return RedisError(.connectionLost, "\(action): server closed the connection")
        case REDIS_ERR_OOM:
            return RedisError(.connectionLost, "\(action): out of memory")
        default:
            return RedisError(.connectionLost, "\(action): \(text.isEmpty ? "I/O error" : text)")
        }
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    var value = timeval()
    value.tv_sec = .init(seconds)
    value.tv_usec = .init(attoseconds / 1_000_000_000_000)
    return value
}

/// A self-pipe that wakes a thread blocked in ``waitReadable(_:wake:timeout:)``.
final class WakePipe: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32

    init() throws(RedisError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw RedisError(.connectionFailed, "cannot create a wake pipe (errno \(errno))") }
        readEnd = fds[0]
        writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Makes the next (or current) wait return at once. Safe from any thread.
    func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Empties the pipe after a wake-up.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &buffer, buffer.count) > 0 {}
    }

    fileprivate var fileDescriptor: Int32 { readEnd }
}

/// What ``waitReadable(_:wake:timeout:)`` saw.
struct Readiness {
    var socketReadable: Bool
    var woken: Bool
}

/// Blocks until the connection's socket is readable, the pipe is woken, or the timeout passes.
func waitReadable(_ connection: HiredisConnection?, wake: WakePipe, timeout: Duration) -> Readiness {
    var fds = [pollfd(fd: wake.fileDescriptor, events: Int16(POLLIN), revents: 0)]
    if let connection { fds.append(pollfd(fd: connection.fileDescriptor, events: Int16(POLLIN), revents: 0)) }
    let milliseconds = Int32(clamping: timeout.millisecondsClamped)
    let ready = poll(&fds, nfds_t(fds.count), milliseconds)
    guard ready > 0 else { return Readiness(socketReadable: false, woken: false) }
    let woken = fds[0].revents != 0
    let socketReadable = fds.count > 1 && fds[1].revents != 0
    return Readiness(socketReadable: socketReadable, woken: woken)
}
