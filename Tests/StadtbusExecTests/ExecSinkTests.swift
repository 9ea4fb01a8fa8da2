import Foundation
import Logging
import StadtbusAdapterKit
import StadtbusCore
import StadtbusXML
import XCTest

@testable import ExecAdapter

/// The exec sink against real programs (Programs/*.py): classification, timeouts, crashes,
/// protocol errors, back-pressure and shutdown.
final class ExecSinkTests: XCTestCase {
    private var sink: ExecSink!
    private var report = ""

    override func setUp() {
        sink = ExecSink(logger: Logger(label: "stadtbus.exec.tests"))
        report = ExecFixtures.reportFile()
    }

    override func tearDown() async throws {
        await sink.shutdown()
        try? FileManager.default.removeItem(atPath: report)
    }

    private func assertFails(
        _ body: String, to endpoint: Endpoint, kind: FailureKind, code: String, file: StaticString = #filePath,
        line: UInt = #line
    ) async {
        do {
            try await sink.deliver(ExecFixtures.outgoing(body), to: endpoint)
            XCTFail("'\(body)' was delivered", file: file, line: line)
        } catch let error as DeliveryError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    private func pids() -> [Int] { ExecFixtures.events(report, "started").compactMap { $0["pid"] as? Int } }

    func testOkRetryFailAreClassified() async throws {
        setenv("STADTBUS_TEST_SECRET", "hunter2", 1)
        let endpoint = ExecFixtures.endpoint("classify.py", report: report)
        try await sink.deliver(ExecFixtures.outgoing("<ok>OK</ok>", id: "uuid-1"), to: endpoint)
        await assertFails("RETRY", to: endpoint, kind: .transient, code: "busy")
        do {
            try await sink.deliver(ExecFixtures.outgoing("FAIL"), to: endpoint)
            XCTFail("delivered")
        } catch let error as DeliveryError {
            XCTAssertEqual(error.kind, .permanent)
            XCTAssertTrue(error.message.contains("not an XML document"), error.message)
        }
        let started = try XCTUnwrap(ExecFixtures.events(report, "started").first)
        XCTAssertEqual(started["secret"] as? String, "absent", "Stadtbus's environment must not reach the program")
        XCTAssertEqual(started["endpoint"] as? String, "prog")
        let first = try XCTUnwrap(ExecFixtures.events(report, "deliver").first)
        XCTAssertEqual(first["message-id"] as? String, "uuid-1")
        XCTAssertEqual(first["route"] as? String, "r")
        XCTAssertEqual(pids().count, 1, "one program serves all messages")
    }

    func testTimeoutIsTransientAndRestartsTheProgram() async throws {
        // Short enough to make HANG time out soon, long enough for the restarted program to
        // answer OK on a loaded machine.
        let endpoint = ExecFixtures.endpoint("classify.py", report: report, timeout: .seconds(3))
        await assertFails("HANG", to: endpoint, kind: .transient, code: "timeout")
        try await sink.deliver(ExecFixtures.outgoing("OK"), to: endpoint)
        let started = pids()
        XCTAssertEqual(started.count, 2, "restarted after the timeout")
        await ExecFixtures.waitUntil("the hung program is gone") { !processExists(started[0]) }
    }

    func testCrashMidMessageIsTransientAndTheNextMessageWorks() async throws {
        let endpoint = ExecFixtures.endpoint("classify.py", report: report)
        try await sink.deliver(ExecFixtures.outgoing("OK"), to: endpoint)
        await assertFails("CRASH", to: endpoint, kind: .transient, code: "exec-crashed")
        try await sink.deliver(ExecFixtures.outgoing("OK again"), to: endpoint)
        let started = pids()
        XCTAssertEqual(started.count, 2)
        XCTAssertFalse(processExists(started[0]), "the crashed program was reaped")
    }

    func testMalformedFrameIsTransientAndRestarts() async throws {
        let endpoint = ExecFixtures.endpoint("classify.py", report: report)
        await assertFails("GARBAGE", to: endpoint, kind: .transient, code: "exec-protocol")
        try await sink.deliver(ExecFixtures.outgoing("OK"), to: endpoint)
        XCTAssertEqual(pids().count, 2)
    }

    func testBackPressureKeepsAtMostMaxInFlightOutstanding() async throws {
        let endpoint = ExecFixtures.endpoint("slow.py", report: report, maxInFlight: 2)
        let sink: ExecSink = try XCTUnwrap(self.sink)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<6 {
                group.addTask { try await sink.deliver(ExecFixtures.outgoing("slow \(index)"), to: endpoint) }
            }
            try await group.waitForAll()
        }
        let delivers = ExecFixtures.events(report, "deliver")
        XCTAssertEqual(delivers.count, 6)
        let most = delivers.compactMap { $0["outstanding"] as? Int }.max() ?? 0
        XCTAssertLessThanOrEqual(most, 2, "the program saw \(most) frames outstanding")
    }

    func testShutdownClosesInputAndReapsTheProgram() async throws {
        let endpoint = ExecFixtures.endpoint("classify.py", report: report)
        try await sink.deliver(ExecFixtures.outgoing("OK"), to: endpoint)
        let pid = try XCTUnwrap(pids().first)
        await sink.shutdown()
        XCTAssertEqual(ExecFixtures.events(report, "eof").count, 1, "the program saw the end of its input")
        XCTAssertFalse(processExists(pid))
    }

    func testPrepareRejectsANonExecutableCommand() async throws {
        let path = NSTemporaryDirectory() + "not-executable-\(UUID().uuidString).sh"
        _ = FileManager.default.createFile(
            atPath: path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let engine = RoutingEngine(
            table: try RoutingTable(routes: [], endpoints: [], headerExtractor: try HeaderExtractor()), sink: sink,
            idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
        let endpoint = Endpoint(name: "ablage", type: "exec", settings: ["command": .path(path)])
        do {
            try await ExecAdapter().prepare([endpoint], context: ExecFixtures.context(engine: engine))
            XCTFail("prepare accepted a file without the executable bit")
        } catch let error as ExecError {
            XCTAssertTrue("\(error)".contains("not executable"), "\(error)")
            XCTAssertTrue("\(error)".contains("ablage"), "\(error)")
        }
    }
}
