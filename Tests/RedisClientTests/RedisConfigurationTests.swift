import Foundation
import RedisClient
import Testing

@Suite("Redis URL parsing")
struct RedisConfigurationTests {
    @Test("parses host, port, user, password and database")
    func fullURL() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:s%40cret@redis.internal:6380/3")
        #expect(configuration.endpoint == .tcp(host: "redis.internal", port: 6380))
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == 3)
    }

    @Test("applies defaults for port and database")
    func defaults() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(configuration.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.database == 0)
    }

    @Test("accepts a password without a user and IPv6 hosts")
    func passwordOnlyAndIPv6() throws {
        let passwordOnly = try RedisConfiguration(url: "redis://:pw@host:7000")
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == "pw")
        let ipv6 = try RedisConfiguration(url: "redis://[::1]:6390/2")
        #expect(ipv6.endpoint == .tcp(host: "::1", port: 6390))
        #expect(ipv6.database == 2)
    }

    @Test("parses unix socket URLs with an optional db")
    func unixSocket() throws {
        let configuration = try RedisConfiguration(url: "unix:///var/run/redis.sock?db=4")
        #expect(configuration.endpoint == .unix(path: "/var/run/redis.sock"))
        #expect(configuration.database == 4)
    }

    @Test("rejects malformed URLs with a reason", arguments: [
        ("http://host", "expected a redis://, redis-sentinel:// or unix:// URL"),
        ("redis://host:0", "port \"0\" is not in 1...65535"),
        ("redis://host:abc", "port \"abc\""),
        ("redis://host/-1", "database \"-1\""),
        ("redis://", "missing host"),
        ("unix://relative", "expected unix:///absolute/path"),
        ("rediss://", "missing host"),
        ("rediss-sentinel://host", "no master name"),
    ])
    func rejects(url: String, reason: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(reason)
        }
    }

    @Test("never repeats the password in errors or descriptions")
    func redaction() throws {
        let configuration = try RedisConfiguration(url: "redis://bob:hunter2@host:1/0")
        #expect(!configuration.description.contains("hunter2"))
        #expect(RedisConfiguration.redacted("redis://bob:hunter2@host:1") == "redis://bob:***@host:1")
        do {
            _ = try RedisConfiguration(url: "redis://bob:hunter2@host:notaport")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test("takes the password from REDIS_PASSWORD or REDIS_PASSWORD_FILE")
    func passwordFromEnvironment() throws {
        let fromEnv = try RedisConfiguration(url: "redis://host", environment: ["REDIS_PASSWORD": "envpw"])
        #expect(fromEnv.password == "envpw")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString)")
        try "filepw\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try RedisConfiguration(url: "redis://host", environment: ["REDIS_PASSWORD_FILE": file.path])
        #expect(fromFile.password == "filepw")
        let urlWins = try RedisConfiguration(url: "redis://:urlpw@host", environment: ["REDIS_PASSWORD": "envpw"])
        #expect(urlWins.password == "urlpw")
        // `user@host` and `user:@host` name an ACL user whose password comes from the environment.
        for url in ["redis://breakwater@host", "redis://breakwater:@host"] {
            let userOnly = try RedisConfiguration(url: url, environment: ["REDIS_PASSWORD": "envpw"])
            #expect(userOnly.username == "breakwater")
            #expect(userOnly.password == "envpw")
        }
        #expect(throws: RedisError.self) {
            try RedisConfiguration(url: "redis://host", environment: ["REDIS_PASSWORD_FILE": "/nonexistent/pw"])
        }
    }

    @Test("parses redis-sentinel:// URLs: sentinels, default port, master, db and credentials")
    func sentinelURL() throws {
        let configuration = try RedisConfiguration(
            url: "redis-sentinel://breakwater:s%40cret@s1.internal,s2.internal:26380,[::1]:26381/2#my%20master",
            environment: ["REDIS_SENTINEL_PASSWORD": "sentinelpw", "REDIS_SENTINEL_USERNAME": "watcher"]
        )
        let sentinel = try #require(configuration.sentinel)
        #expect(sentinel.sentinels == [.tcp(host: "s1.internal", port: 26379), .tcp(host: "s2.internal", port: 26380), .tcp(host: "::1", port: 26381)])
        #expect(sentinel.masterName == "my master")
        #expect(sentinel.username == "watcher")
        #expect(sentinel.password == "sentinelpw")
        // User and password are the master's (data connection), as for redis://.
        #expect(configuration.username == "breakwater")
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == 2)
        #expect(configuration.usesSentinel)
        #expect(configuration.endpoint == .tcp(host: "s1.internal", port: 26379))
        #expect(!configuration.description.contains("s@cret") && !configuration.description.contains("sentinelpw"))
        #expect(configuration.description.contains("master=my master"))

        let minimal = try RedisConfiguration(url: "redis-sentinel://127.0.0.1#mymaster", environment: ["REDIS_PASSWORD": "datapw"])
        #expect(minimal.sentinel?.sentinels == [.tcp(host: "127.0.0.1", port: 26379)])
        #expect(minimal.sentinel?.password == nil)
        #expect(minimal.password == "datapw")
        #expect(minimal.database == 0)
        #expect(!(try RedisConfiguration(url: "redis://host")).usesSentinel)
    }

    @Test("reads the sentinels' password from REDIS_SENTINEL_PASSWORD_FILE")
    func sentinelPasswordFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("spw-\(UUID().uuidString)")
        try "from-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try RedisConfiguration(url: "redis-sentinel://h#m", environment: ["REDIS_SENTINEL_PASSWORD_FILE": file.path])
        #expect(configuration.sentinel?.password == "from-file")
    }

    @Test("rejects malformed sentinel URLs naming what is wrong", arguments: [
        ("redis-sentinel://host:26379", "no master name"),
        ("redis-sentinel://host:26379/0", "no master name"),
        ("redis-sentinel://host#", "empty master name"),
        ("redis-sentinel://#mymaster", "no sentinel host"),
        ("redis-sentinel:///1#mymaster", "no sentinel host"),
        ("redis-sentinel://a,,b#mymaster", "sentinel #2 in the host list is empty"),
        ("redis-sentinel://a,#mymaster", "sentinel #2 in the host list is empty"),
        ("redis-sentinel://a:99999#mymaster", "sentinel port \"99999\" is not in 1...65535"),
        ("redis-sentinel://a,b:x#mymaster", "sentinel port \"x\""),
        ("redis-sentinel://a,:26379#mymaster", "sentinel #2 (\":26379\") has no host"),
        ("redis-sentinel://a/x#mymaster", "database \"x\""),
    ])
    func rejectsSentinel(url: String, reason: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(reason) && error.message.contains("Sentinel URL")
        }
    }

    @Test("never repeats the master's password in sentinel URL errors")
    func sentinelRedaction() {
        do {
            _ = try RedisConfiguration(url: "redis-sentinel://bob:hunter2@host:1")
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
            #expect("\(error)".contains("bob:***"))
        }
    }

    @Test("rediss:// and rediss-sentinel:// turn TLS on for every link, with REDIS_TLS_* settings")
    func tlsURLs() throws {
        let direct = try RedisConfiguration(url: "rediss://:pw@cache.example:6380/2", environment: [
            "REDIS_TLS_CA_FILE": "/etc/ca.pem", "REDIS_TLS_CERT_FILE": "/c.pem", "REDIS_TLS_KEY_FILE": "/k.pem",
            "REDIS_TLS_SERVER_NAME": "cache.internal", "REDIS_TLS_VERIFY": "FULL",
        ])
        #expect(direct.endpoint == .tcp(host: "cache.example", port: 6380))
        #expect(direct.password == "pw" && direct.database == 2)
        #expect(direct.tls == .init(caFile: "/etc/ca.pem", certFile: "/c.pem", keyFile: "/k.pem", serverName: "cache.internal", verify: .full))
        let defaults = try RedisConfiguration(url: "REDISS://host")
        #expect(defaults.tls == .init() && defaults.tls?.verify == .full && defaults.tls?.caFile == nil)
        let sentinel = try RedisConfiguration(url: "rediss-sentinel://a:26380,b#main", environment: ["REDIS_TLS_VERIFY": "none"])
        #expect(sentinel.sentinel?.masterName == "main")
        #expect(sentinel.sentinel?.sentinels == [.tcp(host: "a", port: 26380), .tcp(host: "b", port: 26379)])
        #expect(sentinel.tls?.verify == RedisConfiguration.TLS.Verification.none)
        #expect(try RedisConfiguration(url: "redis://host").tls == nil)
    }

    @Test("TLS settings that cannot be honoured are refused, never a plaintext fallback", arguments: [
        ("redis://host", ["REDIS_TLS_CA_FILE": "/ca.pem"], "REDIS_TLS_CA_FILE is set but the Redis URL"),
        ("redis-sentinel://host#m", ["REDIS_TLS_VERIFY": "full"], "use rediss://"),
        ("rediss://host", ["REDIS_TLS_VERIFY": "sometimes"], "REDIS_TLS_VERIFY must be full or none"),
        ("rediss://host", ["REDIS_TLS_KEY_FILE": "/k.pem"], "key_file is set without cert_file"),
        ("rediss://host", ["REDIS_TLS_SERVER_NAME": "two words"], "server_name"),
    ])
    func tlsRefusals(url: String, environment: [String: String], reason: String) {
        #expect {
            try RedisConfiguration(url: url, environment: environment)
        } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(reason)
        }
    }
}
