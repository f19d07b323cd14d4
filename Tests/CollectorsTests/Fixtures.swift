import Collectors
import Foundation

/// Loads files from `Tests/CollectorsTests/Fixtures`, found relative to this source file
/// (Package.swift declares no resources). Symlinks are resolved so a dev package that links
/// the test directory still finds the real files.
enum Fixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .resolvingSymlinksInPath()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The repository root (two levels above this test directory).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .resolvingSymlinksInPath()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func source(
        _ kind: SourceKind, name: String? = nil, params: [String: String] = [:], apiKey: String? = "test-key",
        baseURL: String = "https://api.example.com"
    ) -> SourceDefinition {
        SourceDefinition(name: name, kind: kind, baseURL: URL(string: baseURL)!, apiKey: apiKey, params: params)
    }
}
