import SafeNumbers

/// Calls, failures and slow calls over a sliding window, updated in O(1) per event
/// with bounded memory.
///
/// - Count windows keep one flag byte per call in a ring of `n` slots.
/// - Time windows keep ``SlidingWindow/timeBucketCount`` buckets; on each event the
///   buckets that slid out are cleared (at most `timeBucketCount`, a constant).
///
/// Both storages live in one struct (rather than an enum with payloads) so the arrays
/// are mutated in place, without copy-on-write copies.
struct WindowCounter: Sendable {
    private static let failureFlag: UInt8 = 1
    private static let slowFlag: UInt8 = 2

    private struct Bucket: Sendable {
        var epoch: Int64 = .min
        var calls: Int32 = 0
        var failures: Int32 = 0
        var slow: Int32 = 0
    }

    private let isTimeBased: Bool
    // Count-based storage.
    private var flags: [UInt8]
    private var next = 0
    private var filled = 0
    // Time-based storage.
    private var buckets: [Bucket]
    private let bucketWidth: Int64
    private var headEpoch: Int64 = .min

    /// Calls currently in the window.
    private(set) var calls = 0
    /// Failures currently in the window.
    private(set) var failures = 0
    /// Slow calls currently in the window.
    private(set) var slow = 0

    init(_ window: SlidingWindow) {
        switch window {
        case .count(let n):
            isTimeBased = false
            flags = [UInt8](repeating: 0, count: max(1, n))
            buckets = []
            bucketWidth = 1
        case .time(let d):
            isTimeBased = true
            flags = []
            buckets = [Bucket](repeating: Bucket(), count: SlidingWindow.timeBucketCount)
            bucketWidth = max(1, d.nanosecondsClamped / Int64(SlidingWindow.timeBucketCount))
        }
    }

    /// Adds one call.
    mutating func add(failure: Bool, slow isSlow: Bool, at now: BreakerInstant) {
        if isTimeBased {
            let i = slide(to: now)
            buckets[i].calls &+= 1
            if failure { buckets[i].failures &+= 1 }
            if isSlow { buckets[i].slow &+= 1 }
        } else {
            if filled == flags.count {
                let old = flags[next]
                calls -= 1
                if old & Self.failureFlag != 0 { failures -= 1 }
                if old & Self.slowFlag != 0 { slow -= 1 }
            } else {
                filled += 1
            }
            flags[next] = (failure ? Self.failureFlag : 0) | (isSlow ? Self.slowFlag : 0)
            next += 1
            if next == flags.count { next = 0 }
        }
        calls += 1
        if failure { failures += 1 }
        if isSlow { slow += 1 }
    }

    /// Expires events that slid out of a time window by `now` (no-op for count windows).
    mutating func expire(at now: BreakerInstant) {
        if isTimeBased { _ = slide(to: now) }
    }

    /// Forgets every event.
    mutating func clear() {
        calls = 0
        failures = 0
        slow = 0
        next = 0
        filled = 0
        headEpoch = .min
        for i in flags.indices { flags[i] = 0 }
        for i in buckets.indices { buckets[i] = Bucket() }
    }

    /// Makes the bucket for `now` current, clearing buckets that slid out; returns its index.
    /// Time that goes backwards is treated as the latest time seen.
    private mutating func slide(to now: BreakerInstant) -> Int {
        let count = Int64(buckets.count)
        var epoch = now.nanoseconds / bucketWidth
        if now.nanoseconds < 0 && now.nanoseconds % bucketWidth != 0 { epoch -= 1 }
        if epoch <= headEpoch {
            epoch = headEpoch
        } else {
            // Clear every bucket between the old head (exclusive) and the new one
            // (inclusive); at most `count` of them.
            let steps = headEpoch == .min ? count : min(count, epoch - headEpoch)
            var e = epoch - steps + 1
            while e <= epoch {
                let j = Int(((e % count) + count) % count)
                let b = buckets[j]
                if b.epoch != e {
                    calls -= Int(b.calls)
                    failures -= Int(b.failures)
                    slow -= Int(b.slow)
                    buckets[j] = Bucket(epoch: e)
                }
                e += 1
            }
            headEpoch = epoch
        }
        return Int(((epoch % count) + count) % count)
    }
}
