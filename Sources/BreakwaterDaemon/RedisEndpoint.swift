import BreakwaterConfig
import RedisClient

/// Resolves where Redis is, in one place for the daemon and the CLI.
public enum RedisEndpoint {
    /// Builds the Redis configuration.
    ///
    /// Precedence for the URL: `--redis-url` / `REDIS_URL` (passed as `override`), then the
    /// config file's `redis.url`, then `redis://127.0.0.1:6379`. The password: the URL, then
    /// the config's `redis.password_env`/`password_file`, then `REDIS_PASSWORD` /
    /// `REDIS_PASSWORD_FILE`.
    /// - Throws: ``RedisError`` (invalid URL, unreadable password file) or ``ConfigError``.
    public static func configuration(override: String?, settings: RedisSettings? = nil, environment: [String: String]) throws -> RedisConfiguration {
        let url = override ?? settings?.url ?? RedisConfiguration.defaultURL
        var configuration = try RedisConfiguration(url: url, environment: environment)
        if configuration.password == nil, let secret = settings?.password {
            configuration.password = try secret.resolveSecret(environment: environment, owner: "redis", path: "redis.password")
        }
        return configuration
    }
}
