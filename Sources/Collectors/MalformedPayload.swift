/// A response body that is not the shape the API documents: not JSON, a missing or
/// mistyped field, or a wrong top-level structure. Counts as a breaker failure.
public struct MalformedPayload: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. `moralis: missing usdPrice`. Never contains the body.
    public var reason: String

    /// Creates the error.
    ///
    /// - Parameter reason: What is wrong.
    public init(_ reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { "malformed payload: \(reason)" }
}
