import BreakerSchema
import Collectors
import FleetCollection
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

    /// Writes only the records newer than the collector's fleet-wide cursor and moves the
    /// cursor, atomically (incremental sources: each item once across replicas and restarts).
    ///
    /// - Returns: The cursor after the commit, or `nil` when Redis refused or was unreachable
    ///   (logged and counted as dropped; the next poll asks again from the old cursor).
    func commit(_ records: [CollectedRecord], schedule: CollectorSchedule, maxLength: Int) async -> String? {
        guard !records.isEmpty else { return nil }
        let name = schedule.name
        do {
            let result = try await schedule.commit(records.map { ($0.id, $0.streamFields) }, to: BreakerKeys.stream(name), maxLength: maxLength)
            if !result.repairs.isEmpty {
                logger.warning("repaired \(schedule.key)", metadata: ["repairs": "\(result.repairs)"])
            }
            Counter(label: "breakwater_records_total", dimensions: [("breaker", name), ("result", "stored")]).increment(by: result.written)
            Counter(label: "breakwater_records_total", dimensions: [("breaker", name), ("result", "duplicate")]).increment(by: result.skipped)
            return result.cursor
        } catch {
            Counter(label: "breakwater_records_total", dimensions: [("breaker", name), ("result", "dropped")]).increment(by: records.count)
            logger.warning("records not stored; redis unavailable", metadata: ["breaker": "\(name)", "count": "\(records.count)", "error": "\(error)"])
            return nil
        }
    }
}
