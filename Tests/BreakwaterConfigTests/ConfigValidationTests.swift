import Collectors
import BreakerCore
import BreakwaterConfig
import Foundation
import Testing

/// One invalid document and the problem it must produce.
struct InvalidCase: Sendable, CustomTestStringConvertible {
    var label: String
    var top: [String: String?] = [:]
    var collector: [String: String?] = [:]
    var path: String
    var reason: String

    var testDescription: String { label }

    var yaml: String { ConfigFixture.document(top: top, collector: collector) }
}

@Suite("Validating configuration")
struct ConfigValidationTests {
    static let cases: [InvalidCase] = [
        InvalidCase(label: "instance_id with a space", top: ["instance_id": "\"bad id\""],
                    path: "instance_id", reason: "contains byte 0x20 (no ':', ',', '#', spaces or control characters) (got \"bad id\")"),
        InvalidCase(label: "redis.url with an http scheme", top: ["redis": "{ url: \"http://redis:6379\" }"],
                    path: "redis.url", reason: "must be redis://"),
        InvalidCase(label: "redis password from env and file", top: ["redis": "{ password_env: A, password_file: /b }"],
                    path: "redis.password_file", reason: "mutually exclusive"),
        InvalidCase(label: "http.listen without a port", top: ["http": "{ listen: localhost }"],
                    path: "http.listen", reason: "expected host:port"),
        InvalidCase(label: "http.listen with a port out of range", top: ["http": "{ listen: \"127.0.0.1:99999\" }"],
                    path: "http.listen", reason: "expected host:port"),
        InvalidCase(label: "http.listen with a bare IPv6 address", top: ["http": "{ listen: \"::1:80\" }"],
                    path: "http.listen", reason: "expected host:port"),
        InvalidCase(label: "collectors is not a list", top: ["collectors": "{ name: x }"],
                    path: "collectors", reason: "must be a list (got a mapping)"),
        InvalidCase(label: "collectors is empty", top: ["collectors": "[]"],
                    path: "collectors", reason: "must list at least one collector"),
        InvalidCase(label: "collectors missing", top: ["collectors": nil],
                    path: "collectors", reason: "is required"),
        InvalidCase(label: "name missing", collector: ["name": nil],
                    path: "collectors[0].name", reason: "is required"),
        InvalidCase(label: "name with a slash", collector: ["name": "\"a/b\""],
                    path: "collectors[0].name", reason: "must match"),
        InvalidCase(label: "name starting with a dot", collector: ["name": ".hidden"],
                    path: "collectors[0].name", reason: "must match"),
        InvalidCase(label: "name longer than 128 characters", collector: ["name": String(repeating: "a", count: 129)],
                    path: "collectors[0].name", reason: "must match"),
        InvalidCase(label: "kind unknown", collector: ["kind": "foo"],
                    path: "collectors[0].kind",
                    reason: "unknown kind \"foo\" (expected one of: moralis, glassnode, twitter, reddit, lunarcrush, http_json)"),
        InvalidCase(label: "kind missing", collector: ["kind": nil],
                    path: "collectors[0].kind", reason: "is required"),
        InvalidCase(label: "base_url with ftp scheme", collector: ["base_url": "ftp://example.com"],
                    path: "collectors[0].base_url", reason: "must be an absolute http:// or https:// URL"),
        InvalidCase(label: "base_url relative", collector: ["base_url": "/api/v2"],
                    path: "collectors[0].base_url", reason: "must be an absolute http:// or https:// URL"),
        InvalidCase(label: "base_url missing", collector: ["base_url": nil],
                    path: "collectors[0].base_url", reason: "is required"),
        InvalidCase(label: "api key from env and file", collector: ["api_key_file": "/run/secrets/k"],
                    path: "collectors[0].api_key_file", reason: "mutually exclusive"),
        InvalidCase(label: "api key missing for moralis", collector: ["api_key_env": nil],
                    path: "collectors[0].api_key_env", reason: "kind moralis needs an API key"),
        InvalidCase(label: "interval_seconds zero", collector: ["interval_seconds": "0"],
                    path: "collectors[0].interval_seconds", reason: "must be a number > 0 and <= 31536000 (got 0)"),
        InvalidCase(label: "interval_seconds negative", collector: ["interval_seconds": "-1.5"],
                    path: "collectors[0].interval_seconds", reason: "(got -1.5)"),
        InvalidCase(label: "interval_seconds a word", collector: ["interval_seconds": "fast"],
                    path: "collectors[0].interval_seconds", reason: "(got \"fast\")"),
        InvalidCase(label: "interval_seconds missing", collector: ["interval_seconds": nil],
                    path: "collectors[0].interval_seconds", reason: "is required"),
        InvalidCase(label: "timeout_seconds zero", collector: ["timeout_seconds": "0"],
                    path: "collectors[0].timeout_seconds", reason: "must be a number > 0"),
        InvalidCase(label: "stream_maxlen zero", collector: ["stream_maxlen": "0"],
                    path: "collectors[0].stream_maxlen", reason: "must be an integer >= 1 (got 0)"),
        InvalidCase(label: "params not a mapping", collector: ["params": "[a, b]"],
                    path: "collectors[0].params", reason: "must be a mapping (got a list)"),
        InvalidCase(label: "params with an unknown key", collector: ["params": "{ address: \"0xabc\", colour: red }"],
                    path: "collectors[0].params.colour", reason: "unknown key for kind moralis (expected: address, chain)"),
        InvalidCase(label: "params missing moralis address", collector: ["params": "{ chain: eth }"],
                    path: "collectors[0].params.address", reason: "is required for kind moralis"),
        InvalidCase(label: "params for http_json", collector: ["kind": "http_json", "params": "{ query: x }"],
                    path: "collectors[0].params.query", reason: "kind http_json takes no params"),
        InvalidCase(label: "lunarcrush topic endpoint without topic",
                    collector: ["kind": "lunarcrush", "params": "{ endpoint: topic }"],
                    path: "collectors[0].params.topic", reason: "is required when endpoint is topic"),
        InvalidCase(label: "lunarcrush unknown endpoint",
                    collector: ["kind": "lunarcrush", "params": "{ endpoint: news }"],
                    path: "collectors[0].params.endpoint", reason: "unknown endpoint \"news\""),
        InvalidCase(label: "reddit subreddit with r/ prefix",
                    collector: ["kind": "reddit", "params": "{ subreddit: r/Bitcoin }"],
                    path: "collectors[0].params.subreddit", reason: "must be a subreddit name"),
        InvalidCase(label: "glassnode metric missing",
                    collector: ["kind": "glassnode", "params": "{ asset: BTC }"],
                    path: "collectors[0].params.metric", reason: "is required for kind glassnode"),
        InvalidCase(label: "breaker not a mapping", collector: ["breaker": "5"],
                    path: "collectors[0].breaker", reason: "must be a mapping (got 5)"),
        InvalidCase(label: "failure_threshold zero", collector: ["breaker": "{ failure_threshold: 0 }"],
                    path: "collectors[0].breaker.failure_threshold", reason: "must be an integer >= 1 (got 0)"),
        InvalidCase(label: "failure_threshold fractional", collector: ["breaker": "{ failure_threshold: 2.5 }"],
                    path: "collectors[0].breaker.failure_threshold", reason: "must be an integer >= 1 (got 2.5)"),
        InvalidCase(label: "failure_threshold quoted", collector: ["breaker": "{ failure_threshold: \"5\" }"],
                    path: "collectors[0].breaker.failure_threshold", reason: "must be an integer >= 1 (got \"5\")"),
        InvalidCase(label: "open_timeout_seconds zero", collector: ["breaker": "{ open_timeout_seconds: 0 }"],
                    path: "collectors[0].breaker.open_timeout_seconds", reason: "must be a number >= 0.001"),
        // Below a millisecond the timeout would be 0 ms in Redis (a write on every call).
        InvalidCase(label: "open_timeout_seconds below a millisecond", collector: ["breaker": "{ open_timeout_seconds: 0.0001 }"],
                    path: "collectors[0].breaker.open_timeout_seconds", reason: "must be a number >= 0.001 and <= 31536000 (got 0.0001)"),
        InvalidCase(label: "half_open_max_calls zero", collector: ["breaker": "{ half_open_max_calls: 0 }"],
                    path: "collectors[0].breaker.half_open_max_calls", reason: "must be an integer >= 1 (got 0)"),
        InvalidCase(label: "half_open_success_threshold above max calls",
                    collector: ["breaker": "{ half_open_success_threshold: 4 }"],
                    path: "collectors[0].breaker.half_open_success_threshold", reason: "must be <= half_open_max_calls (3) (got 4)"),
        InvalidCase(label: "backoff_multiplier below one", collector: ["breaker": "{ backoff_multiplier: 0.5 }"],
                    path: "collectors[0].breaker.backoff_multiplier", reason: "must be a number >= 1 and <= 1000 (got 0.5)"),
        InvalidCase(label: "max_open_timeout below open timeout", collector: ["breaker": "{ max_open_timeout_seconds: 100 }"],
                    path: "collectors[0].breaker.max_open_timeout_seconds", reason: "must be >= open_timeout_seconds (300) (got 100)"),
        InvalidCase(label: "trip_quorum zero", collector: ["breaker": "{ trip_quorum: 0 }"],
                    path: "collectors[0].breaker.trip_quorum", reason: "must be an integer >= 1 (got 0)"),
        InvalidCase(label: "mode unknown", collector: ["breaker": "{ mode: dry-run }"],
                    path: "collectors[0].breaker.mode", reason: "unknown mode \"dry-run\" (expected one of: enforce, shadow)"),
        InvalidCase(label: "on_store_failure unknown", collector: ["breaker": "{ on_store_failure: sometimes }"],
                    path: "collectors[0].breaker.on_store_failure",
                    reason: "unknown policy \"sometimes\" (expected one of: local, fail_closed, fail_open)"),
        InvalidCase(label: "failure window seconds without count", collector: ["breaker": "{ failure_window_seconds: 60 }"],
                    path: "collectors[0].breaker.failure_window_count", reason: "is required with failure_window_seconds"),
        InvalidCase(label: "failure window count zero",
                    collector: ["breaker": "{ failure_window_seconds: 60, failure_window_count: 0 }"],
                    path: "collectors[0].breaker.failure_window_count", reason: "must be an integer >= 1 (got 0)"),
        InvalidCase(label: "failure_rate_percent above 100", collector: ["breaker": "{ failure_rate_percent: 150 }"],
                    path: "collectors[0].breaker.failure_rate_percent", reason: "must be a number > 0 and <= 100 (got 150)"),
        InvalidCase(label: "rate window without a rate", collector: ["breaker": "{ rate_window_calls: 20 }"],
                    path: "collectors[0].breaker.rate_window_calls", reason: "only applies with failure_rate_percent"),
        InvalidCase(label: "rate window by calls and by time",
                    collector: ["breaker": "{ failure_rate_percent: 50, rate_window_calls: 20, rate_window_seconds: 60 }"],
                    path: "collectors[0].breaker.rate_window_seconds", reason: "mutually exclusive"),
        InvalidCase(label: "minimum_calls above the call window",
                    collector: ["breaker": "{ failure_rate_percent: 50, rate_window_calls: 20, minimum_calls: 30 }"],
                    path: "collectors[0].breaker.minimum_calls", reason: "must be <= rate_window_calls (20) (got 30)"),
        InvalidCase(label: "slow-call rate without slow_call_seconds", collector: ["breaker": "{ slow_call_rate_percent: 50 }"],
                    path: "collectors[0].breaker.slow_call_seconds", reason: "is required with slow_call_rate_percent"),
        InvalidCase(label: "minimum_open_seconds negative", collector: ["breaker": "{ minimum_open_seconds: -5 }"],
                    path: "collectors[0].breaker.minimum_open_seconds", reason: "must be a number > 0"),
        InvalidCase(label: "half_open_max_wait_seconds a word", collector: ["breaker": "{ half_open_max_wait_seconds: soon }"],
                    path: "collectors[0].breaker.half_open_max_wait_seconds", reason: "(got \"soon\")"),
        InvalidCase(label: "unknown top-level key", top: ["colour": "blue"],
                    path: "colour", reason: "unknown key"),
        InvalidCase(label: "unknown collector key", collector: ["colour": "blue"],
                    path: "collectors[0].colour", reason: "unknown key"),
        InvalidCase(label: "unknown breaker key", collector: ["breaker": "{ colour: blue }"],
                    path: "collectors[0].breaker.colour", reason: "unknown key"),
        InvalidCase(label: "unknown redis key", top: ["redis": "{ host: localhost }"],
                    path: "redis.host", reason: "unknown key"),
        InvalidCase(label: "unknown http key", top: ["http": "{ listen: \"127.0.0.1:1\", tls: true }"],
                    path: "http.tls", reason: "unknown key"),
    ]

    @Test("each invalid field is reported with its path and reason", arguments: cases)
    func invalidField(_ invalid: InvalidCase) throws {
        let error = try #require(throws: ConfigError.self) {
            try BreakwaterConfiguration.parse(yaml: invalid.yaml)
        }
        let matching = error.problems.filter { $0.path == invalid.path }
        #expect(!matching.isEmpty, "no problem at \(invalid.path); got:\n\(error)")
        #expect(matching.contains { $0.reason.contains(invalid.reason) }, "got:\n\(error)")
    }

    @Test("the baseline document used by the invalid cases is itself valid")
    func baselineIsValid() throws {
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document())
        #expect(config.collectors.count == 1)
    }

    @Test("every problem in a document is reported together, in one error")
    func multipleProblems() throws {
        let yaml = """
            http: { listen: nowhere }
            collectors:
              - name: ok
                kind: foo
                base_url: https://example.com
                interval_seconds: 1
              - name: second
                kind: http_json
                base_url: https://example.com
                interval_seconds: 0
                breaker: { failure_threshold: 0, backoff_multiplier: 0.5 }
              - name: third
                kind: http_json
                base_url: https://example.com
                interval_seconds: 1
                colour: red
            """
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: yaml) }
        let lines = error.description.split(separator: "\n").map(String.init)
        #expect(lines.contains("http.listen: expected host:port with a port in 0-65535 (got \"nowhere\")"))
        #expect(lines.contains { $0.hasPrefix("collectors[0].kind: unknown kind \"foo\" (expected one of: ") })
        #expect(lines.contains("collectors[1].interval_seconds: must be a number > 0 and <= 31536000 (got 0)"))
        #expect(lines.contains("collectors[1].breaker.failure_threshold: must be an integer >= 1 (got 0)"))
        #expect(lines.contains("collectors[1].breaker.backoff_multiplier: must be a number >= 1 and <= 1000 (got 0.5)"))
        #expect(lines.contains("collectors[2].colour: unknown key"))
        #expect(error.problems.count == 6, "got:\n\(error)")
    }

    @Test("two collectors with the same name are rejected")
    func duplicateNames() throws {
        let collectors = ConfigFixture.collectorLines([:]) + ConfigFixture.collectorLines([:])
        let yaml = "collectors:\n" + collectors.joined(separator: "\n")
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: yaml) }
        #expect(error.problems == [ConfigProblem(path: "collectors[1].name", reason: "duplicate name \"moralis\" (also collectors[0])")])
    }

    @Test("a YAML syntax error is a ConfigError with a position and without the file's text")
    func syntaxError() throws {
        let yaml = "redis: { url: \"redis://:s3cret@h:1\"\ncollectors: [\n"
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: yaml) }
        #expect(error.problems.count == 1)
        #expect(error.problems[0].path == "(file)")
        #expect(error.problems[0].reason.hasPrefix("invalid YAML: "))
        #expect(!error.description.contains("s3cret"))
    }

    @Test("a document that is not a mapping is rejected")
    func rootNotMapping() throws {
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: "- a\n- b\n") }
        #expect(error.problems == [ConfigProblem(path: "(root)", reason: "must be a mapping (got a list)")])
    }

    @Test("an empty document reports the missing collectors list")
    func emptyDocument() throws {
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: "") }
        #expect(error.problems.map(\.path) == ["collectors"])
    }

    @Test("a missing file is a ConfigError naming the path")
    func missingFile() throws {
        let path = "/nonexistent/breakwater-\(UUID().uuidString).yaml"
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.load(path: path) }
        #expect(error.problems == [ConfigProblem(path: "(file)", reason: "config file \(path) does not exist")])
    }

    @Test("a directory given as the config file is a ConfigError")
    func directoryAsFile() throws {
        let path = FileManager.default.temporaryDirectory.path
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.load(path: path) }
        #expect(error.problems.first?.reason.contains("is a directory") == true)
    }
}
