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
/// (its `neighbour` node) — every port free and every file in a temporary directory.
final class ItzehoeInstallation {
    let directory: URL
    let stadtbus: StadtbusProcess
    let httpInPort = freeLoopbackPort()
    let portalPort = freeLoopbackPort()
    let eaktePort = freeLoopbackPort()
    let paymentPort = freeLoopbackPort()
    let neighbourPort = freeLoopbackPort()
    let neighbourBrokerPort: Int

    var simulators: URL { directory.appendingPathComponent("simulators") }
    var inbox: URL { directory.appendingPathComponent("inbox/rechnungen") }

    /// The queues of the example configuration on Itzehoe's broker.
    static let queues = [
        "itzehoe.portal.antraege", "itzehoe.eakte.quittungen", "itzehoe.zahlungen", "itzehoe.xwasser.eingang",
        "itzehoe.eingang.nachbarn", "itzehoe.gesundheitsamt", "itzehoe.clearing", "itzehoe.audit.copies", "itzehoe.dlq",
    ]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-itzehoe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("secrets"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("inbox/rechnungen"), withIntermediateDirectories: true)
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
                "STADTBUS_HTTP_IN": "127.0.0.1:\(httpInPort)",
                "STADTBUS_PORTAL_URL": "http://127.0.0.1:\(portalPort)",
                "STADTBUS_EAKTE_URL": "http://127.0.0.1:\(eaktePort)",
                "STADTBUS_PAYMENT_URL": "http://127.0.0.1:\(paymentPort)",
            ])
    }

    deinit {
        _ = try? shell(["scripts/simulators", "stop", simulators.path])
        try? FileManager.default.removeItem(at: directory)
    }

    func token(_ name: String) -> String { directory.appendingPathComponent("secrets/\(name).token").path }

    /// Starts the four simulators, empties the example's queues and starts Stadtbus.
    func start(with client: TestClient, neighbour: TestClient) async throws {
        let httpIn = "http://127.0.0.1:\(httpInPort)"
        try shell(["scripts/simulators", "start", simulators.path, "portal", "--port", "\(portalPort)"])
        try shell([
            "scripts/simulators", "start", simulators.path, "eakte", "--port", "\(eaktePort)", "--ack-url",
            "\(httpIn)/eingang/eakte", "--ack-token-file", token("eakte"), "--ack-delay", "0.2",
        ])
        try shell([
            "scripts/simulators", "start", simulators.path, "payment", "--port", "\(paymentPort)", "--confirm-url",
            "\(httpIn)/eingang/zahlungen", "--confirm-token-file", token("zahlung"), "--confirm-delay", "0.2",
        ])
        try await neighbour.declare("breitenburg.eingang")
        try await neighbour.purge("breitenburg.eingang")
        try shell([
            "env", "STADTBUS_BROKER_PASSWORD=guest", "scripts/simulators", "start", simulators.path, "neighbour", "--port",
            "\(neighbourPort)", "--broker-port", "\(NeighbourBroker.port)", "--user", "guest",
        ])
        for queue in Self.queues {
            try await client.declare(queue)
            try await client.purge(queue)
        }
        try await stadtbus.start()
        _ = try await stadtbus.waitReady()
    }

    /// Runs a simulator's one-shot command (`portal.py submit`, `neighbour.py send`) and returns its JSON answer.
    func simulator(_ arguments: [String]) throws -> [String: Any] {
        let python = Paths.root.appendingPathComponent("run/venv/bin/python").path
        // The answer is JSON on stdout; the simulator's event lines go to stderr (kept apart).
        let quoted = ([python] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let errors = directory.appendingPathComponent("simulator-command.log").path
        let output = try shell(["sh", "-c", "STADTBUS_BROKER_PASSWORD=guest " + quoted.joined(separator: " ") + " 2>>'\(errors)'"])
        guard let start = output.firstIndex(of: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any]
        else { throw EndToEndFailure("no JSON answer from \(arguments): \(output)") }
        return object
    }

    /// Portal applications over HTTPS; returns their nachrichtenUUIDs.
    func submitApplications(_ count: Int, payFees: Bool = false) throws -> [String] {
        var arguments = [
            "simulators/portal.py", "submit", "--count", "\(count)", "--url", "http://127.0.0.1:\(httpInPort)/eingang/portal",
            "--token-file", token("portal"),
        ]
        if payFees { arguments += ["--pay-fees", "--payment-url", "http://127.0.0.1:\(paymentPort)"] }
        return (try simulator(arguments)["submitted"] as? [String]) ?? []
    }

    /// A simulator's `GET /received`.
    func received(_ port: Int) async throws -> [String: Any] {
        try await json("http://127.0.0.1:\(port)/received")
    }

    /// `POST /control` of a simulator.
    func control(_ port: Int, _ body: [String: Any]) async throws {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/control")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        _ = try await URLSession.shared.data(for: request)
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
        throw EndToEndFailure("timed out waiting for: \(what)\n--- stadtbus log (tail) ---\n\(stadtbus.log.suffix(4000))")
    }
}
