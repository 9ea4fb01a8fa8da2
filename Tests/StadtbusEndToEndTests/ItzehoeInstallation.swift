import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The example installation of `config/itzehoe.yaml` on this machine: Stadtbus (the real
/// binary, the real example configuration), the simulators of the portal, the eAkte, the cash
/// system and Breitenburg, Itzehoe's broker (this checkout's `chaos` node) and Breitenburg's
/// (its `neighbour` node) — every port chosen by the kernel and every file in a temporary directory.
///
/// Every listener binds port 0, so ports are learnt, never guessed: `start` starts the
/// simulators first (each reports its port), then Stadtbus with their URLs and http-in on
/// `127.0.0.1:0` (its log tells the port), and last tells the eAkte and payment simulators
/// where to send their callbacks (`POST /control {"ack-url"}`, `{"confirm-url"}`).
final class ItzehoeInstallation {
    let directory: URL
    let stadtbus: StadtbusProcess
    /// The ports below are known once `start` has returned.
    private(set) var httpInPort = 0
    private(set) var portalPort = 0
    private(set) var eaktePort = 0
    private(set) var paymentPort = 0
    private(set) var neighbourPort = 0
    let neighbourBrokerPort: Int
    /// What `STADTBUS_HTTP_IN` is: every http-in endpoint of the example shares this listener.
    static let httpInListen = "127.0.0.1:0"

    var simulators: URL { directory.appendingPathComponent("simulators") }
    var inbox: URL { directory.appendingPathComponent("inbox/rechnungen") }

    /// The queues of the example configuration on Itzehoe's broker.
    static let queues = [
        "itzehoe.portal.antraege", "itzehoe.eakte.quittungen", "itzehoe.zahlungen", "itzehoe.xwasser.eingang",
        "itzehoe.eingang.nachbarn", "itzehoe.gesundheitsamt", "itzehoe.clearing", "itzehoe.audit.copies", "itzehoe.dlq",
    ]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-itzehoe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("secrets"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("inbox/rechnungen"), withIntermediateDirectories: true)
        for name in ["portal", "eakte", "zahlung"] {
            try "token-\(name)-\(UUID().uuidString)".write(
                to: directory.appendingPathComponent("secrets/\(name).token"), atomically: true, encoding: .utf8)
        }
        neighbourBrokerPort = NeighbourBroker.port
        stadtbus = try StadtbusProcess(
            configPath: Paths.root.appendingPathComponent("config/itzehoe.yaml").path,
            environment: [
                "STADTBUS_SHARED": Paths.shared.path,
                "STADTBUS_RUN": directory.path,
                "STADTBUS_BROKER_HOST": "127.0.0.1",
                "STADTBUS_BROKER_PORT": "\(ChaosBroker.port)",
                "STADTBUS_BROKER_USER": "guest",
                "STADTBUS_BROKER_PASSWORD": "guest",
                "STADTBUS_PEER_HOST": "127.0.0.1",
                "STADTBUS_PEER_PORT": "\(NeighbourBroker.port)",
                "STADTBUS_PEER_PASSWORD": "guest",
                "STADTBUS_HTTP_PORT": "0",  // the kernel chooses; StadtbusProcess reads the port from the log
                "STADTBUS_HTTP_IN": Self.httpInListen,  // likewise; `start` reads it with httpInPort(listen:)
                    // STADTBUS_PORTAL_URL, _EAKTE_URL and _PAYMENT_URL: set by `start` once the simulators run.
            ])
    }

    deinit {
        _ = try? shell(["scripts/simulators", "stop", simulators.path])
        try? FileManager.default.removeItem(at: directory)
    }

    func token(_ name: String) -> String { directory.appendingPathComponent("secrets/\(name).token").path }

    /// Starts the four simulators, empties the example's queues and starts Stadtbus.
    ///
    /// The order resolves the mutual dependency without reserving ports: the simulators start
    /// on port 0 without callback URLs; Stadtbus starts with their URLs and learns http-in's
    /// port itself; then eAkte and payment get their callback URLs through `/control`. No
    /// message flows before that: nothing is submitted until `start` has returned.
    func start(with client: TestClient, neighbour: TestClient) async throws {
        portalPort = try startSimulator("portal", [])
        eaktePort = try startSimulator("eakte", ["--ack-token-file", token("eakte"), "--ack-delay", "0.2"])
        paymentPort = try startSimulator(
            "payment", ["--confirm-token-file", token("zahlung"), "--confirm-delay", "0.2"])
        try await neighbour.declare("breitenburg.eingang")
        try await neighbour.purge("breitenburg.eingang")
        neighbourPort = try startSimulator(
            "neighbour", ["--broker-port", "\(NeighbourBroker.port)", "--user", "guest"],
            environment: ["STADTBUS_BROKER_PASSWORD=guest"])
        for queue in Self.queues {
            try await client.declare(queue)
            try await client.purge(queue)
        }
        stadtbus.environment["STADTBUS_PORTAL_URL"] = "http://127.0.0.1:\(portalPort)"
        stadtbus.environment["STADTBUS_EAKTE_URL"] = "http://127.0.0.1:\(eaktePort)"
        stadtbus.environment["STADTBUS_PAYMENT_URL"] = "http://127.0.0.1:\(paymentPort)"
        try await stadtbus.start()
        httpInPort = try await stadtbus.httpInPort(listen: Self.httpInListen)
        let httpIn = "http://127.0.0.1:\(httpInPort)"
        try await setCallback(eaktePort, "ack-url", "\(httpIn)/eingang/eakte")
        try await setCallback(paymentPort, "confirm-url", "\(httpIn)/eingang/zahlungen")
        _ = try await stadtbus.waitReady()
    }

    /// Starts simulator `name` on a port the kernel chooses (`scripts/simulators start … --port 0`,
    /// which waits for `/health` and prints "NAME listening on port PORT") and returns the port.
    private func startSimulator(_ name: String, _ arguments: [String], environment: [String] = []) throws -> Int {
        let command = ["scripts/simulators", "start", simulators.path, name, "--port", "0"] + arguments
        let output = try shell((environment.isEmpty ? [] : ["env"] + environment) + command)
        let marker = "\(name) listening on port "
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix(marker) }),
            let port = Int(line.dropFirst(marker.count))
        else { throw EndToEndFailure("the \(name) simulator did not report its port: \(output)") }
        return port
    }

    /// Runs a simulator's one-shot command (`portal.py submit`, `neighbour.py send`) and returns its JSON answer.
    func simulator(_ arguments: [String]) throws -> [String: Any] {
        let python = Paths.root.appendingPathComponent("run/venv/bin/python").path
        // The answer is JSON on stdout; the simulator's event lines go to stderr (kept apart).
        let quoted = ([python] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let errors = directory.appendingPathComponent("simulator-command.log").path
        let output = try shell([
            "sh", "-c", "STADTBUS_BROKER_PASSWORD=guest " + quoted.joined(separator: " ") + " 2>>'\(errors)'",
        ])
        guard let start = output.firstIndex(of: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any]
        else { throw EndToEndFailure("no JSON answer from \(arguments): \(output)") }
        return object
    }

    /// Portal applications over HTTPS; returns their nachrichtenUUIDs.
    func submitApplications(_ count: Int, payFees: Bool = false) throws -> [String] {
        var arguments = [
            "simulators/portal.py", "submit", "--count", "\(count)", "--url",
            "http://127.0.0.1:\(httpInPort)/eingang/portal",
            "--token-file", token("portal"),
        ]
        if payFees { arguments += ["--pay-fees", "--payment-url", "http://127.0.0.1:\(paymentPort)"] }
        return (try simulator(arguments)["submitted"] as? [String]) ?? []
    }

    /// A simulator's `GET /received`.
    func received(_ port: Int) async throws -> [String: Any] {
        try await json("http://127.0.0.1:\(port)/received")
    }

    /// `POST /control` of a simulator; returns its answer (the settings it took). Fails unless 200.
    @discardableResult
    func control(_ port: Int, _ body: [String: Any]) async throws -> [String: Any] {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/control")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200,
            let answer = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw EndToEndFailure("simulator on port \(port) refused \(body): \(String(decoding: data, as: UTF8.self))")
        }
        return answer
    }

    /// Sets a simulator's callback URL (`key` is `ack-url` or `confirm-url`) and checks that it took it.
    private func setCallback(_ port: Int, _ key: String, _ url: String) async throws {
        let answer = try await control(port, [key: url])
        guard answer[key] as? String == url else {
            throw EndToEndFailure("simulator on port \(port) did not take \(key) \(url): \(answer)")
        }
    }

    func json(_ url: String) async throws -> [String: Any] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Polls `condition` every 200 ms until it holds or `seconds` pass.
    func eventually(
        _ what: String, seconds: Double = 30, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw EndToEndFailure(
            "timed out waiting for: \(what)\n--- stadtbus log (tail) ---\n\(stadtbus.log.suffix(4000))")
    }
}
