import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

@testable import FileAdapter

/// Drop folders as records systems use them: complete files are picked up and moved to
/// done/ or failed/ (with the reason); deliveries appear atomically under the message's id.
final class FileAdapterTests: EndToEndTestCase {
    func testFolderInFolderOut() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-files-\(UUID().uuidString.prefix(8))")
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
        try FileManager.default.moveItem(
            at: inbox.appendingPathComponent("antrag-1.xml.part"), to: inbox.appendingPathComponent("antrag-1.xml"))
        try Data(Applications.invalid(uuid: bad)).write(to: inbox.appendingPathComponent("antrag-2.xml"))
        try Data("not for us".utf8).write(to: inbox.appendingPathComponent("notiz.txt"))

        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(10))
        XCTAssertEqual(delivered.map(\.uuid), [good])
        try await waitFor("antrag-2.xml in failed/") {
            FileManager.default.fileExists(atPath: inbox.appendingPathComponent("failed/antrag-2.xml").path)
        }
        let manager = FileManager.default
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("done/antrag-1.xml").path))
        XCTAssertTrue(manager.fileExists(atPath: inbox.appendingPathComponent("failed/antrag-2.xml").path))
        let reason = try String(
            contentsOf: inbox.appendingPathComponent("failed/antrag-2.xml.reason.txt"), encoding: .utf8)
        XCTAssertTrue(reason.contains("step: validate") && reason.contains("planname"), reason)
        XCTAssertTrue(
            manager.fileExists(atPath: inbox.appendingPathComponent("notiz.txt").path), "other files are left alone")
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
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-files-\(UUID().uuidString.prefix(8))")
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
        try Data(Applications.invalid(uuid: UUID().uuidString.lowercased())).write(
            to: inbox.appendingPathComponent("antrag-2.xml"))

        // Twelve polls after the delivery: still exactly one, although the file could not be moved.
        let delivered = try await client.drain(
            stadtbus.outQueue, expected: 1, idle: .seconds(10), settle: .milliseconds(2_500))
        XCTAssertEqual(delivered.map(\.uuid), [good], stadtbus.log)
        XCTAssertTrue(
            manager.fileExists(atPath: inbox.appendingPathComponent("antrag-1.xml").path), "left in place, not lost")
        XCTAssertTrue(
            manager.fileExists(atPath: failed.appendingPathComponent("antrag-2.xml").path), "failed/ was created again")
        XCTAssertTrue(manager.fileExists(atPath: failed.appendingPathComponent("antrag-2.xml.reason.txt").path))
        XCTAssertEqual(stadtbus.log.components(separatedBy: "cannot move processed file").count - 1, 1, stadtbus.log)

        // The obstacle goes: the next poll moves the file into a new done/, without processing it again.
        try manager.removeItem(at: done)
        try await waitFor("antrag-1.xml moved into the new done/") {
            manager.fileExists(atPath: done.appendingPathComponent("antrag-1.xml").path)
        }
        XCTAssertTrue(manager.fileExists(atPath: done.appendingPathComponent("antrag-1.xml").path), stadtbus.log)
        let again = try await client.drain(stadtbus.outQueue, expected: 0, idle: .seconds(1), settle: .seconds(1))
        XCTAssertTrue(again.isEmpty, "not delivered a second time: \(again.map(\.uuid))")
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}

/// Whoever may write to an inbox must not make Stadtbus read other files: a symbolic link is
/// not followed, also when it replaces a file after the folder was listed (issue 12, item 7).
final class FileInboxLinkTests: EndToEndTestCase {
    private var base: URL!

    override func setUp() async throws {
        try await super.setUp()
        base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-files-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(at: base)
    }

    /// The reader the source uses on each listed name: what is a link at that moment is refused.
    func testTheReaderRefusesALinkAFIFOAndADirectory() throws {
        let secret = base.appendingPathComponent("secret.xml")
        try Data("geheim".utf8).write(to: secret)
        XCTAssertEqual(chmod(secret.path, 0o600), 0)
        let link = base.appendingPathComponent("antrag.xml")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: secret)
        guard case .refused(let reason) = InboxFile.read(link.path) else {
            return XCTFail("a link was followed: \(InboxFile.read(link.path))")
        }
        XCTAssertTrue(reason.hasPrefix("a symbolic link"), reason)

        let fifo = base.appendingPathComponent("fifo.xml")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertEqual(InboxFile.read(fifo.path), .refused(reason: "a FIFO, not a regular file; it was not read"))
        let folder = base.appendingPathComponent("folder.xml")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        XCTAssertEqual(
            InboxFile.read(folder.path), .refused(reason: "a directory, not a regular file; it was not read"))

        XCTAssertEqual(InboxFile.read(secret.path), .content(Array("geheim".utf8)))
        guard case .unavailable = InboxFile.read(base.appendingPathComponent("gone.xml").path) else {
            return XCTFail("a missing file is left for a later poll")
        }
    }

    /// The running source: a link in the inbox to an application outside it is not delivered;
    /// it is moved to failed/ (the link, not its target) with the reason.
    func testALinkInTheInboxIsNotDeliveredButSetAside() async throws {
        let inbox = base.appendingPathComponent("eingang")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let stadtbus = try StadtbusProcess(
            routes: """
                  - name: import
                    from: import-ordner
                    to: eakte
                """,
            extraEndpoints: """
                  import-ordner: { type: file, directory: \(inbox.path), poll: 200ms }
                """)
        let client = try await TestClient.connect()
        defer { Task { await client.connection.close() } }
        try await stadtbus.startReady(with: client)

        // Outside the inbox, readable by Stadtbus only: it would be delivered if read.
        let secret = UUID().uuidString.lowercased()
        let outside = base.appendingPathComponent("fremd.xml")
        try Data(Applications.make(uuid: secret)).write(to: outside)
        XCTAssertEqual(chmod(outside.path, 0o600), 0)
        try FileManager.default.createSymbolicLink(
            at: inbox.appendingPathComponent("antrag-1.xml"), withDestinationURL: outside)
        // A regular file after it in name order, so that its delivery shows the link's turn is over.
        let good = UUID().uuidString.lowercased()
        try Data(Applications.make(uuid: good)).write(to: inbox.appendingPathComponent("antrag-2.xml"))

        let delivered = try await client.drain(stadtbus.outQueue, expected: 1, idle: .seconds(30), settle: .seconds(1))
        XCTAssertEqual(delivered.map(\.uuid), [good], stadtbus.log)
        let reasonFile = inbox.appendingPathComponent("failed/antrag-1.xml.reason.txt")
        try await waitFor("the link's reason file in failed/") {
            FileManager.default.fileExists(atPath: reasonFile.path)
        }
        let reason = try String(contentsOf: reasonFile, encoding: .utf8)
        XCTAssertTrue(reason.hasPrefix("refused: a symbolic link"), reason)
        let moved = try FileManager.default.destinationOfSymbolicLink(
            atPath: inbox.appendingPathComponent("failed/antrag-1.xml").path)
        XCTAssertEqual(moved, outside.path, "the link itself was moved")
        XCTAssertTrue(FileManager.default.fileExists(atPath: outside.path), "its target is untouched")
        XCTAssertTrue(stadtbus.log.contains("file refused, not read"), stadtbus.log)
        let status = await stadtbus.terminate()
        XCTAssertEqual(status, 0, stadtbus.log)
    }
}
