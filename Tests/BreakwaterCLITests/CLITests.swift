import BreakwaterTestSupport
import Foundation
import RedisClient
import Testing

@Suite("breakwater CLI: output and exit codes", .tags(.integration))
struct CLITests {
    let pool: RedisConnectionPool

    init() throws {
        pool = RedisConnectionPool(configuration: try TestRedis.configuration(), size: 1)
    }

    func uniqueName(_ label: String) -> String { "cli-\(UUID().uuidString.prefix(8).lowercased())-\(label)" }

    func writeConfig(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bw-cfg-\(UUID().uuidString.prefix(8)).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("check-config accepts a valid config with exit 0")
    func checkConfigValid() async throws {
        let path = try writeConfig("""
        instance_id: t-1
        http: { listen: 127.0.0.1:9464 }
        collectors:
          - { name: api, kind: http_json, base_url: "http://127.0.0.1:1/x", interval_seconds: 0.2 }
        """)
        let result = try await breakwater(["check-config", "--config", path])
        #expect(result.exitCode == 0)
        #expect(result.output.contains("OK (1 collector: api)"))
    }

    @Test("check-config exits 2 and names every invalid field", arguments: [
        ("collectors:\n  - { name: a, kind: http_json, base_url: 'http://x/', interval_seconds: 1, breaker: { failure_threshold: 0, backoff_multiplier: 0.5 } }",
         ["collectors[0].breaker.failure_threshold", "collectors[0].breaker.backoff_multiplier"]),
        ("collectors:\n  - { name: 'bad name', kind: nope, base_url: 'http://x/', interval_seconds: -1 }",
         ["collectors[0].name", "collectors[0].kind", "collectors[0].interval_seconds"]),
        ("colectors: []", ["colectors"]),
        ("collectors:\n  - { name: a, kind: http_json, base_url: 'http://x/', interval_seconds: 1, breaker: { open_timeout_seconds: 600, max_open_timeout_seconds: 60 } }",
         ["collectors[0].breaker.max_open_timeout_seconds"]),
    ])
    func checkConfigInvalid(yaml: String, fields: [String]) async throws {
        let path = try writeConfig(yaml)
        let result = try await breakwater(["check-config", "--config", path])
        #expect(result.exitCode == 2)
        for field in fields { #expect(result.output.contains(field), "missing \(field) in: \(result.output)") }
    }

    @Test("check-config resolves redis.tls as run does: bad settings exit 2 naming them, files this machine lacks are a note", arguments: [
        ("{ url: 'rediss://cache:6380', tls: { verify: sometimes } }", 2, "redis.tls.verify must be full or none"),
        ("{ url: 'rediss://cache:6380', tls: { key_file: /k.pem } }", 2, "key_file is set without cert_file"),
        ("{ url: 'rediss://cache:6380', tls: { server_name: 'two words' } }", 2, "server_name"),
        ("{ url: 'redis://cache:6379', tls: { ca_file: /ca.pem } }", 2, "redis.tls: is set but redis.url is not TLS"),
        ("{ url: 'rediss://cache:6380', tls: { ca_file: /nonexistent/ca.pem, server_name: cache.internal } }", 0, "note: redis TLS: cannot read the CA file /nonexistent/ca.pem (No such file or directory)"),
    ])
    func checkConfigTLS(redis: String, exitCode: Int32, message: String) async throws {
        let path = try writeConfig("""
        redis: \(redis)
        collectors:
          - { name: api, kind: http_json, base_url: "http://127.0.0.1:1/x", interval_seconds: 0.2 }
        """)
        let result = try await breakwater(["check-config", "--config", path])
        #expect(result.exitCode == exitCode, "\(result.output)")
        #expect(result.output.contains(message), "\(result.output)")
    }

    @Test("check-config refuses an API key HTTP cannot carry, naming the variable and never the key")
    func checkConfigHeaderUnsafeKey() async throws {
        let path = try writeConfig("""
        collectors:
          - { name: api, kind: moralis, base_url: "http://127.0.0.1:1/x", interval_seconds: 1, api_key_env: BW_TEST_KEY, params: { address: "0x6b175474e89094c44da98b954eedeac495271d0f" } }
        """)
        let bad = try await breakwater(["check-config", "--config", path], environment: ["BW_TEST_KEY": "Qk7Zp2Xw\nVb9Ty4Lm"])
        #expect(bad.exitCode == 2)
        #expect(bad.output.contains("BW_TEST_KEY") && bad.output.contains("line break"), "\(bad.output)")
        #expect(!bad.output.contains("Qk7Zp2Xw") && !bad.output.contains("Vb9Ty4Lm"), "the key is in the output: \(bad.output)")
        let good = try await breakwater(["check-config", "--config", path], environment: ["BW_TEST_KEY": "Qk7Zp2XwVb9Ty4Lm"])
        #expect(good.exitCode == 0, "\(good.output)")
        let unset = try await breakwater(["check-config", "--config", path])
        #expect(unset.exitCode == 0 && unset.output.contains("BW_TEST_KEY is not set here"), "\(unset.output)")
    }

    @Test("a missing config file is a usage error (exit 2) naming the file")
    func missingConfig() async throws {
        let result = try await breakwater(["run", "--config", "/nonexistent/breakwater.yaml"])
        #expect(result.exitCode == 2)
        #expect(result.output.contains("/nonexistent/breakwater.yaml"))
    }

    @Test("usage errors exit 2", arguments: [["frobnicate"], ["status", "--bogus"], ["force-open"], ["status", "bad:name"]])
    func usageErrors(arguments: [String]) async throws {
        let result = try await breakwater(arguments)
        #expect(result.exitCode == 2, "\(arguments): \(result.output)")
    }

    @Test("--redis-url is global: it may come before the subcommand")
    func globalRedisURL() async throws {
        let port = try RedisServerProcess.freePort()
        for arguments in [["--redis-url", "redis://127.0.0.1:\(port)", "list"], ["--redis-url=redis://127.0.0.1:\(port)", "status"]] {
            let result = try await breakwater(arguments)
            #expect(result.exitCode == 1, "\(arguments): \(result.output)")
            #expect(result.output.contains("127.0.0.1:\(port)"))
        }
    }

    @Test("an unreachable Redis exits 1 with a one-line reason")
    func redisUnreachable() async throws {
        let port = try RedisServerProcess.freePort()
        for arguments in [["status"], ["list"], ["force-open", "x"], ["watch", "--duration", "1"]] {
            let result = try await breakwater(arguments + ["--redis-url", "redis://127.0.0.1:\(port)"])
            #expect(result.exitCode == 1, "\(arguments): \(result.output)")
            #expect(result.output.contains("127.0.0.1:\(port)"))
            #expect(result.output.split(separator: "\n").count == 1)
        }
    }

    @Test("force-open, status, list, force-close and reset work on the stored state")
    func manualControlAndStatus() async throws {
        let name = uniqueName("manual")
        try await withKeysDeleted(["cb_state:" + name], pool: pool) {
            let opened = try await breakwater(["force-open", name])
            #expect(opened.exitCode == 0)
            #expect(opened.output.contains("state open"))
            #expect(try await pool.execute("HGET", "cb_state:" + name, "forced").string == "open")

            let status = try await breakwater(["status", name])
            #expect(status.exitCode == 0)
            #expect(status.output.contains("NAME"))
            let row = try #require(status.output.split(separator: "\n").first { $0.hasPrefix(name) })
            #expect(row.contains(" open ") && row.contains("open"))

            let json = try await breakwater(["status", name, "--json"])
            let array = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
            #expect(array.first?["name"] as? String == name)
            #expect(array.first?["state"] as? String == "open")
            #expect(array.first?["version"] as? Int == 1)
            #expect((array.first?["ttl_seconds"] as? Int ?? 0) > 86_000)

            let list = try await breakwater(["list", "--json"])
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]])
            #expect(listed.contains { $0["name"] as? String == name })

            #expect(try await breakwater(["force-close", name]).output.contains("state closed, forced closed, version 2"))
            #expect(try await breakwater(["reset", name]).output.contains("state closed, forced -, version 3"))
            let missing = try await breakwater(["status", uniqueName("never")])
            #expect(missing.exitCode == 1)
            #expect(missing.output.contains("no state in Redis"))
        }
    }

    @Test("watch prints one line per transition")
    func watchPrintsTransitions() async throws {
        let name = uniqueName("watch")
        try await withKeysDeleted(["cb_state:" + name], pool: pool) {
            var env = ProcessInfo.processInfo.environment
            env["REDIS_URL"] = ProcessInfo.processInfo.environment["REDIS_URL"]
            let watcher = try ChildProcess(Built.breakwater, ["watch", name, "--duration", "60"], environment: ["REDIS_URL": env["REDIS_URL"] ?? ""])
            #expect(await eventually(timeout: .seconds(15)) { watcher.output.contains("watching") })
            _ = try await breakwater(["force-open", name])
            _ = try await breakwater(["reset", name])
            #expect(await eventually(timeout: .seconds(30)) { watcher.output.contains("open -> closed") })
            watcher.stop(signal: SIGINT)
            let lines = watcher.output.split(separator: "\n").filter { $0.contains(" \(name) ") && $0.contains(" -> ") }
            #expect(lines.count == 2)
            #expect(lines.first?.contains("closed -> open v1 by cli@") == true)
            #expect(lines.first?.contains("(forced_open)") == true)
        }
    }
}
