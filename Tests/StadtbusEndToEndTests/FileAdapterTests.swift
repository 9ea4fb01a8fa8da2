import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// Drop folders as records systems use them: complete files are picked up and moved to
/// done/ or failed/ (with the reason); deliveries appear atomically under the message's id.
final class FileAdapterTests: EndToEndTestCase {
    func testFolderInFolderOut() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-files-\(UUID().uuidString.prefix(8))")
        let inbox = base.appendingPathComponent("eingang")
        let outbox = base.appendingPathComponent("ablage")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: import
                    from: import-ordner
                    steps:
                      - validate: { schema: xbeteiligung }
                    to: [eakte, ablage-ordner]
                """,
            extraEndpoints: """
                  import-ordner: { type: file, directory: \(inbox.path), poll: 200ms }
                  ablage-ordner: { type: file, directory: \(outbox.path) }
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        let good = UUID().uuidString.lowercased()
        let bad = UUID().uuidString.lowercased()
        // A producer writes under a temporary name and renames: only complete files are taken.
        try Data(Applications.make(uuid: good)).write(to: inbox.appendingPathComponent("antrag-1.xml.part"))
        try FileManager.default.moveItem(at: inbox.appendingPathComponent("antrag-1.xml.part"), to: inbox.appendingPathComponent("antrag-1.xml"))
        try Data(Applications.invalid(uuid: bad)).write(to: inbox.appendingPathComponent("antrag-2.xml"))
        try Data("not for us".utf8).write(to: inbox.appendingPathComponent("notiz.txt"))

        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(10))
        XCTAssertEqual(delivered.map(\.uuid), [good])
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: inbox.appendingPathComponent("failed/antrag-2.xml").path) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let manager = FileManager.default
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("done/antrag-1.xml").path))
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("failed/antrag-2.xml").path))
        let reason = try String(contentsOf: inbox.appendingPathComponent("failed/antrag-2.xml.reason.txt"), encoding: .utf8)
        XCTAssertTrue(reason.contains("step: validate") && reason.contains("planname"), reason)
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("notiz.txt").path), "other files are left alone")
        let filed = try manager.contentsOfDirectory(atPath: outbox.path)
        XCTAssertEqual(filed, ["\(good).xml"], "delivered atomically, no temporary file left")
        let copy = try String(contentsOf: outbox.appendingPathComponent("\(good).xml"), encoding: .utf8)
        XCTAssertTrue(copy.contains(good))
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }

    /// An admin cleans up the folder while Stadtbus runs: done/ and failed/ come back when needed,
    /// and a file that cannot be moved (done/ blocked by a plain file) is delivered once — not once
    /// per poll — and moved as soon as that is possible again.
    func testRemovedOrBlockedDoneAndFailedFoldersNeitherLoseNorRepeatAFile() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-files-\(UUID().uuidString.prefix(8))")
        let inbox = base.appendingPathComponent("eingang")
        let manager = FileManager.default
        try manager.createDirectory(at: inbox, withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: base) }
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: import
                    from: import-ordner
                    steps:
                      - validate: { schema: xbeteiligung }
                    to: eakte
                """,
            extraEndpoints: """
                  import-ordner: { type: file, directory: \(inbox.path), poll: 200ms }
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)
        let done = inbox.appendingPathComponent("done")
        let failed = inbox.appendingPathComponent("failed")
        XCTAssertTrue(manager.fileExists(atPath: done.path), "created at start")
        try manager.removeItem(at: done)
        try manager.removeItem(at: failed)
        try Data("in the way".utf8).write(to: done)  // done/ cannot be created: moves there fail

        let good = UUID().uuidString.lowercased()
        try Data(Applications.make(uuid: good)).write(to: inbox.appendingPathComponent("antrag-1.xml"))
        try Data(Applications.invalid(uuid: UUID().uuidString.lowercased())).write(to: inbox.appendingPathComponent("antrag-2.xml"))

        // Twelve polls after the delivery: still exactly one, although the file could not be moved.
        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(10), settle: .milliseconds(2_500))
        XCTAssertEqual(delivered.map(\.uuid), [good], stadtbus.log)
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("antrag-1.xml").path), "left in place, not lost")
        XCTAssertTrue(manager.fileExists(atPath: failed.appendingPathComponent("antrag-2.xml").path), "failed/ was created again")
        XCTAssertTrue(manager.fileExists(atPath: failed.appendingPathComponent("antrag-2.xml.reason.txt").path))
        XCTAssertEqual(stadtbus.log.components(separatedBy: "cannot move processed file").count - 1, 1, stadtbus.log)

        // The obstacle goes: the next poll moves the file into a new done/, without processing it again.
        try manager.removeItem(at: done)
        for _ in 0..<100 where !manager.fileExists(atPath: done.appendingPathComponent("antrag-1.xml").path) {
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertTrue(manager.fileExists(atPath: done.appendingPathComponent("antrag-1.xml").path), stadtbus.log)
        let again = try await client.drain(stadtbus.outQueue, expected: 0, idle: .seconds(1), settle: .seconds(1))
        XCTAssertTrue(again.isEmpty, "not delivered a second time: \(again.map(\.uuid))")
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}
