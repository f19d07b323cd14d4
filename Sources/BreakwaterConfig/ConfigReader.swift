import Foundation
import Yams

/// Walks a composed YAML tree and collects every problem instead of stopping at the first.
///
/// Each accessor returns `nil` (and records a problem) when the value is missing, of the
/// wrong type or out of range, so callers can carry on validating the rest of the file.
struct ConfigReader {
    /// Problems found so far.
    private(set) var problems: [ConfigProblem] = []

    /// Records a problem.
    mutating func report(_ path: String, _ reason: String) {
        problems.append(ConfigProblem(path: path, reason: reason))
    }

    /// Joins a parent path and a key.
    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// How a node is shown in a "(got …)" suffix. Strings are quoted, collections summarised.
    static func render(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            let name = tagName(node)
            if name == .null { return "null" }
            let text = scalar.string.count > 60 ? String(scalar.string.prefix(57)) + "..." : scalar.string
            return name == .str ? "\"\(text)\"" : text
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Whether the node is an explicit or implicit YAML null.
    static func isNull(_ node: Node) -> Bool {
        if case .scalar = node { return tagName(node) == .null }
        return false
    }

    /// The resolved YAML tag of a node (`str`, `int`, `float`, `bool`, `null`, …).
    static func tagName(_ node: Node) -> Tag.Name {
        Tag.Name(rawValue: node.tag.rawValue)
    }

    /// Reads a mapping whose keys are strings, reporting unknown and duplicate keys.
    ///
    /// - Parameters:
    ///   - node: The node to read.
    ///   - path: Its field path.
    ///   - allowed: Allowed keys, or `nil` to accept any string key.
    /// - Returns: Known keys to values, or `nil` when the node is not a mapping.
    ///   - hint: Appended to "unknown key" messages, e.g. ` for kind moralis (expected: address, chain)`.
    mutating func mapping(_ node: Node, at path: String, allowed: [String]?, hint: String = "") -> [String: Node]? {
        guard case .mapping(let mapping) = node else {
            report(path.isEmpty ? "(root)" : path, "must be a mapping (got \(Self.render(node)))")
            return nil
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode, Self.tagName(keyNode) != .null else {
                report(path.isEmpty ? "(root)" : path, "keys must be strings (got \(Self.render(keyNode)))")
                continue
            }
            let key = keyScalar.string
            let keyPath = Self.join(path, key)
            if let allowed, !allowed.contains(key) {
                report(keyPath, "unknown key" + hint)
                continue
            }
            if result[key] != nil {
                report(keyPath, "duplicate key")
                continue
            }
            result[key] = value
        }
        return result
    }

    /// Reads a non-empty string from any scalar (numbers and booleans are taken as written).
    mutating func string(_ node: Node?, at path: String, required: Bool = false) -> String? {
        guard let node, !Self.isNull(node) else {
            if required { report(path, "is required") }
            return nil
        }
        guard case .scalar(let scalar) = node else {
            report(path, "must be a string (got \(Self.render(node)))")
            return nil
        }
        let value = scalar.string.trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else {
            report(path, "must not be empty")
            return nil
        }
        return value
    }

    /// Reads an integer with a lower (and optional upper) bound.
    ///   - ceiling: An upper bound reported on its own ("must be <= N"), for limits that
    ///     protect the shared store rather than describe the setting.
    mutating func integer(_ node: Node?, at path: String, min: Int, max: Int? = nil, ceiling: Int? = nil) -> Int? {
        guard let node, !Self.isNull(node) else { return nil }
        let expectation = max.map { "must be an integer between \(min) and \($0)" } ?? "must be an integer >= \(min)"
        guard case .scalar = node, Self.tagName(node) == .int, let value = node.int else {
            report(path, "\(expectation) (got \(Self.render(node)))")
            return nil
        }
        guard value >= min, value <= (max ?? Int.max) else {
            report(path, "\(expectation) (got \(value))")
            return nil
        }
        if let ceiling, value > ceiling {
            report(path, "must be <= \(ceiling) (got \(value))")
            return nil
        }
        return value
    }

    /// Reads a finite number (integer or decimal) within bounds.
    ///
    /// - Parameters:
    ///   - minExclusive: When true, the value must be strictly greater than `min`.
    mutating func number(
        _ node: Node?, at path: String, min: Double, minExclusive: Bool, max: Double? = nil
    ) -> Double? {
        guard let node, !Self.isNull(node) else { return nil }
        var expectation = "must be a number \(minExclusive ? ">" : ">=") \(Self.format(min))"
        if let max { expectation += " and <= \(Self.format(max))" }
        guard case .scalar = node,
              [Tag.Name.int, .float].contains(Self.tagName(node)),
              let value = node.float, value.isFinite
        else {
            report(path, "\(expectation) (got \(Self.render(node)))")
            return nil
        }
        let aboveMin = minExclusive ? value > min : value >= min
        guard aboveMin, value <= (max ?? .greatestFiniteMagnitude) else {
            report(path, "\(expectation) (got \(Self.format(value)))")
            return nil
        }
        return value
    }

    /// Reads a number of seconds (> 0, at most one year) as a `Duration` rounded to nanoseconds.
    /// A positive value under a millisecond is refused: the shared store and the scripts count
    /// whole milliseconds, where it would be 0.
    mutating func seconds(_ node: Node?, at path: String) -> Duration? {
        guard let value = number(node, at: path, min: 0, minExclusive: true, max: Self.maxSeconds) else { return nil }
        guard value >= 0.001 else {
            report(path, "must be at least 0.001 (1 ms) (got \(Self.format(value)))")
            return nil
        }
        return Self.duration(seconds: value)
    }

    /// Reads a breaker timeout in seconds: at least 1 ms (the shared store keeps whole
    /// milliseconds; a shorter timeout would half-open at once), at most one year.
    mutating func breakerSeconds(_ node: Node?, at path: String) -> Duration? {
        number(node, at: path, min: 0.001, minExclusive: false, max: Self.maxSeconds).map(Self.duration(seconds:))
    }

    /// Reads one of a fixed set of string values.
    mutating func choice<T: RawRepresentable & CaseIterable>(
        _ node: Node?, at path: String, as type: T.Type, what: String
    ) -> T? where T.RawValue == String {
        guard let text = string(node, at: path) else { return nil }
        guard let value = T(rawValue: text) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            report(path, "unknown \(what) \"\(text)\" (expected one of: \(options))")
            return nil
        }
        return value
    }

    /// The longest duration accepted anywhere in the file: one year.
    static let maxSeconds: Double = 31_536_000

    /// Converts seconds to a `Duration`, rounded to whole nanoseconds so 0.2 s equals 200 ms.
    static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1_000_000_000).rounded()))
    }

    /// Prints 5 as `5` and 0.2 as `0.2`.
    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Whether `name` matches `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}` (the breaker name rule).
    static func isValidName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard (1...128).contains(scalars.count) else { return false }
        func alnum(_ s: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
        }
        return alnum(scalars[0]) && scalars.dropFirst().allSatisfy { alnum($0) || $0 == "_" || $0 == "." || $0 == "-" }
    }
}
