import Synchronization

/// A Lua script run with EVALSHA (loaded on demand).
public struct RedisScript: Sendable, Hashable {
    /// A short name for logs and errors.
    public var name: String
    /// The Lua source.
    public var source: String

    /// Creates a script.
    /// - Parameters:
    ///   - name: a short name used in errors (e.g. `"record_outcome"`).
    ///   - source: the Lua code.
    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}

/// SHA1 digests of scripts already loaded, shared by the connections of a pool.
final class ScriptCache: Sendable {
    private let digests = Mutex<[String: String]>([:])

    func sha(for source: String) -> String? {
        digests.withLock { $0[source] }
    }

    func store(_ sha: String, for source: String) {
        digests.withLock { $0[source] = sha }
    }
}
