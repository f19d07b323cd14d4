/// One thing wrong with a configuration file, located by a field path.
///
/// The path uses the YAML keys as written, with list indices in brackets, for example
/// `collectors[1].breaker.failure_threshold`. The file itself (missing, unreadable, not
/// YAML) is reported with the path `(file)`.
public struct ConfigProblem: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Dotted field path, e.g. `collectors[0].kind`.
    public var path: String
    /// Why the value is rejected; never contains a secret value.
    public var reason: String

    /// Creates a problem.
    ///
    /// - Parameters:
    ///   - path: The field path, e.g. `http.listen`.
    ///   - reason: A human-readable reason, e.g. `expected host:port`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `path: reason`, the form printed by `breakwater check-config`.
    public var description: String { "\(path): \(reason)" }
}
