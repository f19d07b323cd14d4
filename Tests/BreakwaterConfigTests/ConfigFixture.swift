/// Builds small YAML documents: a valid baseline with chosen keys replaced or removed.
enum ConfigFixture {
    /// Top-level keys of the baseline, in order.
    static let topDefaults: [(String, String)] = [
        ("instance_id", "onchain-1"),
        ("redis", "{ url: \"redis://127.0.0.1:6379\" }"),
        ("http", "{ listen: \"127.0.0.1:9464\" }"),
    ]

    /// Collector keys of the baseline (a valid Moralis collector), in order.
    static let collectorDefaults: [(String, String)] = [
        ("name", "moralis"),
        ("kind", "moralis"),
        ("base_url", "https://deep-index.moralis.io/api/v2.2"),
        ("api_key_env", "MORALIS_API_KEY"),
        ("interval_seconds", "30"),
        ("params", "{ address: \"0xabc\", chain: eth }"),
    ]

    /// A document whose top-level and first-collector keys are overridden.
    ///
    /// - Parameters:
    ///   - top: Top-level overrides; `nil` removes the key, a new key is appended. A
    ///     `collectors` entry replaces the generated list.
    ///   - collector: Collector overrides, same rules.
    static func document(top: [String: String?] = [:], collector: [String: String?] = [:]) -> String {
        var lines: [String] = []
        for (key, value) in merge(topDefaults, top.filter { $0.key != "collectors" }) {
            lines.append("\(key): \(value)")
        }
        if let collectors = top["collectors"] {
            if let collectors { lines.append("collectors: \(collectors)") }
        } else {
            lines.append("collectors:")
            lines.append(contentsOf: collectorLines(collector))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The lines of one list item for a collector with overrides.
    static func collectorLines(_ overrides: [String: String?]) -> [String] {
        merge(collectorDefaults, overrides).enumerated().map { index, pair in
            (index == 0 ? "  - " : "    ") + "\(pair.0): \(pair.1)"
        }
    }

    private static func merge(_ defaults: [(String, String)], _ overrides: [String: String?]) -> [(String, String)] {
        var result: [(String, String)] = []
        for (key, value) in defaults {
            if let override = overrides[key] {
                if let override { result.append((key, override)) }
            } else {
                result.append((key, value))
            }
        }
        for key in overrides.keys.sorted() where !defaults.contains(where: { $0.0 == key }) {
            if let value = overrides[key] ?? nil { result.append((key, value)) }
        }
        return result
    }
}
