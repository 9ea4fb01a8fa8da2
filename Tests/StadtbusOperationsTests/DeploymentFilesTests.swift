import Foundation
import StadtbusOperations
import XCTest

/// The deployment files stay valid and in step with the metrics Stadtbus really exports.
/// (No Docker engine runs on the development machines; the compose file is validated by
/// `docker-compose config`, which needs none.)
final class DeploymentFilesTests: XCTestCase {
    private let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    func testComposeFileIsValid() throws {
        let compose = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let compose else {
            throw XCTSkip("docker-compose is not installed (scripts/test installs it)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compose)
        process.arguments = ["-f", root.appendingPathComponent("docker-compose.yml").path, "config", "--services"]
        process.environment = ["STADTBUS_BROKER_PASSWORD": "compose-check", "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        // The simulators are in the compose profile "simulators" (not started by a plain `up`);
        // docker-compose v1 lists every service here whatever its profile.
        XCTAssertEqual(
            Set(text.split(separator: "\n").map(String.init)),
            [
                "rabbitmq", "stadtbus", "prometheus", "grafana", "portal-sim", "eakte-sim", "payment-sim",
                "neighbour-sim",
            ],
            text)
    }

    func testDashboardQueriesOnlyMetricsStadtbusExports() throws {
        let data = try Data(contentsOf: root.appendingPathComponent("deploy/grafana/stadtbus-dashboard.json"))
        let dashboard = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        let expressions = panels.flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        XCTAssertGreaterThanOrEqual(expressions.count, 10)

        let metrics = StadtbusMetrics()
        for outcome in StadtbusMetrics.Outcome.allCases { metrics.count(outcome, route: "r") }
        metrics.recordStep(route: "r", step: "validate", duration: .milliseconds(1))
        metrics.recordEndToEnd(route: "r", duration: .milliseconds(1))
        metrics.setInFlight(0)
        metrics.countReconnect(broker: "main")
        metrics.recordPublishConfirm(broker: "main", duration: .milliseconds(1))
        metrics.countReload(succeeded: true)
        metrics.countAdapterError(adapter: "amqp")
        metrics.setReady(true)
        let exported = Set(
            metrics.exposition().split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
                $0.split(whereSeparator: { $0 == "{" || $0 == " " }).first.map(String.init)
            })
        let referenced = Set(
            expressions.flatMap { expression in
                expression.matches(of: #/stadtbus_[a-z_]+/#).map { String($0.output) }
            })
        XCTAssertFalse(referenced.isEmpty)
        XCTAssertEqual(referenced.subtracting(exported), [], "the dashboard queries metrics Stadtbus does not export")
    }

    func testPrometheusScrapesTheStadtbusService() throws {
        let text = try String(
            contentsOf: root.appendingPathComponent("deploy/prometheus/prometheus.yml"), encoding: .utf8)
        XCTAssertTrue(text.contains("stadtbus:8080"))
        XCTAssertTrue(text.contains("/metrics"))
    }
}
