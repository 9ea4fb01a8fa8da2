import Hummingbird
import HummingbirdTesting
import StadtbusOperations
import XCTest

final class OperationsServerTests: XCTestCase {
    private func application(_ readiness: Readiness, _ metrics: StadtbusMetrics) -> some ApplicationProtocol {
        Application(router: OperationsServer.router(readiness: readiness, metrics: metrics))
    }

    func testHealthIsAlwaysOK() async throws {
        try await application(Readiness(), StadtbusMetrics()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(String(buffer: response.body), #"{"status":"alive"}"#)
            }
        }
    }

    func testReadyIs503WithReasonsUntilEveryConditionHolds() async throws {
        let readiness = Readiness()
        let metrics = StadtbusMetrics()
        readiness.expect("routes")
        readiness.fail("broker:main", reason: "connection refused (127.0.0.1:5672)")
        try await application(readiness, metrics).test(.router) { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                let report = try JSONDecoder().decode(Readiness.Report.self, from: Data(buffer: response.body))
                XCTAssertFalse(report.ready)
                XCTAssertEqual(
                    report.reasons, ["broker:main: connection refused (127.0.0.1:5672)", "routes: starting"])
            }
            readiness.satisfy("routes")
            readiness.satisfy("broker:main")
            try await client.execute(uri: "/ready", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                let report = try JSONDecoder().decode(Readiness.Report.self, from: Data(buffer: response.body))
                XCTAssertTrue(report.ready)
                XCTAssertEqual(report.reasons, [])
            }
        }
        XCTAssertTrue(metrics.exposition().contains("stadtbus_ready 1"), metrics.exposition())
    }

    func testNothingRegisteredIsNotReady() {
        XCTAssertFalse(Readiness().report.ready)
    }

    func testMetricsExposeRouteCountersAndHistogramsWithBoundedLabels() async throws {
        let metrics = StadtbusMetrics()
        metrics.count(.received, route: "antrag-to-eakte", by: 3)
        metrics.count(.delivered, route: "antrag-to-eakte", by: 2)
        metrics.count(.deadLettered, route: "antrag-to-eakte")
        metrics.recordStep(route: "antrag-to-eakte", step: "validate", duration: .milliseconds(3))
        metrics.countReload(succeeded: false)
        try await application(Readiness(), metrics).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.contains(#"stadtbus_messages_received_total{route="antrag-to-eakte"} 3"#), text)
                XCTAssertTrue(text.contains(#"stadtbus_messages_delivered_total{route="antrag-to-eakte"} 2"#), text)
                XCTAssertTrue(text.contains(#"stadtbus_messages_dead_lettered_total{route="antrag-to-eakte"} 1"#), text)
                XCTAssertTrue(
                    text.contains(
                        #"stadtbus_step_duration_seconds_bucket{route="antrag-to-eakte",step="validate",le="0.005"} 1"#),
                    text)
                XCTAssertTrue(text.contains(#"stadtbus_config_reloads_total{result="failed"} 1"#), text)
            }
        }
    }
}
