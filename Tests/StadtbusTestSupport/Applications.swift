import Foundation

/// Real XBeteiligung applications (`kommunal.Initiieren.0401`) with fresh UUIDs.
public enum Applications {
    /// The shared example the applications are made from (empty if the shared material is missing).
    public static let template: String = {
        let url = Paths.shared.appendingPathComponent("xoev/xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// The example's own nachrichtenUUID, replaced by ``make(uuid:)``.
    public static let templateUUID = "60f6667b-fa45-4bd7-b717-f4d6c65e5edb"

    /// The example's own creation time, replaced by the current time in ``make(uuid:)``: a `verify`
    /// step refuses messages older than its `max-age` (7 days by default).
    public static let templateCreatedAt = "2025-02-20T16:41:19.880Z"

    /// The example with `uuid` as its nachrichtenUUID, created now.
    public static func make(uuid: String) -> [UInt8] {
        let now = Date().formatted(.iso8601)
        return Array(
            template.replacingOccurrences(of: templateUUID, with: uuid)
                .replacingOccurrences(of: templateCreatedAt, with: now).utf8)
    }

    /// Schema-invalid: the plan's name is removed.
    public static func invalid(uuid: String) -> [UInt8] {
        let text = String(decoding: make(uuid: uuid), as: UTF8.self)
        guard let range = text.range(of: #"<ns5:planname>[^<]*</ns5:planname>"#, options: .regularExpression) else {
            return Array(text.utf8)
        }
        return Array(text.replacingCharacters(in: range, with: "").utf8)
    }

    /// The first nachrichtenUUID in `body` ("?" if there is none).
    public static func uuid(in body: [UInt8]) -> String {
        // Only the head is searched: the UUID sits in the header, and bodies may be 50 MB.
        let text = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        return text.range(of: #"(?<=nachrichtenUUID>)[0-9a-f-]{36}"#, options: .regularExpression).map {
            String(text[$0])
        } ?? "?"
    }
}
