import Foundation
import StadtbusCore

/// Renders a message's audit trail as a plain-text table for a terminal (`stadtbus trace`).
///
/// ```
/// message 6f1c…  type meldewesen.0201  author ags:09162000  reader ags:09184119
/// TIME (UTC)                ROUTE       KIND       DETAIL    MS     ATTEMPT  REASON
/// 2026-11-25T14:23:06.806Z  meldewesen  received   -         -      1        -
/// ```
public enum AuditTrailTable {
    /// The table for `events` (expected oldest first, as ``SQLiteAuditJournal/trail(of:)``
    /// returns them), ending with a newline. Empty cells show `-`; line breaks in a reason
    /// are shown as ` / ` so that every event stays on one line.
    public static func render(_ events: [AuditEvent]) -> String {
        guard let first = events.first else { return "" }
        var lines: [String] = [summary(messageID: first.messageID, events: events)]
        let header = ["TIME (UTC)", "ROUTE", "KIND", "DETAIL", "MS", "ATTEMPT", "REASON"]
        let formatter = timestampFormatter()
        let rows = events.map { event in
            [
                formatter.string(from: event.at), event.route, event.kind.rawValue, oneLine(event.detail),
                event.durationMicroseconds.map(milliseconds) ?? "-", event.attempt.map(String.init) ?? "-",
                oneLine(event.reason),
            ]
        }
        let table = [header] + rows
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        for row in table {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            lines.append(cells.joined(separator: "  ").trimmingTrailingSpaces())
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Formats `2026-11-25T14:23:06.806Z`.
    private static func timestampFormatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }

    /// Microseconds as milliseconds with three decimals: `1234` → `1.234`.
    static func milliseconds(_ microseconds: Int64) -> String {
        let sign = microseconds < 0 ? "-" : ""
        let magnitude = microseconds.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    private static func summary(messageID: String, events: [AuditEvent]) -> String {
        var parts = ["message \(messageID)"]
        if let type = events.lazy.compactMap(\.messageType).first { parts.append("type \(type)") }
        if let author = events.lazy.compactMap(\.author).first { parts.append("author \(author)") }
        if let reader = events.lazy.compactMap(\.reader).first { parts.append("reader \(reader)") }
        parts.append(events.count == 1 ? "1 event" : "\(events.count) events")
        return parts.joined(separator: "  ")
    }

    private static func oneLine(_ text: String?) -> String {
        guard let text, !text.isEmpty else { return "-" }
        return text.split(whereSeparator: \.isNewline).joined(separator: " / ")
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
