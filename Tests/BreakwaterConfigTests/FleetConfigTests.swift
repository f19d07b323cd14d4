import Collectors
import BreakerCore
import BreakwaterConfig
import Foundation
import Testing

@Suite("Validating fleet collection settings (schedule, rate_limit, retries)")
struct FleetConfigTests {
    static let cases: [InvalidCase] = [
        InvalidCase(label: "rate limit of 0 requests", collector: ["rate_limit": "{ requests: 0, per_seconds: 5 }"],
                    path: "collectors[0].rate_limit.requests", reason: "must be an integer between 1 and 10000 (got 0)"),
        InvalidCase(label: "negative rate limit", collector: ["rate_limit": "{ requests: -3, per_seconds: 5 }"],
                    path: "collectors[0].rate_limit.requests", reason: "(got -3)"),
        InvalidCase(label: "rate limit period of 0", collector: ["rate_limit": "{ requests: 10, per_seconds: 0 }"],
                    path: "collectors[0].rate_limit.per_seconds", reason: "must be a number > 0"),
        InvalidCase(label: "rate limit period over a day", collector: ["rate_limit": "{ requests: 10, per_seconds: 90000 }"],
                    path: "collectors[0].rate_limit.per_seconds", reason: "at most 86400"),
        InvalidCase(label: "rate limit without requests", collector: ["rate_limit": "{ per_seconds: 5 }"],
                    path: "collectors[0].rate_limit.requests", reason: "is required"),
        InvalidCase(label: "rate limit with an unknown key", collector: ["rate_limit": "{ requests: 1, per_seconds: 5, burst: 2 }"],
                    path: "collectors[0].rate_limit.burst", reason: "unknown key"),
        InvalidCase(label: "rate limit group with a space", collector: ["rate_limit": "{ requests: 1, per_seconds: 5, group: \"my key\" }"],
                    path: "collectors[0].rate_limit.group", reason: "must match"),
        InvalidCase(label: "unknown schedule", collector: ["schedule": "everyone"],
                    path: "collectors[0].schedule", reason: "unknown schedule \"everyone\" (expected one of: fleet, per_instance)"),
        InvalidCase(label: "too many retries", collector: ["retries": "11"],
                    path: "collectors[0].retries", reason: "must be an integer between 0 and 10 (got 11)"),
        InvalidCase(label: "fractional retries", collector: ["retries": "1.5"],
                    path: "collectors[0].retries", reason: "must be an integer"),
    ]

    @Test("each invalid fleet setting is reported with its path and reason", arguments: cases)
    func invalidField(_ invalid: InvalidCase) throws {
        let error = try #require(throws: ConfigError.self) { try BreakwaterConfiguration.parse(yaml: invalid.yaml) }
        let matching = error.problems.filter { $0.path == invalid.path }
        #expect(matching.contains { $0.reason.contains(invalid.reason) }, "got:\n\(error)")
    }

    @Test("defaults: fleet schedule, 2 retries, no rate limit; a group defaults to the collector's name")
    func defaults() throws {
        let plain = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document())
        #expect(plain.collectors[0].schedule == .fleet)
        #expect(plain.collectors[0].retries == 2)
        #expect(plain.collectors[0].rateLimit == nil)
        let limited = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: [
            "rate_limit": "{ requests: 10, per_seconds: 2.5 }", "schedule": "per_instance", "retries": "0",
        ]))
        #expect(limited.collectors[0].rateLimit == RateLimitSettings(requests: 10, period: .milliseconds(2500), group: "moralis"))
        #expect(limited.collectors[0].schedule == .perInstance)
        #expect(limited.collectors[0].retries == 0)
    }

    @Test("a group shared by collectors of different kinds is rejected; the same kind may share it")
    func groupKinds() throws {
        func document(secondKind: String, params: String) -> String {
            """
            collectors:
              - { name: a, kind: twitter, base_url: "https://api.x.com", api_key_env: X, interval_seconds: 1, params: { query: btc },
                  rate_limit: { requests: 10, per_seconds: 5, group: xkey } }
              - { name: b, kind: \(secondKind), base_url: "https://api.x.com", api_key_env: X, interval_seconds: 1, params: \(params),
                  rate_limit: { requests: 10, per_seconds: 5, group: xkey } }
            """
        }
        let error = try #require(throws: ConfigError.self) {
            try BreakwaterConfiguration.parse(yaml: document(secondKind: "reddit", params: "{ subreddit: Bitcoin }"))
        }
        let problem = try #require(error.problems.first { $0.path == "collectors[1].rate_limit.group" }, "got:\n\(error)")
        #expect(problem.reason.contains("shared by collectors of different kinds (twitter in collectors[0], reddit here)"))
        let shared = try BreakwaterConfiguration.parse(yaml: document(secondKind: "twitter", params: "{ query: eth }"))
        #expect(shared.collectors.map(\.rateLimit?.group) == ["xkey", "xkey"])
    }
}
