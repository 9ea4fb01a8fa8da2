import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusStandard
import XCTest

/// `sign` and `verify` register like adapter steps: a build without the signature module refuses
/// them when the configuration loads (not on every message), their settings are checked against
/// their schemas, and StadtbusStandard's loader wires in the real XMLDSig implementation.
final class StepRegistrationTests: XCTestCase {
    /// The development PKI that `certs/make-dev-certs` creates in the package.
    private func environment() throws -> [String: String] {
        let certs = ConfigFixtures.packageRoot + "/certs"
        guard FileManager.default.fileExists(atPath: certs + "/out/authorities/itzehoe-ec.key") else {
            XCTFail("no development certificates in \(certs): run certs/make-dev-certs")
            throw CocoaError(.fileNoSuchFile)
        }
        return ["STADTBUS_CERTS": certs]
    }

    func testABuildWithoutTheSignatureModuleRefusesSignAndVerifyWhereTheyAreWritten() throws {
        let loader = ConfigFixtures.bareLoader(try environment())
        let hint =
            "is not available in this build: link StadtbusStandard (StadtbusSignature) and load with its StandardLoader"
        XCTAssertEqual(
            ConfigFixtures.diagnostics("registration/signature-steps.yaml", loader: loader),
            [
                "registration/signature-steps.yaml:17:9: step 'sign' \(hint)",
                "registration/signature-steps.yaml:22:9: step 'verify' \(hint)",
            ])
    }

    func testAMisspeltStepNameStillGetsADidYouMeanWithoutTheModule() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("x.yaml").path
        try """
        endpoints: { in: { type: amqp, queue: in }, out: { type: amqp, queue: out } }
        routes:
          - { name: r, from: in, steps: [verfy], to: out }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigFixtures.bareLoader().load(path: file)) { error in
            XCTAssertEqual(
                (error as? ConfigurationError)?.diagnostics.map(\.message),
                ["unknown step 'verfy' — did you mean 'verify'?"])
        }
    }

    func testTheStandardLoaderSignsAndVerifiesWithXMLDSig() async throws {
        let loaded = try StandardLoader.make(environment: try environment()).load(
            path: ConfigFixtures.path("registration/signature-steps.yaml"))
        let sink = CollectingSink()
        let engine = RoutingEngine(
            table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())

        let unsigned = ConfigFixtures.g2g()
        let signed = await engine.process(Message(body: unsigned, source: "unsigned"))
        XCTAssertEqual(signed, .completed)
        let signedBody = try XCTUnwrap(sink.deliveries.first { $0.0 == "signed" }?.1.body)
        XCTAssertTrue(String(decoding: signedBody, as: UTF8.self).contains("SignatureValue"), "really signed")

        let verified = await engine.process(Message(body: signedBody, source: "signed"))
        XCTAssertEqual(verified, .completed)
        XCTAssertEqual(sink.deliveries.map(\.0), ["signed", "out"])

        // The real verifier, not a stand-in: an unsigned message is refused.
        let refused = await engine.process(Message(body: ConfigFixtures.g2g(), source: "signed"))
        guard case .deadLetter(let reason, let step, _, _) = refused else {
            return XCTFail("an unsigned message passed 'verify': \(refused)")
        }
        XCTAssertEqual(step, "verify")
        XCTAssertFalse(reason.isEmpty)
    }

    func testAnUnusableTrustStoreFailsTheLoadAtTheVerifyStep() throws {
        let diagnostics = try XCTUnwrap(
            ConfigFixtures.diagnostics("registration/unusable-trust-store.yaml", loader: StandardLoader.make()),
            "a trust store without certificates loaded")
        XCTAssertEqual(diagnostics.count, 1, "\(diagnostics)")
        XCTAssertTrue(
            diagnostics[0].hasPrefix(
                "registration/unusable-trust-store.yaml:11:9: step 'verify': the verifier cannot be set up: "),
            diagnostics[0])
    }

    func testTheSettingsOfSignAndVerifyAreCheckedAgainstTheirSchemas() throws {
        XCTAssertEqual(
            ConfigFixtures.diagnostics(
                "registration/misspelt-settings.yaml", loader: StandardLoader.make(environment: try environment())),
            [
                "registration/misspelt-settings.yaml:14:19: unknown key 'max-ag' in step 'verify' — did you mean 'max-age'?",
                "registration/misspelt-settings.yaml:15:37: 'allow-own-author' of step 'verify' must be true or false, found a scalar 'maybe'",
                "registration/misspelt-settings.yaml:16:15: step 'sign' is missing 'key' (the name of a key under 'keys:')",
                "registration/misspelt-settings.yaml:16:17: unknown key 'kee' in step 'sign' — did you mean 'key'?",
                "registration/misspelt-settings.yaml:17:15: unknown signing key 'itzehoee' — did you mean 'itzehoe'?",
            ])
    }

    func testDryRunNeedsNoSignatureModule() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let message = directory.appendingPathComponent("unsigned.xml").path
        XCTAssertTrue(FileManager.default.createFile(atPath: message, contents: Data(ConfigFixtures.g2g())))
        let (text, disposition) = await DryRun.run(
            config: ConfigFixtures.path("registration/signature-steps.yaml"), route: "pruefen", messagePath: message,
            loader: ConfigFixtures.bareLoader(try environment()))
        XCTAssertEqual(disposition, .completed, text)
    }
}
