import Collectors
import BreakerCore
import BreakwaterConfig
import Foundation
import Testing

/// Config values and secrets are outside input: every number has a documented range the
/// shared store can honour, and a secret HTTP cannot carry is refused without being shown.
@Suite("Config bounds and header-safe secrets")
struct UntrustedConfigTests {
    func collector(_ apiKey: SecretSource?) -> CollectorConfiguration {
        CollectorConfiguration(name: "moralis", kind: .moralis, baseURL: URL(string: "https://example.com")!, apiKey: apiKey, interval: .seconds(1))
    }

    @Test("an API key with a control character inside is refused, naming where it lives and not its value",
          arguments: ["abc\ndef", "abc\r\ndef", "abc\u{0}def", "abc\u{7F}def", "abc\tdef"])
    func controlCharacterInKey(value: String) throws {
        let error = try #require(throws: ConfigError.self) {
            _ = try collector(.environment("MORALIS_API_KEY")).resolveSecret(environment: ["MORALIS_API_KEY": value])
        }
        #expect(error.description.contains("MORALIS_API_KEY"))
        #expect(!error.description.contains("abc") && !error.description.contains("def"), "the key is in: \(error)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bw-key-\(UUID().uuidString)").path
        try value.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fileError = try #require(throws: ConfigError.self) { _ = try collector(.file(path)).resolveSecret(environment: [:]) }
        #expect(fileError.description.contains(path) && !fileError.description.contains("abc"))
    }

    @Test("max_pause_seconds bounds a Retry-After; it defaults to a day")
    func maxPause() throws {
        let defaulted = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document())
        #expect(defaulted.collectors[0].maximumPause == .seconds(86_400))
        let set = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: ["max_pause_seconds": "3600"]))
        #expect(set.collectors[0].maximumPause == .seconds(3600))
        for bad in ["0", "-5", "1e20", "inf", ".nan", "abc"] {
            #expect(throws: ConfigError.self, "max_pause_seconds: \(bad)") {
                _ = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: ["max_pause_seconds": bad]))
            }
        }
    }

    @Test("a duration under a millisecond is refused (the store counts whole milliseconds)",
          arguments: ["interval_seconds", "timeout_seconds", "max_pause_seconds"])
    func subMillisecond(key: String) throws {
        let error = try #require(throws: ConfigError.self) {
            _ = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: [key: "1e-10"]))
        }
        #expect(error.description.contains(key) && error.description.contains("at least 0.001"), "\(error)")
    }

    @Test("counts beyond what the shared store bounds are refused with the field and the limit", arguments: [
        ("failure_threshold", "10001", "must be <= 10000"), ("half_open_max_calls", "1001", "must be <= 1000"),
        ("trip_quorum", "101", "must be <= 100"), ("failure_threshold", "9223372036854775807", "must be <= 10000"),
    ])
    func breakerCeilings(key: String, value: String, message: String) throws {
        let error = try #require(throws: ConfigError.self) {
            _ = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(collector: ["breaker": "{ \(key): \(value) }"]))
        }
        #expect(error.description.contains(key) && error.description.contains(message), "\(error)")
    }
}
