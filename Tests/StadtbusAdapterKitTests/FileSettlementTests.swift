import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import StadtbusOperations
import XCTest

@testable import FileAdapter

/// The `file` source's settlement against ``SourcePump`` with a real engine and a real folder:
/// a file leaves the folder only once its outcome is on disk, a dead letter's reason is written
/// before the file goes to `failed/`, and a file whose dead letter cannot be written stays.
final class FileSettlementTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-file-settlement-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func makeInbox() -> FileInbox {
        FileInbox(
            directory: folder, pattern: "*.xml", settle: 0, metrics: StadtbusMetrics(),
            logger: Logger(label: "test.file"))
    }

    /// Drops `antrag.xml` into the folder and pumps it as the file source does.
    private func pumpFile(
        _ rig: PumpRig, inbox: FileInbox, name: String = "antrag.xml"
    ) async throws -> (URL, FileSettlement) {
        let file = folder.appendingPathComponent(name)
        try Data(PumpRig.body()).write(to: file)
        let settlement = FileSettlement(inbox: inbox, file: file)
        let message = Message(
            body: PumpRig.body(), headers: ["x-stadtbus-file": name], properties: MessageProperties(),
            source: "in", attempt: inbox.attempt(of: name))
        await rig.pump.pump(message, settlement: settlement)
        return (file, settlement)
    }

    private func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(path).path)
    }

    func testADeliveredFileIsMovedToDone() async throws {
        let rig = try PumpRig()
        let inbox = makeInbox()
        let (_, settlement) = try await pumpFile(rig, inbox: inbox)
        XCTAssertEqual(rig.sink.delivered, ["a"])
        XCTAssertTrue(exists("done/antrag.xml"))
        XCTAssertFalse(exists("antrag.xml"))
        XCTAssertFalse(exists("failed/antrag.xml.reason.txt"))
        XCTAssertEqual(settlement.current, .done)
        XCTAssertEqual(rig.inFlight.value, 0)
    }

    func testAPermanentFailureWritesTheReasonAndMovesTheFileToFailedNotDone() async throws {
        let rig = try PumpRig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        let inbox = makeInbox()
        let (_, settlement) = try await pumpFile(rig, inbox: inbox)
        // Completing first would have put the file into done/ and left the dead letter nothing to move.
        XCTAssertFalse(exists("done/antrag.xml"), "a dead letter is never completed into done/")
        XCTAssertTrue(exists("failed/antrag.xml"))
        XCTAssertFalse(exists("antrag.xml"))
        let reason = try String(
            contentsOf: folder.appendingPathComponent("failed/antrag.xml.reason.txt"), encoding: .utf8)
        for line in ["route: r", "step: deliver", "attempt: 1"] {
            XCTAssertTrue(reason.contains(line), "\(line) missing in: \(reason)")
        }
        XCTAssertTrue(reason.contains("http-400"), reason)
        XCTAssertEqual(settlement.current, .failed)
        XCTAssertFalse(inbox.isUnmoved("antrag.xml"))
    }

    func testATransientFailureKeepsTheFileForItsNextAttempt() async throws {
        let rig = try PumpRig(policy: PumpRig.retrying)
        rig.sink.failAlways("a", with: .transient("http-503", "Service Unavailable"))
        let inbox = makeInbox()
        let before = Date()
        let (file, settlement) = try await pumpFile(rig, inbox: inbox)
        XCTAssertTrue(exists("antrag.xml"), "kept in the folder")
        XCTAssertFalse(exists("done/antrag.xml"), "a retry is not completed into done/")
        XCTAssertFalse(exists("failed/antrag.xml"))
        XCTAssertEqual(settlement.current, .retrying)
        let retry = try XCTUnwrap(inbox.retry(of: "antrag.xml"))
        XCTAssertEqual(retry.attempt, 2)
        XCTAssertGreaterThanOrEqual(retry.due.timeIntervalSince(before), 2, "due after the route's backoff")
        XCTAssertFalse(inbox.readyFiles().contains(file), "not read again before it is due")
        XCTAssertEqual(inbox.attempt(of: "antrag.xml"), 2, "read again as the next attempt")
    }

    func testADeadLetterWhoseReasonCannotBeWrittenLeavesTheFileInPlace() async throws {
        let rig = try PumpRig()
        rig.sink.failAlways("a", with: .permanent("http-400", "Bad Request"))
        // failed/ is a plain file: neither the folder nor the reason can be created.
        try Data("in the way".utf8).write(to: folder.appendingPathComponent("failed"))
        let inbox = makeInbox()
        let (file, settlement) = try await pumpFile(rig, inbox: inbox)
        XCTAssertTrue(exists("antrag.xml"), "given back: still in the folder")
        XCTAssertFalse(exists("done/antrag.xml"), "not completed without its dead letter")
        XCTAssertEqual(settlement.current, .inbox)
        XCTAssertNil(inbox.retry(of: "antrag.xml"))
        XCTAssertFalse(inbox.isUnmoved("antrag.xml"))
        XCTAssertTrue(inbox.readyFiles().contains(file), "read again on the next poll")

        // The obstacle goes: the next read dead-letters it (it was not recorded as dead-lettered).
        try FileManager.default.removeItem(at: folder.appendingPathComponent("failed"))
        let again = FileSettlement(inbox: inbox, file: file)
        await rig.pump.pump(
            Message(body: PumpRig.body(), headers: [:], properties: MessageProperties(), source: "in", attempt: 1),
            settlement: again)
        XCTAssertTrue(exists("failed/antrag.xml"))
        XCTAssertTrue(exists("failed/antrag.xml.reason.txt"))
        XCTAssertFalse(exists("done/antrag.xml"))
    }

    func testAFileThatCannotBeMovedToDoneIsRememberedAndMovedLater() async throws {
        let rig = try PumpRig()
        try Data("in the way".utf8).write(to: folder.appendingPathComponent("done"))
        let inbox = makeInbox()
        let (file, settlement) = try await pumpFile(rig, inbox: inbox)
        XCTAssertEqual(rig.sink.delivered, ["a"])
        XCTAssertEqual(settlement.current, .done, "the outcome is decided although the move failed")
        XCTAssertTrue(exists("antrag.xml"), "left in place, not lost")
        XCTAssertTrue(inbox.isUnmoved("antrag.xml"))
        XCTAssertFalse(inbox.readyFiles().contains(file), "not processed again")

        try FileManager.default.removeItem(at: folder.appendingPathComponent("done"))
        inbox.moveUnmoved()
        XCTAssertTrue(exists("done/antrag.xml"))
        XCTAssertFalse(inbox.isUnmoved("antrag.xml"))
        XCTAssertEqual(rig.sink.delivered, ["a"], "delivered once")
    }
}
