/// Decides how a thrown error counts: failure, ignored or success.
///
/// A call that returns normally is always a ``CallOutcome/success``; the classifier
/// only sees calls that threw.
public struct OutcomeClassifier: Sendable {
    /// The classification function.
    public let classify: @Sendable (any Error) -> CallOutcome

    /// Creates a classifier from a function.
    ///
    /// - Parameter classify: Maps an error thrown by the protected call to an outcome.
    public init(_ classify: @escaping @Sendable (any Error) -> CallOutcome) {
        self.classify = classify
    }

    /// Classifies an error.
    ///
    /// - Parameter error: The error thrown by the protected call.
    /// - Returns: How it counts.
    public func callAsFunction(_ error: any Error) -> CallOutcome {
        classify(error)
    }

    /// The default: `CancellationError` is ignored; everything else (timeouts, including
    /// ``CallTimeoutError``, transport errors, decoding errors, …) is a failure.
    public static let `default` = OutcomeClassifier { error in
        error is CancellationError ? .ignored : .failure
    }
}
