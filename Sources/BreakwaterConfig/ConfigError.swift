/// Every problem found while loading or validating a configuration.
///
/// Validation does not stop at the first problem: all of them are collected so that an
/// operator can fix a file in one pass. The description lists one problem per line.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, in a stable order: top-level sections first, then each collector in list order.
    public var problems: [ConfigProblem]

    /// Creates an error from a list of problems.
    ///
    /// - Parameter problems: The problems; should not be empty.
    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    /// Creates an error holding a single problem.
    ///
    /// - Parameters:
    ///   - path: The field path.
    ///   - reason: Why it is rejected.
    public init(path: String, reason: String) {
        self.problems = [ConfigProblem(path: path, reason: reason)]
    }

    /// One `path: reason` line per problem.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
