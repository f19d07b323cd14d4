import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SafeNumbers

/// The one owner of a hiredis `redisContext` (and, for TLS, of an OpenSSL session): the
/// only unsafe code in Breakwater.
///
/// hiredis connects the socket and is the protocol codec: commands are formatted with
/// `redisFormatCommandArgv` and replies parsed by the context's `redisReader`. The bytes
/// travel through ``Transport``: `read(2)`/`write(2)` on the socket, or `SSL_read` /
/// `SSL_write` on a TLS session over it (`rediss://`).
///
/// Every `redisReply` is copied at once into a ``RedisValue`` and freed with
/// `freeReplyObject` before the call returns; the context (and session) are freed exactly
/// once, in `deinit` (a failed connect frees them before throwing). No C pointer leaves
/// this file.
///
/// Not thread-safe: an instance is confined to one thread or serial queue at a time
/// (``RedisConnection`` and ``RedisSubscriber`` guarantee that). After any thrown error
/// with ``RedisError/breaksConnection`` the instance must be discarded.
final class HiredisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    /// The TLS session (`SSL *`), or `nil` for plaintext.
    private let tls: OpaquePointer?
    /// Commands formatted but not yet written (pipelining).
    private var output: [UInt8] = []
    /// What the link is to, for error messages.
    private let peer: String
    /// Where each read lands before the reader parses it.
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 8)

    private init(context: UnsafeMutablePointer<redisContext>, tls: OpaquePointer?, peer: String) {
        self.context = context
        self.tls = tls
        self.peer = peer
    }

    deinit {
        breakwater_tls_free(tls)
        redisFree(context)
        input.deallocate()
    }

    /// Opens a connection (blocking), runs the TLS handshake when `tls` is set, and applies
    /// the command timeout.
    ///
    /// - Parameters:
    ///   - tls: TLS settings; `nil` for plaintext.
    ///   - verifyName: the name the server's certificate must carry when
    ///     ``RedisConfiguration/TLS/serverName`` is not set (default: the host connected to).
    static func connect(to endpoint: RedisConfiguration.Endpoint, connectTimeout: Duration, commandTimeout: Duration, tls: RedisConfiguration.TLS? = nil, verifyName: String? = nil) throws(RedisError) -> HiredisConnection {
        let timeout = makeTimeval(connectTimeout)
        let raw: UnsafeMutablePointer<redisContext>?
        var host: String?
        switch endpoint {
        case .tcp(let tcpHost, let port):
            guard let port = Int32(exactly: port), (1...65535).contains(port) else {
                throw RedisError(.invalidConfiguration, "port \(port) of \(tcpHost) is not 1-65535")
            }
            host = tcpHost
            raw = redisConnectWithTimeout(tcpHost, port, timeout)
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
        var session: OpaquePointer?
        if let tls {
            do throws(RedisError) {
                // The handshake's reads and writes are bounded by the connect timeout.
                if redisSetTimeout(context, timeout) != REDIS_OK {
                    throw Self.error(from: context, while: "setting the connect timeout", connecting: true)
                }
                session = try handshake(on: context.pointee.fd, settings: tls, name: tls.serverName ?? verifyName ?? host, endpoint: endpoint, timeout: connectTimeout)
            } catch {
                redisFree(context)
                throw error
            }
        }
        let connection = HiredisConnection(context: context, tls: session, peer: endpoint.description)
        try connection.setCommandTimeout(commandTimeout)
        return connection
    }

    /// Runs the TLS client handshake on a connected socket.
    private static func handshake(on fd: Int32, settings: RedisConfiguration.TLS, name: String?, endpoint: RedisConfiguration.Endpoint, timeout: Duration) throws(RedisError) -> OpaquePointer {
        var failure = breakwater_tls_failure()
        let verifyPeer: Int32 = settings.verify == .full ? 1 : 0
        let session = withOptionalCStrings([settings.caFile, settings.certFile, settings.keyFile, name]) { strings in
            breakwater_tls_connect(fd, strings[0], strings[1], strings[2], strings[3], verifyPeer == 1 ? strings[3] : nil, verifyPeer, &failure)
        }
        guard let session else {
            var error = tlsError(failure, at: endpoint.description)
            if error.tlsFailure == .handshakeTimeout {
                error.message = "TLS with \(endpoint): handshake timed out after \(timeout.millisecondsClamped) ms (no TLS answer: a plaintext Redis port, or a server that is stuck)"
            }
            throw error
        }
        return session
    }

    /// Loads the TLS files as a connect would (no connection).
    static func checkTLSFiles(_ settings: RedisConfiguration.TLS) throws(RedisError) {
        var failure = breakwater_tls_failure()
        let loaded = withOptionalCStrings([settings.caFile, settings.certFile, settings.keyFile]) { strings in
            breakwater_tls_check_files(strings[0], strings[1], strings[2], settings.verify == .full ? 1 : 0, &failure)
        }
        if loaded != 1 {
            let text = withUnsafeBytes(of: failure.message) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
            throw RedisError(.tls, "TLS: \(text)", tlsFailure: .files)
        }
    }

    /// The socket's file descriptor, for `poll(2)`.
    var fileDescriptor: Int32 { context.pointee.fd }

    /// Whether input is already waiting that `poll(2)` on the socket would not report
    /// (decrypted TLS bytes held by the session).
    var hasBufferedInput: Bool { breakwater_tls_pending(tls) > 0 }

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
        try append(command)
        return try nextReply(while: "executing \(command.name)")
    }

    /// Queues a command in the output buffer without sending it (pipelining).
    func append(_ command: RedisCommand) throws(RedisError) {
        var formatted: UnsafeMutablePointer<CChar>?
        let length = Self.withArgv(command.arguments) { argc, argv, lengths in
            redisFormatCommandArgv(&formatted, argc, argv, lengths)
        }
        guard length > 0, let formatted else {
            throw RedisError(.protocolError, "cannot format \(command.name)")
        }
        defer { redisFreeCommand(formatted) }
        output.append(contentsOf: UnsafeRawBufferPointer(start: formatted, count: Int(length)))
    }

    /// Flushes queued commands if needed and blocks for the next reply.
    func nextReply() throws(RedisError) -> RedisValue {
        try nextReply(while: "reading a reply")
    }

    private func nextReply(while action: String) throws(RedisError) -> RedisValue {
        try flush()
        while true {
            if let reply = try bufferedReply() { return reply }
            try receive(while: action)
        }
    }

    /// Writes the whole output buffer to the socket.
    func flush() throws(RedisError) {
        var written = 0
        defer { output.removeFirst(written) }
        while written < output.count {
            let sent: Result<Int, RedisError> = output.withUnsafeBytes { bytes in
                do throws(RedisError) {
                    return .success(try send(UnsafeRawBufferPointer(rebasing: bytes[written...])))
                } catch {
                    return .failure(error)
                }
            }
            written += try sent.get()
        }
    }

    /// Returns a reply already parsed from the input buffer, without touching the socket.
    func bufferedReply() throws(RedisError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        if redisReaderGetReply(context.pointee.reader, &raw) != REDIS_OK {
            throw readerError()
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return try Self.decode(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Reads whatever the socket has into the input buffer (call after `poll` says readable).
    func readAvailable() throws(RedisError) {
        try receive(while: "reading")
        while hasBufferedInput { try receive(while: "reading") }
    }

    // MARK: - Transport

    /// Writes some of `bytes`; returns how many.
    private func send(_ bytes: UnsafeRawBufferPointer) throws(RedisError) -> Int {
        let chunk = min(bytes.count, Int(Int32.max))
        if let tls {
            var failure = breakwater_tls_failure()
            let sent = breakwater_tls_write(tls, bytes.baseAddress, Int32(chunk), &failure)
            if sent > 0 { return Int(sent) }
            throw Self.tlsError(failure, at: peer, while: "writing")
        }
        while true {
            let sent = write(context.pointee.fd, bytes.baseAddress, chunk)
            if sent > 0 { return sent }
            if sent < 0 && errno == EINTR { continue }
            throw Self.ioError(errno: sent == 0 ? EPIPE : errno, while: "writing to \(peer)")
        }
    }

    /// Reads once (blocking up to the socket timeout) and feeds the reader.
    private func receive(while action: String) throws(RedisError) {
        let count: Int
        if let tls {
            var failure = breakwater_tls_failure()
            let read = breakwater_tls_read(tls, input.baseAddress, Int32(input.count), &failure)
            if read <= 0 { throw Self.tlsError(failure, at: peer, while: action) }
            count = Int(read)
        } else {
            var read: Int
            repeat { read = recv(context.pointee.fd, input.baseAddress, input.count, 0) } while read < 0 && errno == EINTR
            if read == 0 { throw RedisError(.connectionLost, "\(action): server closed the connection") }
            if read < 0 { throw Self.ioError(errno: errno, while: "\(action) from \(peer)") }
            count = read
        }
        if redisReaderFeed(context.pointee.reader, input.baseAddress!.assumingMemoryBound(to: CChar.self), count) != REDIS_OK {
            throw readerError()
        }
    }

    /// The reader's own error (a protocol error, or an oversized reply).
    private func readerError() -> RedisError {
        let reader = context.pointee.reader!
        let text = withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if reader.pointee.err == REDIS_ERR_OOM {
            return RedisError(.connectionLost, "parsing a reply from \(peer): reply too large or out of memory")
        }
        return RedisError(.protocolError, "parsing a reply from \(peer): \(text.isEmpty ? "invalid reply" : text)")
    }

    private static func ioError(errno code: Int32, while action: String) -> RedisError {
        if code == EAGAIN || code == EWOULDBLOCK || code == ETIMEDOUT {
            return RedisError(.timeout, "timed out \(action)")
        }
        return RedisError(.connectionLost, "\(action): \(String(cString: strerror(code)))")
    }

    /// Maps a TLS failure to one ``RedisError`` whose message names the cause.
    private static func tlsError(_ failure: breakwater_tls_failure, at peer: String, while action: String? = nil) -> RedisError {
        let text = withUnsafeBytes(of: failure.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let cause: TLSFailure
        switch Int(failure.cause) {
        case Int(BREAKWATER_TLS_FILES): cause = .files
        case Int(BREAKWATER_TLS_UNKNOWN_CA): cause = .unknownCA
        case Int(BREAKWATER_TLS_EXPIRED): cause = .expired
        case Int(BREAKWATER_TLS_NOT_YET_VALID): cause = .notYetValid
        case Int(BREAKWATER_TLS_NAME_MISMATCH): cause = .nameMismatch
        case Int(BREAKWATER_TLS_PLAINTEXT): cause = .plaintextServer
        case Int(BREAKWATER_TLS_CLIENT_CERT_REQUIRED): cause = .clientCertificateRequired
        case Int(BREAKWATER_TLS_CLIENT_CERT_REJECTED): cause = .clientCertificateRejected
        case Int(BREAKWATER_TLS_TIMEOUT):
            if let action { return RedisError(.timeout, "timed out \(action) from \(peer)") }
            cause = .handshakeTimeout
        case Int(BREAKWATER_TLS_CLOSED):
            if let action { return RedisError(.connectionLost, "\(action): server closed the connection") }
            return RedisError(.connectionFailed, "TLS with \(peer): \(text)")
        default:
            if let action { return RedisError(.connectionLost, "\(action) from \(peer): \(text)") }
            cause = .other
        }
        return RedisError(.tls, "TLS with \(peer): \(text)", tlsFailure: cause)
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

/// Calls `body` with C strings for `values` (`nil` stays `nil`), valid during the call.
private func withOptionalCStrings<R>(_ values: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = values.map { $0.map { strdup($0) } ?? nil }
    defer { for copy in copies { free(copy) } }
    return body(copies.map { $0.map { UnsafePointer($0) } })
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
    if let connection, connection.hasBufferedInput { return Readiness(socketReadable: true, woken: false) }
    var fds = [pollfd(fd: wake.fileDescriptor, events: Int16(POLLIN), revents: 0)]
    if let connection { fds.append(pollfd(fd: connection.fileDescriptor, events: Int16(POLLIN), revents: 0)) }
    let milliseconds = Int32(clamping: timeout.millisecondsClamped)
    let ready = poll(&fds, nfds_t(fds.count), milliseconds)
    guard ready > 0 else { return Readiness(socketReadable: false, woken: false) }
    let woken = fds[0].revents != 0
    let socketReadable = fds.count > 1 && fds[1].revents != 0
    return Readiness(socketReadable: socketReadable, woken: woken)
}
