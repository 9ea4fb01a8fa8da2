import Foundation
import StadtbusConfig
import XCTest

/// The corpus of broken configurations under `Fixtures/broken/`. Each file lists the exact
/// diagnostics it must produce — file:line:column and message — in `# expect:` lines at its
/// end (`FIXTURES/` stands for the fixture directory in absolute paths). Files starting with
/// `_` are helpers included by others.
final class BrokenConfigTests: XCTestCase {
    private var fixtures: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: ConfigFixtures.path("broken"))) ?? []
        return names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("_") }.sorted()
    }

    func testTheCorpusIsLargeEnough() {
        XCTAssertGreaterThanOrEqual(fixtures.count, 20)
    }

    func testEveryBrokenConfigReportsExactlyItsExpectedDiagnostics() throws {
        for name in fixtures {
            let relative = "broken/" + name
            let text = try String(contentsOfFile: ConfigFixtures.path(relative), encoding: .utf8)
            let expected = text.split(separator: "\n").filter { $0.hasPrefix("# expect: ") }.map {
                String($0.dropFirst("# expect: ".count))
            }
            XCTAssertFalse(expected.isEmpty, "\(relative) has no '# expect:' lines")
            guard let actual = ConfigFixtures.diagnostics(relative) else {
                XCTFail("\(relative) loaded although it is broken")
                continue
            }
            XCTAssertEqual(actual, expected, "\(relative)")
        }
    }

    func testSomeRepresentativeMessagesVerbatim() {
        // Spelled out here as well, so a reader sees the style without opening fixtures.
        XCTAssertEqual(
            ConfigFixtures.diagnostics("broken/unknown-step.yaml"),
            ["broken/unknown-step.yaml:10:9: unknown step 'valdate' — did you mean 'validate'?"])
        XCTAssertEqual(
            ConfigFixtures.diagnostics("broken/inline-password.yaml"),
            [
                "broken/inline-password.yaml:7:3: inline secrets are not allowed in the configuration — use 'password-env: VARIABLE' or 'password-file: PATH'"
            ])
        XCTAssertEqual(
            ConfigFixtures.diagnostics("broken/route-cycle.yaml"),
            [
                "broken/route-cycle.yaml:8:11: route cycle: pruefung → weiterleitung → pruefung (a route must not reach itself through 'route:' destinations)"
            ])
    }

    func testAllErrorsAreCollectedNotJustTheFirst() {
        XCTAssertEqual(ConfigFixtures.diagnostics("broken/many-errors.yaml")?.count, 5)
    }

    func testAVariableFromTheEnvironmentRepairsTheUndefinedVariableCase() {
        let loader = ConfigFixtures.loader(["XOEV_SCHEMAS": ConfigFixtures.path("support")])
        // The variable now resolves, so the remaining problem is the missing file name.
        XCTAssertEqual(
            ConfigFixtures.diagnostics("broken/undefined-variable.yaml", loader: loader),
            [
                "broken/undefined-variable.yaml:5:17: schema 'xbeteiligung': '${XOEV_SCHEMAS}/xbeteiligung.xsd' does not exist (looked for FIXTURES/support/xbeteiligung.xsd)"
            ])
    }
}
