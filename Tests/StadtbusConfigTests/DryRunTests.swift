import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusXML
import XCTest

/// `stadtbus dry-run` on real messages from the shared XÖV material.
final class DryRunTests: XCTestCase {
    private func sharedMessage(_ relative: String) throws -> String {
        let path = ConfigFixtures.shared + "/xoev/" + relative
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("missing \(path); set STADTBUS_SHARED")
        }
        return path
    }

    private var loader: ConfigurationLoader {
        var loader = ConfigFixtures.loader()
        loader.steps.register(StempelFactory())
        return loader
    }

    func testARealXBeteiligungMessageThroughTheValidConfig() async throws {
        let message = try sharedMessage("xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        let (text, disposition) = await DryRun.run(
            config: ConfigFixtures.path("valid/stadtbus.yaml"), route: "beteiligung", messagePath: message, maxLines: 3,
            loader: loader)
        XCTAssertEqual(disposition, .completed)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("dry run of route 'beteiligung' on "), lines[0])
        XCTAssertTrue(lines[0].hasSuffix("(6716 bytes) — nothing is delivered"), lines[0])
        XCTAssertEqual(
            lines[1],
            "message: 60f6667b-fa45-4bd7-b717-f4d6c65e5edb — type 0401 (kommunal.Initiieren.0401), profile xoev-g2g, author xyz:0001, reader xyz:0002"
        )
        XCTAssertEqual(lines[2], "when: xpath /xbet:kommunal.Initiieren.0401 → matched")
        XCTAssertEqual(lines[3], "input:")
        XCTAssertEqual(lines[4], "    | <?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>")
        XCTAssertTrue(lines[5].hasPrefix("    | <ns5:kommunal.Initiieren.0401 xmlns:ns6="), lines[5])
        XCTAssertTrue(lines[5].hasSuffix(" …"), "long lines are cut: \(lines[5])")
        XCTAssertEqual(lines[7], "    | … 73 more lines (use --full)")
        XCTAssertTrue(lines[8].hasPrefix("step 1 [beteiligung] validate xbeteiligung: ok ("), lines[8])
        XCTAssertEqual(lines[9], "    (document unchanged)")
        XCTAssertTrue(lines[10].hasPrefix("step 2 [beteiligung] map ../support/wrap.xsl: ok ("), lines[10])
        XCTAssertEqual(lines[11], "    | <?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        XCTAssertTrue(lines[12].hasPrefix("    | <t:gemappt xmlns:t=\"urn:stadtbus:test\" ort=\"\">"), lines[12])
        XCTAssertTrue(lines[14].hasPrefix("    | … ") && lines[14].hasSuffix(" more lines (use --full)"), lines[14])
        // What would be delivered is the mapped document: compute its size independently.
        let input = try XMLDocument(parsing: Array(try XCTUnwrap(FileManager.default.contents(atPath: message))))
        let mapped = try XSLTStylesheet(path: ConfigFixtures.path("support/wrap.xsl")).transform(input)
        XCTAssertEqual(
            lines.suffix(2),
            [
                "result: completed — would deliver:",
                "  → eakte [route beteiligung]: \(try mapped.serialized().count) bytes",
            ])
    }

    func testARealInvalidMessageEndsInADeadLetterWithTheValidatorsLines() async throws {
        let message = try sharedMessage("xwasser-1.0.0/examples/monitoring_plan_maximal.xml")
        let (text, disposition) = await DryRun.run(
            config: ConfigFixtures.path("valid/stadtbus.yaml"), route: "wasser", messagePath: message, loader: loader)
        guard case .deadLetter(let reason, "validate", "wasser", "dlq") = disposition else {
            return XCTFail("got \(String(describing: disposition))\n\(text)")
        }
        XCTAssertTrue(reason.hasPrefix("schema-invalid: not valid against schema 'xwasser': line "), reason)
        XCTAssertTrue(text.contains("step 1 [wasser] validate xwasser: FAILED (permanent) — schema-invalid: "), text)
        XCTAssertTrue(
            text.contains("result: DEAD LETTER to dlq — route wasser, step validate:\n  schema-invalid: "), text)
    }

    func testAMessageTheRouteDoesNotAcceptSaysWhy() async throws {
        let message = try sharedMessage("xdomea-3.0.0/examples/Aussonderung.Aussonderung.0503.xml")
        let (text, disposition) = await DryRun.run(
            config: ConfigFixtures.path("valid/stadtbus.yaml"), route: "beteiligung", messagePath: message,
            loader: loader)
        XCTAssertTrue(text.contains("profile xdomea"), text)
        XCTAssertTrue(text.contains("when: xpath /xbet:kommunal.Initiieren.0401 → NOT matched"), text)
        guard case .deadLetter(_, "route", _, _) = disposition else {
            return XCTFail("got \(String(describing: disposition))")
        }
    }

    func testUnknownRouteAndBrokenConfigAreReported() async throws {
        let message = try sharedMessage("xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        let unknown = await DryRun.run(
            config: ConfigFixtures.path("valid/stadtbus.yaml"), route: "beteiligng", messagePath: message,
            loader: loader)
        XCTAssertNil(unknown.disposition)
        XCTAssertEqual(
            unknown.text, "no route named 'beteiligng' — routes: antrag, kopie, verteilung, beteiligung, wasser\n")
        let broken = await DryRun.run(
            config: ConfigFixtures.path("broken/unknown-step.yaml"), route: "r", messagePath: message, loader: loader)
        XCTAssertNil(broken.disposition)
        XCTAssertTrue(broken.text.hasPrefix("configuration has errors:\n"), broken.text)
        XCTAssertTrue(broken.text.contains("unknown step 'valdate' — did you mean 'validate'?"), broken.text)
    }

    func testTheExampleConfigWithTheRealMapping() async throws {
        let mapping = ConfigFixtures.packageRoot + "/mappings/beteiligung-to-xdomea.xsl"
        guard FileManager.default.fileExists(atPath: mapping) else {
            throw XCTSkip("the mapping module's stylesheet is not in this checkout yet")
        }
        let message = try sharedMessage("xbeteiligung-1.2/examples/kommunal.Initiieren.0401.xml")
        let (directory, environment) = try ConfigFixtures.exampleInstallation()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (text, disposition) = await DryRun.run(
            config: ConfigFixtures.packageRoot + "/config/itzehoe.yaml", route: "beteiligung-initiieren",
            messagePath: message,
            loader: ConfigFixtures.loader(environment))
        XCTAssertEqual(disposition, .completed, text)
        XCTAssertTrue(text.contains("step 5 [beteiligung-initiieren] validate xdomea: ok"), text)
        XCTAssertTrue(text.contains("<xdomea:FVDaten.SGOErstellen.0604"), text)
        XCTAssertTrue(text.contains("would register case"), text)
        XCTAssertTrue(text.contains("  → eakte.dms [route beteiligung-initiieren]: "), text)
        XCTAssertTrue(
            text.contains("  → audit.copies (wire tap, inbound body) [route beteiligung-initiieren]: 6716 bytes"), text)
    }
}
