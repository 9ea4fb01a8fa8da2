import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `stadtbus status`: a compact table from a running instance's `/ready` and `/metrics`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running Stadtbus's readiness and, per route, messages per second and dead letters.")

    @Option(name: .long, help: "Base URL of the instance's operations endpoints.")
    var url: String = "http://127.0.0.1:8080"

    @Option(name: .long, help: "Seconds between the two samples used for rates.")
    var interval: Double = 1

    func run() async throws {
        guard let base = URL(string: url) else { throw ValidationError("'\(url)' is not a URL") }
        let ready: (status: Int, body: String)
        let first: [String: [String: Double]]
        do {
            ready = try await Self.get(base.appendingPathComponent("ready"))
            first = Self.routeCounters(try await Self.get(base.appendingPathComponent("metrics")).body)
        } catch {
            print("Stadtbus at \(url) does not answer: \(error.localizedDescription)")
            throw ExitCode(3)
        }
        try await Task.sleep(for: .seconds(interval))
        let second = Self.routeCounters(try await Self.get(base.appendingPathComponent("metrics")).body)

        print("Stadtbus at \(url): \(ready.status == 200 ? "READY" : "NOT READY")")
        if ready.status != 200,
            let report = try? JSONSerialization.jsonObject(with: Data(ready.body.utf8)) as? [String: Any],
            let reasons = report["reasons"] as? [String]
        {
            for reason in reasons { print("  - \(reason)") }
        }
        let header = ["ROUTE", "MSG/S", "RECEIVED", "DELIVERED", "RETRIED", "DEAD LETTERS", "DUPLICATES"]
        var rows: [[String]] = []
        for route in second.keys.sorted() {
            let now = second[route] ?? [:]
            let before = first[route] ?? [:]
            let rate = ((now["received"] ?? 0) - (before["received"] ?? 0)) / interval
            rows.append([
                route, String(format: "%.1f", rate), Self.count(now["received"]), Self.count(now["delivered"]),
                Self.count(now["retried"]), Self.count(now["dead_lettered"]), Self.count(now["duplicate"]),
            ])
        }
        if rows.isEmpty { rows.append(["(no messages yet)", "", "", "", "", "", ""]) }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            print(
                row.enumerated().map { index, cell in
                    index == 0
                        ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[index] - cell.count) + cell
                }.joined(separator: "  "))
        }
    }

    private static func count(_ value: Double?) -> String { String(Int(value ?? 0)) }

    /// `stadtbus_messages_<outcome>_total{route="…"} N` → [route: [outcome: N]].
    static func routeCounters(_ text: String) -> [String: [String: Double]] {
        var result: [String: [String: Double]] = [:]
        let prefix = "stadtbus_messages_"
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            guard let brace = line.firstIndex(of: "{"), let quoteStart = line.range(of: "route=\""),
                let quoteEnd = line[quoteStart.upperBound...].firstIndex(of: "\""), let space = line.lastIndex(of: " "),
                let value = Double(line[line.index(after: space)...])
            else { continue }
            let outcome = line[line.index(line.startIndex, offsetBy: prefix.count)..<brace].replacingOccurrences(
                of: "_total", with: "")
            result[String(line[quoteStart.upperBound..<quoteEnd]), default: [:]][outcome] = value
        }
        return result
    }

    private static func get(_ url: URL) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: url)
        request.timeoutInterval = 3
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
