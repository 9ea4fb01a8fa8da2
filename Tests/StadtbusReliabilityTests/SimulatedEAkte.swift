import Foundation
import StadtbusTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// simulators/eakte.py on a port the kernel chose (started with `scripts/simulators … --port 0`,
/// which prints the bound port), with its control interface and its `/received` summary.
final class SimulatedEAkte {
    let port: Int
    let directory: URL

    /// What the eAkte has filed: every accepted request's ProzessID (= the application's
    /// nachrichtenUUID), and the simulator's own duplicate count.
    struct Received: Decodable {
        let count: Int
        let unique: Int
        let duplicates: Int
        let ids: [String]
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-eakte-\(UUID().uuidString.prefix(8))")
        let output = try shell(["scripts/simulators", "start", directory.path, "eakte", "--port", "0"])
        let marker = "eakte listening on port "
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix(marker) }),
            let bound = Int(line.dropFirst(marker.count))
        else {
            _ = try? shell(["scripts/simulators", "stop", directory.path])
            throw EndToEndFailure("the eAkte simulator did not report its port: \(output)")
        }
        port = bound
    }

    deinit {
        _ = try? shell(["scripts/simulators", "stop", directory.path])
        try? FileManager.default.removeItem(at: directory)
    }

    var url: String { "http://127.0.0.1:\(port)/xdomea" }

    /// `POST /control` with `settings` (e.g. `["mode": "flaky", "failure-rate": 0.2]`).
    func control(_ settings: [String: Any]) async throws {
        let answer = try await request("/control", body: try JSONSerialization.data(withJSONObject: settings))
        guard answer.status == 200 else { throw EndToEndFailure("eakte /control: \(answer.status) \(answer.body)") }
    }

    func received() async throws -> Received {
        let answer = try await request("/received", body: nil)
        return try JSONDecoder().decode(Received.self, from: Data(answer.body.utf8))
    }

    /// Polls `/received` until `unique` reaches `count` (or `seconds` pass), then returns it.
    func waitForUnique(_ count: Int, seconds: Double) async throws -> Received {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try await received()
        while last.unique < count, Date() < deadline {
            try await Task.sleep(for: .milliseconds(250))
            last = try await received()
        }
        return last
    }

    private func request(_ path: String, body: Data?) async throws -> (status: Int, body: String) {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else {
            throw EndToEndFailure("bad path \(path)")
        }
        var request = URLRequest(url: url)
        request.timeoutInterval = 10
        if let body {
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
