import Collectors
import BreakerCore
import BreakwaterConfig
import Foundation
import Testing

@Suite("Resolving secrets")
struct SecretResolutionTests {
    func collector(_ apiKey: SecretSource?) -> CollectorConfiguration {
        CollectorConfiguration(
            name: "moralis", kind: .moralis, baseURL: URL(string: "https://example.com")!,
            apiKey: apiKey, interval: .seconds(1)
        )
    }

    func temporaryFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bw-secret-\(UUID().uuidString)").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("an API key comes from the named environment variable, trimmed")
    func fromEnvironment() throws {
        let key = try collector(.environment("MORALIS_API_KEY")).resolveSecret(environment: ["MORALIS_API_KEY": "  abc123\n"])
        #expect(key == "abc123")
    }

    @Test("an API key comes from a file, with the trailing newline trimmed")
    func fromFile() throws {
        let path = try temporaryFile("file-secret-value\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try collector(.file(path)).resolveSecret(environment: [:]) == "file-secret-value")
    }

    @Test("a collector without a key source resolves to nil")
    func noKey() throws {
        #expect(try collector(nil).resolveSecret(environment: [:]) == nil)
    }

    @Test("a missing environment variable names the collector and the variable")
    func missingEnvironment() throws {
        let error = try #require(throws: ConfigError.self) {
            try collector(.environment("MORALIS_API_KEY")).resolveSecret(environment: ["OTHER": "x"])
        }
        #expect(error.problems.count == 1)
        #expect(error.description.contains("MORALIS_API_KEY is not set"))
        #expect(error.description.contains("collector \"moralis\""))
    }

    @Test("an empty environment variable is an error too")
    func emptyEnvironment() throws {
        let error = try #require(throws: ConfigError.self) {
            try collector(.environment("K")).resolveSecret(environment: ["K": "  "])
        }
        #expect(error.description.contains("K is empty"))
    }

    @Test("a missing secret file names the file and the collector")
    func missingFile() throws {
        let path = "/nonexistent/secret-\(UUID().uuidString)"
        let error = try #require(throws: ConfigError.self) { try collector(.file(path)).resolveSecret(environment: [:]) }
        #expect(error.description.contains("secret file \(path) does not exist"))
        #expect(error.description.contains("collector \"moralis\""))
    }

    @Test("errors and descriptions never contain the secret value")
    func secretNeverPrinted() throws {
        let path = try temporaryFile("   \n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let emptyFile = try #require(throws: ConfigError.self) { try collector(.file(path)).resolveSecret(environment: [:]) }
        #expect(emptyFile.description.contains("is empty"))

        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document())
        let secret = "sk-live-very-secret"
        #expect(try config.collectors[0].resolveSecret(environment: ["MORALIS_API_KEY": secret]) == secret)
        #expect(!config.description.contains(secret))
        #expect(!String(describing: config.collectors[0]).contains(secret))
    }

    @Test("the Redis password can come from a file")
    func redisPassword() throws {
        let path = try temporaryFile("redis-pw")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try BreakwaterConfiguration.parse(yaml: ConfigFixture.document(top: ["redis": "{ password_file: \(path) }"]))
        #expect(config.redis.password == .file(path))
        #expect(try config.redis.password?.resolveSecret(environment: [:]) == "redis-pw")
    }
}
