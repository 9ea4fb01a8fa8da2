import Foundation
import StadtbusConfig
import XCTest

/// Issue 13 item 2: `max-in-flight` sets how many messages a source keeps in progress; the old
/// `workers` still loads, with a warning that says what to write instead.
final class InFlightWindowConfigTests: XCTestCase {
    private func load(_ yaml: String) throws -> (LoadedConfiguration, path: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-in-flight-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return (try ConfigFixtures.loader().load(path: file.path), file.path)
    }

    private let routes = """
        endpoints:
          in: { type: amqp, queue: in }
          out: { type: amqp, queue: out }
        routes:
          - { name: r, from: in, to: out }

        """

    func testDefaultWindowIsInTheHundreds() throws {
        let (loaded, _) = try load(routes)
        XCTAssertEqual(loaded.settings.maxInFlight, 256)
        XCTAssertEqual(loaded.settings.warnings, [])
    }

    func testMaxInFlightIsRead() throws {
        let (loaded, _) = try load(routes + "max-in-flight: 1000\n")
        XCTAssertEqual(loaded.settings.maxInFlight, 1000)
        XCTAssertEqual(loaded.settings.warnings, [])
    }

    func testMaxInFlightOutOfRangeIsAnError() throws {
        XCTAssertThrowsError(try load(routes + "max-in-flight: 0\n")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasSuffix(":6:16: max-in-flight must be in 1...10000, found 0"), text)
        }
    }

    func testWorkersStillLoadsAsTheWindowWithADeprecationWarning() throws {
        let (loaded, path) = try load(routes + "workers: 32\n")
        XCTAssertEqual(loaded.settings.maxInFlight, 32, "an old configuration keeps its window")
        XCTAssertEqual(loaded.settings.warnings.count, 1)
        let warning = try XCTUnwrap(loaded.settings.warnings.first)
        XCTAssertEqual(warning.position.file, path)
        XCTAssertEqual(warning.position.line, 6, "points at the 'workers' key")
        XCTAssertEqual(warning.position.column, 1)
        XCTAssertEqual(
            warning.message,
            "'workers' is deprecated: use 'max-in-flight' (how many messages each source keeps in progress, default 256); "
                + "CPU concurrency follows the number of cores, and a message waiting for a confirm or a commit holds no "
                + "CPU. 'workers: 32' is read as 'max-in-flight: 32' for now")
    }

    func testWorkersNextToMaxInFlightIsIgnoredWithAWarning() throws {
        let (loaded, _) = try load(routes + "max-in-flight: 500\nworkers: 4\n")
        XCTAssertEqual(loaded.settings.maxInFlight, 500)
        XCTAssertEqual(loaded.settings.warnings.map(\.message).count, 1)
        let message = try XCTUnwrap(loaded.settings.warnings.first?.message)
        XCTAssertTrue(
            message.hasPrefix("'workers' is deprecated and ignored here because 'max-in-flight' is set: remove it"),
            message)
    }
}
