// Fuzz entry points compiled into the SharedBreaker module (see scripts/fuzz), so that the
// internal consumers (SharedBreaker.apply(_:), SharedBreakerView, BreakerReply,
// RefreshDecision) are reachable without @testable.
import BreakerSchema
import SafeNumbers
import BreakerCore
import Foundation
import Logging
import RedisClient

/// Never connected: the pool is lazy, and nothing here issues a command.
private let fuzzPool = RedisConnectionPool(
    configuration: RedisConfiguration(endpoint: .unix(path: "/nonexistent/breakwater-fuzz.sock")), size: 1,
    logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
)

/// Redis server time in the harness: 2025-11-24T16:00:00Z, in ms.
private let fuzzNowMilliseconds: Int64 = 1_764_000_000_000

/// A fresh breaker per input, so a crash does not depend on earlier inputs.
private func makeBreaker() -> SharedBreaker {
    do {
        return try SharedBreaker(
            name: try BreakerName("fuzz"), options: SharedBreakerOptions(), instanceID: "fuzz-1", store: fuzzPool,
            clock: ManualBreakerClock(start: BreakerInstant(milliseconds: fuzzNowMilliseconds)),
            classifier: .default, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }),
            wakeFlusher: {}
        )
    } catch {
        fatalError("fuzz harness: cannot build a breaker: \(error)")
    }
}

/// What the daemon does with a breaker's view without Redis: `/breakers` (status(), encoded
/// as JSON) and admission (admitLocally(); a needed probe is not sent).
private func exercise(_ breaker: SharedBreaker) {
    let status = breaker.status()
    _ = try? JSONEncoder().encode(status)
    _ = breaker.admitLocally()
    _ = breaker.view.openUntilMilliseconds
}

/// `event`: the payload of a `cb_events:<name>` message.
@_cdecl("breakwater_fuzz_event")
public func breakwaterFuzzEvent(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = Array(UnsafeBufferPointer(start: data, count: size))
    guard let event = BreakerEvent.decode(payload) else { return 0 }
    _ = event.toState
    // Round trip: what we decode we can publish again.
    if let encoded = try? JSONEncoder().encode(event) {
        precondition(BreakerEvent.decode(Array(encoded)) == event, "event does not survive a round trip")
    }
    // SharedBreakerGroup's subscription loop hands every decoded event to the breaker.
    let breaker = makeBreaker()
    breaker.apply(event)
    exercise(breaker)
    return 0
}

/// Splits on NUL.
private func fields(_ data: UnsafePointer<UInt8>, _ size: Int) -> [String] {
    UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
}

/// `stored-state`: byte 0 picks the input.
/// - even: NUL-separated `field, value, field, value…` as HGETALL `cb_state:<name>` returns
///   them → RedisValue.fieldDictionary → StoredBreakerState(fields:) → the view refresh() adopts.
/// - odd: NUL-separated elements of a breaker script reply (`BreakerReply`), each a bulk string,
///   or an integer reply when prefixed with `:`.
@_cdecl("breakwater_fuzz_stored_state")
public func breakwaterFuzzStoredState(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let parts = fields(data + 1, size - 1)
    let breaker = makeBreaker()
    if data[0] & 1 == 0 {
        let reply = RedisValue.array(parts.map { .bulkString(Array($0.utf8)) })
        guard let dictionary = reply.fieldDictionary else { return 0 }
        let stored = StoredBreakerState(fields: dictionary)
        for value in [Int64(stored.version), stored.openedAtMilliseconds, stored.openTimeoutMilliseconds,
                      Int64(stored.failedRecoveries), Int64(stored.failureCount), stored.updatedAtMilliseconds,
                      Int64(stored.totalSuccesses), Int64(stored.totalFailures), stored.timeInOpenMilliseconds,
                      stored.forcedUntilMilliseconds, stored.lastFailureAtMilliseconds] {
            precondition(value >= 0 && value <= StoredBreakerState.maximumInteger, "out-of-range field in \(stored)")
        }
        _ = stored.healthScore
        _ = stored.openUntilMilliseconds
        _ = stored.timeInOpen(at: fuzzNowMilliseconds)
        let view = SharedBreakerView(stored: stored)
        _ = RefreshDecision.decide(view: breaker.view, versionAtRead: 0, stored: stored, trippedDuringOutage: false, hasOutageOutcomes: false, quorum: 1)
        // refresh() on .adopt (SharedBreaker+Sync.swift).
        breaker.updateLocked { inner in
            inner.view = view
            if inner.view.openTimeoutMilliseconds == 0 { inner.view.openTimeoutMilliseconds = breaker.options.breaker.openTimeout.millisecondsClamped }
        }
        exercise(breaker)
    } else {
        let value = RedisValue.array(parts.map { part -> RedisValue in
            if part.hasPrefix(":"), let number = Int64(part.dropFirst()) { return .integer(number) }
            return .bulkString(Array(part.utf8))
        })
        guard let reply = try? BreakerReply(value) else { return 0 }
        // runScript() → adopt(): the reply's state becomes the view.
        breaker.updateLocked { inner in
            // As runScript() computes it (SharedBreaker+Sync.swift): server now minus local midpoint.
            inner.serverOffsetMilliseconds = reply.serverNowMilliseconds - fuzzNowMilliseconds
            inner.view.apply(reply, by: "fuzz-1")
        }
        exercise(breaker)
    }
    return 0
}
