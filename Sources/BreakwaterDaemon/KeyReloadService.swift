import Logging
import RedisClient
import ServiceLifecycle
import UnixSignals

/// Re-reads the collectors' API keys, and checks the Redis TLS files, on every `SIGHUP`.
///
/// TLS files need no swap: every Redis connect loads them afresh, so the check only tells
/// the operator now whether the rotated files are usable.
struct KeyReloadService: Service {
    let keys: APIKeys
    let redisTLS: RedisConfiguration.TLS?
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                let (changed, problems) = keys.reload()
                for problem in problems {
                    logger.error("SIGHUP: could not reload an API key; keeping the previous one", metadata: ["problem": "\(problem)"])
                }
                logger.notice("SIGHUP: API keys reloaded", metadata: ["changed": "\(changed)", "problems": "\(problems.count)"])
                if let redisTLS { Self.checkTLSFiles(redisTLS, logger: logger, when: "SIGHUP") }
            }
        }
    }

    /// Loads the Redis TLS files and logs the outcome (one line).
    static func checkTLSFiles(_ tls: RedisConfiguration.TLS, logger: Logger, when: String) {
        do {
            try tls.checkFiles()
            logger.notice("\(when): redis TLS files read", metadata: ["tls": "\(tls)"])
        } catch {
            logger.error("\(when): redis TLS files are not usable; connections fail until they are", metadata: ["error": "\(error.message)"])
        }
    }
}
