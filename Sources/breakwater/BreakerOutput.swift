import BreakerCore
import Foundation
import SharedBreaker

/// Table and JSON rendering for `status` and `list`.
enum BreakerOutput {
    static func statusTable(_ entries: [BreakerAdmin.Entry], nowMilliseconds: Int64) -> String {
        let header = ["NAME", "STATE", "VERSION", "FAILURES", "OPEN_TIMEOUT", "RETRY_IN", "RECOVERIES(ok/failed)", "FORCED", "UPDATED_BY", "TTL"]
        let rows = entries.map { entry -> [String] in
            let state = entry.state
            let retry = state.state == .open && state.forced != .open ? max(0, state.openUntilMilliseconds - nowMilliseconds) : nil
            return [
                entry.name.rawValue, state.state.rawValue, "\(state.version)", "\(state.failureCount)",
                seconds(state.openTimeoutMilliseconds), retry.map(seconds) ?? "-",
                "\(state.successfulRecoveries)/\(state.failedRecoveries)", state.forced?.rawValue ?? "-",
                state.updatedBy.isEmpty ? "-" : state.updatedBy, "\(entry.ttlSeconds)s",
            ]
        }
        return table(header, rows)
    }

    static func listTable(_ entries: [BreakerAdmin.Entry]) -> String {
        guard !entries.isEmpty else { return "no breakers in Redis (no cb_state:* keys)" }
        return table(["NAME", "STATE", "VERSION", "OPEN_TIMEOUT", "TTL"], entries.map {
            [$0.name.rawValue, $0.state.state.rawValue, "\($0.state.version)", seconds($0.state.openTimeoutMilliseconds), "\($0.ttlSeconds)s"]
        })
    }

    /// The stored fields (numbers as numbers), plus `name` and `ttl_seconds`.
    static func json(_ entries: [BreakerAdmin.Entry]) throws -> String {
        let objects = entries.map { entry -> [String: Any] in
            var object: [String: Any] = ["name": entry.name.rawValue, "ttl_seconds": entry.ttlSeconds]
            for (field, value) in entry.fields where !["leases", "contributors", "window", "buckets"].contains(field) {
                // Numbers as numbers; anything else (including garbage such as "NaN") verbatim.
                if let integer = Int64(value) {
                    object[field] = integer
                } else if let number = Double(value), number.isFinite {
                    object[field] = number
                } else {
                    object[field] = value
                }
            }
            return object
        }
        let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func seconds(_ milliseconds: Int64) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : String(format: "%.1fs", Double(milliseconds) / 1000)
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
