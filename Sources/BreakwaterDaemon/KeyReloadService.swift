import Logging
import ServiceLifecycle
import UnixSignals

/// Re-reads the collectors' API keys on every `SIGHUP`.
struct KeyReloadService: Service {
    let keys: APIKeys
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
            }
        }
    }
}
