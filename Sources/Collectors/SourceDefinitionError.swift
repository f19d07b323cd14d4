/// A ``SourceDefinition`` that cannot be turned into a request (a missing parameter or key).
///
/// This is a configuration problem, not an upstream failure: ``UpstreamFetcher`` reports it
/// as ``UpstreamVerdict/notCounted(_:)`` so it never trips a breaker.
public struct SourceDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. `moralis: params.address is required`.
    public var reason: String

    /// Creates the error.
    ///
    /// - Parameter reason: What is wrong.
    public init(_ reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
