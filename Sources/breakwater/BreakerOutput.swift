import BreakerCore
import BreakerSchema
import FleetCollection
import Foundation
import SharedBreaker

/// Table and JSON rendering for `status` and `list`.
enum BreakerOutput {
    static func statusTable(_ entries: [BreakerAdmin.Entry], nowMilliseconds: Int64) -> String {
        let header = ["NAME", "STATE", "VERSION", "FAILURES", "OPEN_TIMEOUT", "RETRY_IN", "RECOVERIES(ok/failed)", "FORCED",
                      "HEALTH", "TIME_OPEN", "LAST_FAILURE", "LAST_CHANGE", "UPDATED_BY", "TTL"]
        let rows = entries.map { entry -> [String] in
            let state = entry.state
            let retry = state.state == .open && state.forced != .open ? max(0, state.openUntilMilliseconds - nowMilliseconds) : nil
            var forced = state.forced?.rawValue ?? "-"
            if state.forced != nil && state.forcedUntilMilliseconds > 0 {
                forced += " (\(seconds(max(0, state.forcedUntilMilliseconds - nowMilliseconds))) left)"
            }
            if state.mode == "shadow" { forced = forced == "-" ? "shadow" : forced + " shadow" }
            return [
                entry.name.rawValue, state.state.rawValue, "\(state.version)", "\(state.failureCount)",
                seconds(state.openTimeoutMilliseconds), retry.map(seconds) ?? "-",
                "\(state.successfulRecoveries)/\(state.failedRecoveries)", forced,
                state.healthScore.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                seconds(state.timeInOpen(at: nowMilliseconds)),
                ago(state.lastFailureAtMilliseconds, now: nowMilliseconds),
                ago(state.lastTransitionAtMilliseconds, now: nowMilliseconds),
                state.updatedBy.isEmpty ? "-" : state.updatedBy, "\(entry.ttlSeconds)s",
            ]
        }
        return table(header, rows)
    }

    /// Fleet-wide polling per collector (`cb_sched:<name>`): last poll, by whom, next due,
    /// last result, pause, tokens left, cursor.
    static func collectionTable(_ rows: [(String, ScheduleSnapshot)], nowMilliseconds now: Int64) -> String {
        table(["COLLECTOR", "SCHEDULE", "LAST_POLL", "BY", "NEXT_DUE", "LAST_RESULT", "LAST_OK", "PAUSED", "TOKENS", "CURSOR"], rows.map { name, s in
            [
                name, s.schedule, s.lastPollMilliseconds.map { ago($0, now: now) } ?? "-", s.lastPollBy.isEmpty ? "-" : s.lastPollBy,
                s.nextDueMilliseconds.map { $0 > now ? "in " + seconds($0 - now) : "now" } ?? "-",
                s.lastResult.isEmpty ? "-" : s.lastResult, s.lastOkMilliseconds.map { ago($0, now: now) } ?? "-",
                s.pausedUntilMilliseconds.flatMap { $0 > now ? seconds($0 - now) + " left" : nil } ?? "-",
                s.tokens.map { "\($0.left)/\($0.requests) (\(s.group ?? "-"))" } ?? "-",
                s.cursor.map { $0.count > 24 ? String($0.prefix(21)) + "..." : $0 } ?? "-",
            ]
        })
    }

    /// One line: total, closed, open, half-open, forced.
    static func summary(_ entries: [BreakerAdmin.Entry]) -> String {
        let count = { (state: BreakerState) in entries.filter { $0.state.state == state }.count }
        return "\(entries.count) breakers: \(count(.closed)) closed, \(count(.open)) open, \(count(.halfOpen)) half-open, \(entries.filter { $0.state.forced != nil }.count) forced"
    }

    static func historyTable(_ entries: [LedgerEntry]) -> String {
        table(["VERSION", "AT (UTC)", "FROM", "TO", "REASON", "BY", "ACTOR", "NOTE"], entries.map {
            [ "\($0.version)", timestamp($0.atMilliseconds), $0.from, $0.to, $0.reason, $0.by,
              $0.actor.isEmpty ? "-" : $0.actor, $0.note.isEmpty ? "-" : $0.note ]
        })
    }

    /// "12s ago", or "-" for 0.
    static func ago(_ milliseconds: Int64, now: Int64) -> String {
        milliseconds > 0 ? seconds(max(0, now - milliseconds)) + " ago" : "-"
    }

    static func timestamp(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    static func listTable(_ entries: [BreakerAdmin.Entry]) -> String {
        guard !entries.isEmpty else { return "no breakers in Redis (no cb_state:* keys)" }
        return table(["NAME", "STATE", "VERSION", "OPEN_TIMEOUT", "TTL"], entries.map {
            [$0.name.rawValue, $0.state.state.rawValue, "\($0.state.version)", seconds($0.state.openTimeoutMilliseconds), "\($0.ttlSeconds)s"]
        })
    }

    /// The one operator view of each breaker (``BreakerView``), as a JSON array.
    static func json(_ entries: [BreakerAdmin.Entry], nowMilliseconds: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(entries.map { $0.view(nowMilliseconds: nowMilliseconds) }), as: UTF8.self)
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
