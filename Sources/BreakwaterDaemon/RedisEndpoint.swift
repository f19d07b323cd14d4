import BreakwaterConfig
import RedisClient

/// Resolves where Redis is, in one place for the daemon and the CLI.
public enum RedisEndpoint {
    /// Builds the Redis configuration.
    ///
    /// Precedence for the URL: `--redis-url` / `REDIS_URL` (passed as `override`), then the
    /// config file's `redis.url`, then `redis://127.0.0.1:6379`. The password: the URL, then
    /// the config's `redis.password_env`/`password_file`, then `REDIS_PASSWORD` /
    /// `REDIS_PASSWORD_FILE`. TLS (`rediss://`): the config's `redis.tls`, then `REDIS_TLS_*`.
    /// - Throws: ``RedisError`` (invalid URL, unreadable password file) or ``ConfigError``.
    public static func configuration(override: String?, settings: RedisSettings? = nil, environment: [String: String]) throws -> RedisConfiguration {
        let url = override ?? settings?.url ?? RedisConfiguration.defaultURL
        var configuration = try RedisConfiguration(url: url, environment: environment)
        if configuration.password == nil, let secret = settings?.password {
            configuration.password = try secret.resolveSecret(environment: environment, owner: "redis", path: "redis.password")
        }
        if let file = settings?.tls {
            guard configuration.tls != nil else {
                throw RedisError(.invalidConfiguration, "redis.tls is set but the Redis URL \(RedisConfiguration.redacted(url)) is not TLS: use rediss:// (or rediss-sentinel://)")
            }
            // The file's settings, then REDIS_TLS_* over them.
            var tls = RedisConfiguration.TLS(caFile: file.caFile, certFile: file.certFile, keyFile: file.keyFile, serverName: file.serverName)
            if let text = file.verify {
                guard let mode = RedisConfiguration.TLS.Verification(rawValue: text) else {
                    throw RedisError(.invalidConfiguration, "redis.tls.verify must be \(RedisConfiguration.TLS.Verification.allCases.map(\.rawValue).joined(separator: " or ")) (got \"\(text.prefix(40))\")")
                }
                tls.verify = mode
            }
            try tls.apply(environment: environment)
            try tls.validate()
            configuration.tls = tls
        }
        return configuration
    }
}
