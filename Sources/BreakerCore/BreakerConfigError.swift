/// Every problem found by ``BreakerConfig/validate()``.
///
/// Its description lists one problem per line, e.g.
/// `failure_threshold must be >= 1, got 0`.
public struct BreakerConfigError: Error, CustomStringConvertible, Equatable {
    /// One invalid field.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The snake_case field path (the config key names), e.g. `backoff_multiplier` or `trip_policies[0].percent`.
        public var field: String
        /// Why the value is invalid, e.g. `must be >= 1, got 0`.
        public var reason: String

        /// Creates a problem.
        ///
        /// - Parameters:
        ///   - field: The snake_case field path.
        ///   - reason: Why the value is invalid.
        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }

        /// `"<field> <reason>"`.
        public var description: String { "\(field) \(reason)" }
    }

    /// All problems, in field order.
    public var problems: [Problem]

    /// Creates an error.
    ///
    /// - Parameter problems: The problems found.
    public init(problems: [Problem]) {
        self.problems = problems
    }

    /// The fields that have problems, in order (a field may appear more than once).
    public var fields: [String] { problems.map(\.field) }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
