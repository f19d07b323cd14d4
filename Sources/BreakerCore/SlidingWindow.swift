/// The extent of a sliding window used by rate-based trip policies.
public enum SlidingWindow: Sendable, Equatable, Hashable {
    /// The last `n` recorded calls (ignored outcomes excluded); 1 ≤ n ≤ ``maximumCount``.
    case count(Int)
    /// The calls recorded during the last `duration`.
    ///
    /// Time windows are a ring of ``timeBucketCount`` buckets, so an event stops
    /// counting between `duration - duration/60` and `duration` after it was recorded.
    case time(Duration)

    /// The number of buckets a time-based window is split into (constant memory;
    /// granularity is `window / timeBucketCount`).
    public static let timeBucketCount = 60

    /// The largest accepted count-based window (memory is one byte per call).
    public static let maximumCount = 100_000
}
