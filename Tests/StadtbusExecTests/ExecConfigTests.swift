import Foundation
import StadtbusAdapterKit
import StadtbusConfig
import StadtbusCore
import XCTest

@testable import ExecAdapter

/// `stadtbus check` sees exec endpoints through the adapter's settings schema.
final class ExecConfigTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "exec-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(
            atPath: directory + "/ablage.py", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]
        )
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func load(_ endpoint: String) throws -> LoadedConfiguration {
        let yaml = """
            endpoints:
              in: { type: amqp, queue: in }
              ablage:
            \(endpoint)
            routes:
              - { name: r, from: in, to: ablage }
            """
        let path = directory + "/stadtbus.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let registry = AdapterRegistry([ExecAdapter()])
        var types = registry.types
        types.register(
            AdapterType(
                name: "amqp", settings: SettingsSchema([.init("queue", .string)]), canReceive: true, canSend: true))
        return try ConfigurationLoader(environment: [:], adapterTypes: types, steps: registry.steps).load(path: path)
    }

    func testSettingsAreTypedWithDefaults() throws {
        let loaded = try load(
            """
                type: exec
                command: ablage.py
                arguments: [--ordner, eingang]
                environment: {ABLAGE_DIR: /tmp/ablage}
                timeout: 2s
                restart-backoff: 100ms..5s
            """)
        let endpoint = try XCTUnwrap(loaded.table.endpoints["ablage"])
        let settings = try ExecSettings(endpoint: endpoint)
        XCTAssertEqual(settings.command, directory + "/ablage.py", "relative to the config file")
        XCTAssertEqual(settings.arguments, ["--ordner", "eingang"])
        XCTAssertEqual(settings.environment, ["ABLAGE_DIR": "/tmp/ablage"])
        XCTAssertEqual(settings.timeout, .seconds(2))
        XCTAssertEqual(settings.maxInFlight, 8)
        XCTAssertEqual(settings.restartMinimum, .milliseconds(100))
        XCTAssertEqual(settings.restartMaximum, .seconds(5))
    }

    func testWrongSettingsAreReportedWithPositions() {
        XCTAssertThrowsError(
            try load(
                """
                    type: exec
                    command: fehlt.py
                    max-in-flight: 0
                    timeot: 2s
                """)
        ) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("fehlt.py"), text)
            XCTAssertTrue(text.contains("max-in-flight"), text)
            XCTAssertTrue(text.contains("timeot"), text)
        }
    }

    func testTheTransformStepIsRegistered() {
        XCTAssertEqual(ExecAdapter().steps.map(\.name), ["exec-transform"])
    }
}
