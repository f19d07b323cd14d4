import BreakerSchema
import RedisClient
@testable import SharedBreaker

/// Raw script calls for tests that drive `Lua/breaker.lua` directly, with any operation text.
enum BreakerScript {
    static func call(
        _ store: RedisConnectionPool, name: BreakerName, operation: String, instanceID: String,
        configuration: String, argument: String = "", extra: String = "", manual: ManualAction = ManualAction()
    ) async throws -> RedisValue {
        try await BreakerScriptCall(rawOperation: operation, name: name, instanceID: instanceID, policy: configuration,
                                    argument: argument, extra: extra, manual: manual).run(on: store)
    }
}

/// The decoded breaker script reply.
typealias ScriptReply = BreakerReply

extension SharedBreaker {
    /// Runs an operation named by text (tests name them as the script does).
    @discardableResult
    func runScript(_ operation: String, argument: String, extra: String = "") async throws -> BreakerReply {
        guard let known = BreakerOperation(rawValue: operation) else {
            throw RedisError(.protocolError, "unknown breaker operation \(operation)")
        }
        return try await runScript(known, argument: argument, extra: extra)
    }
}
