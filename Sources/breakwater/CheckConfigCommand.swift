import ArgumentParser
import BreakerCore
import BreakwaterConfig
import BreakwaterDaemon
import Foundation
import RedisClient
import SharedBreaker

/// `breakwater check-config --config FILE`: exit 0, or exit 2 listing every problem.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a config: exit 0, or exit 2 with every problem (field path: reason).")

    @Option(name: .long, help: "The YAML config file.") var config: String
    @Option(name: .long, help: "An env file of NAME=value lines laid over the environment (as `run --env-file`).") var envFile: String?

    func run() async throws {
        let configuration: BreakwaterConfiguration
        do {
            configuration = try BreakwaterConfiguration.load(path: config)
        } catch {
            throw CommandFailure.usage("\(config) is invalid:\n\(error)")
        }
        var problems: [String] = []
        for (index, collector) in configuration.collectors.enumerated() {
            let options = SharedBreakerOptions(settings: collector.breaker, callTimeout: collector.timeout)
            do {
                try options.validate()
            } catch {
                problems += error.problems.map { "collectors[\(index)].breaker.\($0.field): \($0.reason)" }
            }
        }
        // The Redis settings as `run` resolves them (URL, TLS settings and REDIS_TLS_*); TLS
        // files this machine cannot read are a note, like API keys that are not set here.
        let environment = ProcessInfo.processInfo.environment
        do {
            let redis = try RedisEndpoint.configuration(override: nil, settings: configuration.redis, environment: environment)
            if let tls = redis.tls {
                do {
                    try tls.checkFiles()
                } catch {
                    FileHandle.standardError.write(Data("note: redis \(error.message) (not checked)\n".utf8))
                }
            }
        } catch let error as RedisError where error.code == .invalidConfiguration {
            problems.append("redis: \(error.message)")
        } catch {
            FileHandle.standardError.write(Data("note: redis: \(error) (not checked)\n".utf8))
        }
        let keys = APIKeyCheck.run(collectors: configuration.collectors, environment: ProcessInfo.processInfo.environment, environmentFile: envFile)
        problems += keys.problems
        for note in keys.unavailable {
            FileHandle.standardError.write(Data("note: \(note) (not checked)\n".utf8))
        }
        guard problems.isEmpty else {
            throw CommandFailure.usage("\(config) is invalid:\n" + problems.joined(separator: "\n"))
        }
        let names = configuration.collectors.map(\.name).joined(separator: ", ")
        print("\(config): OK (\(configuration.collectors.count) collector\(configuration.collectors.count == 1 ? "" : "s"): \(names))")
    }
}
