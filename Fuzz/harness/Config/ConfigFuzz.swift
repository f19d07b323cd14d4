// `config-yaml`: a whole config file, through BreakwaterConfiguration.parse(yaml:) (what
// `breakwater run` and `check-config` load), then what the daemon derives from a valid file:
// shared-breaker options (SharedBreakerOptions+Settings.swift, compiled into this module by
// scripts/fuzz), the Redis configuration (RedisEndpoint.swift, likewise), the API keys from
// an injected environment, and each collector's upstream request.
import BreakerSchema
import BreakerCore
import BreakwaterConfig
import Collectors
import Foundation
import RedisClient
import SharedBreaker

/// Variables the harness environment offers; values are fuzz-independent.
private let fuzzEnvironment = [
    "MORALIS_API_KEY": "moralis-key", "GLASSNODE_API_KEY": "  glassnode-key\n", "EMPTY": "  ",
    "REDIS_PASSWORD": "redis-password", "TWITTER_BEARER": "t",
]

@_cdecl("breakwater_fuzz_config_yaml")
public func breakwaterFuzzConfigYAML(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // load(path:) rejects non-UTF-8 files before parsing.
    guard let text = String(data: Data(bytes: data, count: size), encoding: .utf8) else { return 0 }
    let configuration: BreakwaterConfiguration
    do {
        configuration = try BreakwaterConfiguration.parse(yaml: text)
    } catch {
        precondition(!error.problems.isEmpty, "a ConfigError without problems")
        _ = error.description
        return 0
    }
    _ = configuration.description
    _ = configuration.resolvedInstanceID
    precondition(!configuration.collectors.isEmpty)
    // RunCommand.resolveRedis: never with a password *file* (no file reads from fuzzed paths).
    if case .file? = configuration.redis.password {} else {
        do {
            let redis = try RedisEndpoint.configuration(override: nil, settings: configuration.redis, environment: fuzzEnvironment)
            _ = redis.description
        } catch {
            _ = "\(error)"
        }
    }
    for collector in configuration.collectors {
        _ = collector.description
        // "> 0" in the file must stay > 0 once converted (a zero interval polls in a loop).
        precondition(collector.interval > .zero, "interval_seconds accepted but \(collector.interval)")
        precondition(collector.timeout > .zero, "timeout_seconds accepted but \(collector.timeout)")
        if let rateLimit = collector.rateLimit {
            precondition(rateLimit.period > .zero, "rate_limit.per_seconds accepted but \(rateLimit.period)")
        }
        // SharedBreakerGroup builds each breaker from these options; a file that check-config
        // accepts must give options the breaker accepts.
        let options = SharedBreakerOptions(settings: collector.breaker, callTimeout: collector.timeout)
        do {
            try options.validate()
            _ = try BreakerMachine(config: options.breaker)
        } catch {
            preconditionFailure("config accepted but the breaker refuses it: \(error)")
        }
        var key: String?
        if case .file? = collector.apiKey {} else {
            key = try? collector.resolveSecret(environment: fuzzEnvironment)
        }
        // PollSlot builds the SourceDefinition this way, then UpstreamFetcher the request.
        let source = SourceDefinition(
            name: collector.name, kind: SourceKind(rawValue: collector.kind.rawValue) ?? .httpJSON,
            baseURL: collector.baseURL, apiKey: key, params: collector.params, timeout: collector.timeout
        )
        _ = source.description
        _ = try? UpstreamRequest(for: source)
    }
    return 0
}
