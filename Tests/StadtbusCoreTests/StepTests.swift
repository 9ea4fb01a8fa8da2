import Foundation
import StadtbusCore
import StadtbusXML
import XCTest

/// Every built-in step, custom steps and templates.
final class StepTests: XCTestCase {
    private func single(_ steps: [any RouteStep], to: [Destination] = [.endpoint("a")]) throws -> Harness {
        try Harness([
            Route(name: "r", source: "in", steps: steps, routing: .to(to), errorPolicy: ErrorPolicy(deadLetter: "dlq"))
        ])
    }

    func testValidateAcceptsARealXBeteiligungMessage() async throws {
        let body = try Fixtures.sharedFile("xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        let schema = try XMLSchema(
            path: Fixtures.shared + "/xoev/xbeteiligung-1.2/schemas/xbeteiligung-kommunaleBauleitplanung.xsd")
        let h = try single([ValidateStep(schemaName: "xbeteiligung", schema: schema)])
        await assertDisposition(await h.engine.process(Fixtures.message(body)), .completed)
        let uuid = "60f6667b-fa45-4bd7-b717-f4d6c65e5edb"
        let step = try XCTUnwrap(try h.journal.trail(of: uuid).first { $0.kind == .step })
        XCTAssertEqual(step.detail, "validate xbeteiligung")
        XCTAssertNotNil(step.durationMicroseconds)
    }

    func testValidateDeadLettersARealInvalidMessageWithLineNumbers() async throws {
        let body = try Fixtures.sharedFile("xwasser-1.0.0/examples/monitoring_plan_maximal.xml")
        try XMLCatalogs.load(Fixtures.shared + "/xoev/xwasser-1.0.0/catalog.xml")
        let schema = try XMLSchema(path: Fixtures.shared + "/xoev/xwasser-1.0.0/schemas/xwasser.xsd")
        let h = try single([ValidateStep(schemaName: "xwasser", schema: schema)])
        let disposition = await h.engine.process(Fixtures.message(body))
        await assertDeadLetter(
            disposition, step: "validate", reasonContains: "schema-invalid: not valid against schema 'xwasser': line ")
        guard case .deadLetter(let reason, _, let route, let endpoint) = disposition else { return }
        XCTAssertEqual(route, "r")
        XCTAssertEqual(endpoint, "dlq")
        XCTAssertGreaterThanOrEqual(reason.components(separatedBy: "line ").count - 1, 2, reason)
        XCTAssertTrue(h.sink.deliveries.isEmpty)
    }

    func testMapReplacesTheDocumentWithParameters() async throws {
        let map = MapStep(
            source: "wrap.xsl", stylesheet: try Fixtures.wrappingStylesheet(),
            parameters: ["ort": try Template("Itzehoe/{header.messageType}")])
        let h = try single([map])
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g())), .completed)
        let out = try XMLDocument(parsing: try XCTUnwrap(h.sink.delivered(to: "a").first).body)
        XCTAssertEqual(out.rootName, "gemappt")
        XCTAssertEqual(
            try out.evaluate("string(/t:gemappt/@ort)", namespaces: Fixtures.namespaces).stringValue, "Itzehoe/0401")
    }

    func testMapFailureIsPermanent() async throws {
        let failing = try XSLTStylesheet(
            xml: """
                <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
                  <xsl:template match="/"><xsl:message terminate="yes">Pflichtfeld Aktenzeichen fehlt</xsl:message></xsl:template>
                </xsl:stylesheet>
                """, name: "failing.xsl")
        let h = try single([MapStep(source: "failing.xsl", stylesheet: failing)])
        await assertDeadLetter(
            await h.engine.process(Fixtures.message(Fixtures.g2g())), step: "map", reasonContains: "mapping-failed")
    }

    func testSignAndVerifyGoThroughTheProtocols() async throws {
        let signer = MockSigner()
        let h = try single([VerifyStep(verifier: MockVerifier()), SignStep(keyName: "itzehoe", signer: signer)])
        await assertDisposition(await h.engine.process(Fixtures.message(Fixtures.g2g())), .completed)
        XCTAssertEqual(signer.signedRoots, ["antrag"])

        let refused = try single([
            VerifyStep(
                verifier: MockVerifier(
                    failure: SignatureError(code: "digest-mismatch", message: "reference #kopf changed")))
        ])
        await assertDeadLetter(
            await refused.engine.process(Fixtures.message(Fixtures.g2g())), step: "verify",
            reasonContains: "digest-mismatch: reference #kopf changed")

        let broken = try single([
            SignStep(
                keyName: "itzehoe",
                signer: MockSigner(failure: SignatureError(code: "key-unavailable", message: "passphrase wrong")))
        ])
        await assertDeadLetter(
            await broken.engine.process(Fixtures.message(Fixtures.g2g())), step: "sign",
            reasonContains: "key 'itzehoe': key-unavailable")
        let hsm = try single([
            SignStep(
                keyName: "hsm",
                signer: MockSigner(failure: SignatureError(code: "hsm-busy", message: "try later", isTransient: true)))
        ])
        guard case .retry(_, _, _, let step) = await hsm.engine.process(Fixtures.message(Fixtures.g2g())) else {
            return XCTFail("expected retry")
        }
        XCTAssertEqual(step, "sign")
    }

    func testSetHeaderTemplates() async throws {
        let step = SetHeaderStep(assignments: [
            ("x-case", try Template("{xpath:string(/t:antrag/t:inhalt/t:betreff)}", namespaces: Fixtures.namespaces)),
            ("x-id", try Template("{header.messageID}")),
            ("x-from", try Template("{header.author} via {transport.x-source} ({route}, attempt {attempt})")),
            ("x-literal", try Template("{{not a placeholder}}")),
        ])
        let h = try single([step])
        let uuid = UUID().uuidString.lowercased()
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid), headers: ["x-source": "portal"])),
            .completed)
        let headers = try XCTUnwrap(h.sink.delivered(to: "a").first).headers
        XCTAssertEqual(headers["x-case"], "Bebauungsplan Nr. 7")
        XCTAssertEqual(headers["x-id"], uuid)
        XCTAssertEqual(headers["x-from"], "ags:01061046 via portal (r, attempt 1)")
        XCTAssertEqual(headers["x-literal"], "{not a placeholder}")
        XCTAssertEqual(headers["x-source"], "portal", "inbound transport headers are passed on")
    }

    func testTemplateErrors() {
        XCTAssertThrowsError(try Template("{header.nachrichtenUUID}")) {
            XCTAssertTrue("\($0)".hasPrefix("unknown header field 'nachrichtenUUID'"))
        }
        XCTAssertThrowsError(try Template("{foo}")) { XCTAssertTrue("\($0)".hasPrefix("unknown placeholder '{foo}'")) }
        XCTAssertThrowsError(try Template("open {header.messageID")) {
            XCTAssertTrue("\($0)".hasPrefix("unclosed '{'"))
        }
        XCTAssertThrowsError(try Template("{xpath:///}")) { XCTAssertTrue("\($0)".contains("invalid XPath")) }
    }

    func testFilterDropsNonMatchingMessages() async throws {
        let filter = FilterStep(condition: .author([ValuePattern("ags:01061*")]))
        let h = try single([filter])
        let uuid = UUID().uuidString.lowercased()
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(uuid: uuid, author: "ags:09162000"))), .filtered)
        XCTAssertEqual(try h.kinds(uuid), [.received, .matched, .step, .filtered])
        await assertDisposition(
            await h.engine.process(Fixtures.message(Fixtures.g2g(author: "ags:01061017"))), .completed)
        XCTAssertEqual(h.sink.deliveries.count, 1)
    }

    func testCustomStepsCanAddHeadersAndFailTransiently() async throws {
        let ok = try single([FlakyStep(failure: nil)])
        await assertDisposition(await ok.engine.process(Fixtures.message(Fixtures.g2g())), .completed)
        XCTAssertEqual(ok.sink.deliveries.first?.message.headers["x-scanned"], "clean")
        let flaky = try single([FlakyStep(failure: .transient("scanner-down", "clamd not reachable"))])
        await assertDisposition(
            await flaky.engine.process(Fixtures.message(Fixtures.g2g())),
            .retry(attempt: 2, delay: .seconds(2), reason: "scanner-down: clamd not reachable", step: "virus-scan"))
    }
}
