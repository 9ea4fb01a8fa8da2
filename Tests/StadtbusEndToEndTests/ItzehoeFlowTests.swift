import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// The four flows of `config/itzehoe.yaml` end to end: the real `stadtbus` binary with the
/// example configuration, both brokers, and the simulators of the systems it connects.
final class ItzehoeFlowTests: EndToEndTestCase {
    private var installation: ItzehoeInstallation!
    private var client: TestClient!
    private var neighbour: TestClient!

    override func setUp() async throws {
        try await super.setUp()
        try NeighbourBroker.start()
        installation = try ItzehoeInstallation()
        client = try await TestClient.connect()
        neighbour = try await TestClient.connect(NeighbourBroker.endpoint)
        try await installation.start(with: client, neighbour: neighbour)
    }

    override func tearDown() async throws {
        _ = await installation?.stadtbus.terminate()
        installation = nil
        await client?.connection.close()
        await neighbour?.connection.close()
    }

    // MARK: 1 + 2: portal → eAkte → acknowledgement → portal status

    func testApplicationsBecomeEAkteCasesAndThePortalLearnsOfEach() async throws {
        let installation = try XCTUnwrap(installation)
        let applications = try installation.submitApplications(3)
        XCTAssertEqual(applications.count, 3)
        try await installation.eventually("the portal has a status for each application") {
            let statuses =
                try await installation.received(installation.portalPort)["statuses"] as? [[String: Any]] ?? []
            return statuses.count >= 3
        }
        let eakte = try await installation.received(installation.eaktePort)
        XCTAssertEqual(eakte["unique"] as? Int, 3, "\(eakte)")
        XCTAssertEqual(eakte["duplicates"] as? Int, 0, "\(eakte)")
        XCTAssertEqual(eakte["invalid"] as? Int, 0, "\(eakte)")
        let statuses = try await installation.received(installation.portalPort)["statuses"] as? [[String: Any]] ?? []
        let referenced = Set(
            statuses.flatMap { ($0["references"] as? [String]) ?? [($0["references"] as? String) ?? ""] })
        XCTAssertTrue(Set(applications).isSubset(of: referenced), "statuses \(statuses) for \(applications)")
        XCTAssertTrue(statuses.allSatisfy { ($0["type"] as? String)?.contains("0411") ?? false }, "\(statuses)")
    }

    func testWhileTheEAkteIsDownCasesAreRetriedAndFiledOnceWhenItIsBack() async throws {
        let installation = try XCTUnwrap(installation)
        try await installation.control(installation.eaktePort, ["mode": "down"])
        let applications = try installation.submitApplications(2)
        try await installation.eventually("Stadtbus retried the eAkte") {
            try await installation.stadtbus.metric(#"stadtbus_messages_retried_total{route="beteiligung-initiieren"}"#)
                >= 2
        }
        try await installation.control(installation.eaktePort, ["mode": "ok"])
        try await installation.eventually("both cases filed", seconds: 60) {
            try await installation.received(installation.eaktePort)["unique"] as? Int == 2
        }
        // Give a late duplicate the chance to show up before counting.
        try await Task.sleep(for: .seconds(2))
        let eakte = try await installation.received(installation.eaktePort)
        XCTAssertEqual(eakte["duplicates"] as? Int, 0, "\(eakte)")
        XCTAssertEqual(Set((eakte["ids"] as? [String]) ?? []), Set(applications), "\(eakte)")
        let deadLetters = try await client.drain("itzehoe.dlq", expected: 1, idle: .milliseconds(500))
        XCTAssertTrue(deadLetters.isEmpty, "nothing may be dead-lettered: \(deadLetters)")
    }

    // MARK: 3: payment

    func testInvoicesGoToTheCashSystemAndItsConfirmationsToTheEAkte() async throws {
        let installation = try XCTUnwrap(installation)
        let examples = Paths.shared.appendingPathComponent("xoev/xrechnung-testsuite/examples")
        for (number, name) in [("RE-E2E-1", "01.01a-INVOICE_ubl.xml"), ("RE-E2E-2", "01.02a-INVOICE_uncefact.xml")] {
            var text = try String(contentsOf: examples.appendingPathComponent(name), encoding: .utf8)
            text = text.replacingOccurrences(of: "123456XX", with: number)
            let temporary = installation.inbox.appendingPathComponent(".\(number).part")
            try text.write(to: temporary, atomically: true, encoding: .utf8)
            try FileManager.default.moveItem(
                at: temporary, to: installation.inbox.appendingPathComponent("\(number).xml"))
        }
        try await installation.eventually("the cash system received both invoices") {
            try await installation.received(installation.paymentPort)["unique"] as? Int == 2
        }
        try await installation.eventually("the eAkte received a payment entry for each", seconds: 40) {
            try await installation.stadtbus.metric(#"stadtbus_messages_delivered_total{route="zahlung-bestaetigt"}"#)
                >= 2
        }
        let done = try FileManager.default.contentsOfDirectory(
            atPath: installation.inbox.appendingPathComponent("done").path)
        XCTAssertEqual(Set(done), ["RE-E2E-1.xml", "RE-E2E-2.xml"])
        // Each invoice became a case of its own (0604) and got the payment as a log entry (0607).
        let eakte = try await installation.received(installation.eaktePort)
        let types = ((eakte["messages"] as? [[String: Any]]) ?? []).compactMap { $0["nachrichtentyp"] as? String }
        XCTAssertEqual(types.sorted(), ["0604", "0604", "0607", "0607"], "\(eakte)")
        XCTAssertEqual(eakte["duplicates"] as? Int, 0, "\(eakte)")
        XCTAssertEqual(eakte["invalid"] as? Int, 0, "\(eakte)")
    }

    func testAPaidFeeReachesTheEAkteCaseAndThePortal() async throws {
        let installation = try XCTUnwrap(installation)
        let applications = try installation.submitApplications(1, payFees: true)
        let application = try XCTUnwrap(applications.first)
        try await installation.eventually("the portal learned of the payment", seconds: 40) {
            let payments = try await installation.received(installation.portalPort)["payments"] as? [Any] ?? []
            return !payments.isEmpty
        }
        let portal = try await installation.received(installation.portalPort)
        XCTAssertTrue("\(portal["payments"] ?? "")".contains(application), "\(portal)")
        // The case (0604) and the payment's log entry (0607).
        try await installation.eventually("the eAkte has the case and the payment entry") {
            try await installation.received(installation.eaktePort)["unique"] as? Int == 2
        }
    }

    func testAPaymentConfirmationForAnUnknownCaseIsDeadLetteredWithTheReason() async throws {
        let installation = try XCTUnwrap(installation)
        try await installation.control(installation.paymentPort, ["emit-unknown": "KASSENZEICHEN-4711"])
        try await installation.eventually("a dead letter") {
            try await installation.stadtbus.metric(
                #"stadtbus_messages_dead_lettered_total{route="zahlung-bestaetigt"}"#) >= 1
        }
        let deadLetters = try await client.drain("itzehoe.dlq", expected: 1)
        XCTAssertEqual(deadLetters.count, 1)
        let reason = deadLetters.first?.headers["x-stadtbus-error-reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("unknown case 'KASSENZEICHEN-4711'"), reason)
        let eakte = try await installation.received(installation.eaktePort)
        XCTAssertEqual(eakte["count"] as? Int, 0, "\(eakte)")
    }

    // MARK: 4: neighbours

    func testAReportForBreitenburgIsSignedAndHandedOverToItsBroker() async throws {
        let installation = try XCTUnwrap(installation)
        let report = try XWasserReports.make(reader: "ags:01061017")
        try await client.publish(Array(report.utf8), to: "itzehoe.xwasser.eingang")
        try await installation.eventually("Breitenburg received a valid signed report") {
            try await installation.received(installation.neighbourPort)["valid"] as? Int == 1
        }
        let breitenburg = try await installation.received(installation.neighbourPort)
        XCTAssertEqual(breitenburg["invalid"] as? Int, 0, "\(breitenburg)")
    }

    func testAReportForAnAuthorityTheDirectoryDoesNotKnowIsDeadLettered() async throws {
        let report = try XWasserReports.make(reader: "ags:09999999")
        try await client.publish(Array(report.utf8), to: "itzehoe.xwasser.eingang")
        let deadLetters = try await client.drain("itzehoe.dlq", expected: 1, idle: .seconds(15))
        let reason = deadLetters.first?.headers["x-stadtbus-error-reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("ags:09999999"), reason)
    }

    func testSignedReportsFromBreitenburgAreVerifiedAndATamperedOneIsRejected() async throws {
        let installation = try XCTUnwrap(installation)
        _ = try installation.simulator([
            "simulators/neighbour.py", "send", "--count", "2", "--broker-port", "\(ChaosBroker.port)", "--user",
            "guest",
        ])
        _ = try installation.simulator([
            "simulators/neighbour.py", "send", "--count", "1", "--tamper", "--broker-port", "\(ChaosBroker.port)",
            "--user", "guest",
        ])
        let accepted = try await client.drain("itzehoe.gesundheitsamt", expected: 2, idle: .seconds(15))
        XCTAssertEqual(accepted.count, 2)
        let deadLetters = try await client.drain("itzehoe.dlq", expected: 1, idle: .seconds(15))
        XCTAssertEqual(deadLetters.count, 1)
        XCTAssertEqual(deadLetters.first?.headers["x-stadtbus-error-step"]?.stringValue, "verify")
        let reason = deadLetters.first?.headers["x-stadtbus-error-reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("digest") || reason.contains("signature"), reason)
    }
}

/// Real XWasser reports (shared example) from a laboratory, with fresh UUIDs.
enum XWasserReports {
    static func make(reader: String) throws -> String {
        let url = Paths.shared.appendingPathComponent("xoev/xwasser-1.0.0/examples/quality_report_minimal.xml")
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "693c64d6-456f-4d14-abe7-fe9681c74aae", with: UUID().uuidString.lowercased())
        text = text.replacingOccurrences(of: "<kennung>psw:11113110</kennung>", with: "<kennung>\(reader)</kennung>")
        return text
    }
}
