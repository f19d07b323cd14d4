import Collectors
import Logging
import Metrics
import RedisClient
import SharedBreaker

/// Appends collected records to the stream `collector:<name>` (XADD with MAXLEN ~).
struct RecordWriter: Sendable {
    let store: RedisConnectionPool
    let logger: Logger

    /// Writes the records in one pipeline.
    ///
    /// - Returns: how many were stored; Redis errors are logged, counted and never thrown,
    ///   so a down Redis cannot stop the collector.
    @discardableResult
    func write(_ records: [CollectedRecord], to name: BreakerName, maxLength: Int) async -> Int {
        guard !records.isEmpty else { return 0 }
        let commands = records.map { record -> RedisCommand in
            var arguments: [any RedisArgumentConvertible] = [name.streamKey, "MAXLEN", "~", maxLength, "*"]
            for (field, value) in record.streamFields {
                arguments.append(field)
                arguments.append(value)
            }
            return RedisCommand("XADD", arguments)
        }
        do {
            let results = try await store.pipeline(commands)
            let stored = results.filter { if case .success = $0 { return true } else { return false } }.count
            if stored < records.count, case .failure(let error)? = results.first(where: { if case .failure = $0 { return true } else { return false } }) {
                logger.warning("some records were refused by redis", metadata: ["breaker": "\(name)", "error": "\(error.message)"])
            }
            Counter(label: "breakwater_records_total", dimensions: [("breaker", name.rawValue), ("result", "stored")]).increment(by: stored)
            return stored
        } catch {
            Counter(label: "breakwater_records_total", dimensions: [("breaker", name.rawValue), ("result", "dropped")]).increment(by: records.count)
            logger.warning("records not stored; redis unavailable", metadata: ["breaker": "\(name)", "count": "\(records.count)", "error": "\(error)"])
            return 0
        }
    }
}
