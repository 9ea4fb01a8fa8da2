import XCTest

@testable import ExecAdapter

final class FrameCodecTests: XCTestCase {
    private func deliver(seq: UInt64, body: String) -> Frame {
        Frame(
            FrameHeader(
                type: "deliver", seq: seq, messageID: "m-\(seq)", route: "r", endpoint: "e",
                contentType: "application/xml",
                headers: ["x-a": "1\n2"]),
            body: Array(body.utf8))
    }

    func testEncodedFrameIsOneJSONLineThenBodyThenNewline() throws {
        let bytes = deliver(seq: 17, body: "<a>\n</a>").encoded()
        let newline = try XCTUnwrap(bytes.firstIndex(of: 0x0A))
        let line = String(decoding: bytes[..<newline], as: UTF8.self)
        XCTAssertTrue(line.hasPrefix("{") && line.hasSuffix("}"), line)
        XCTAssertTrue(line.contains("\"v\":1"), line)
        XCTAssertTrue(line.contains("\"message-id\":\"m-17\""), line)
        XCTAssertTrue(line.contains("\"length\":8"), line)
        XCTAssertTrue(line.contains("\"x-a\":\"1\\n2\""), "newlines inside the header are escaped: \(line)")
        XCTAssertEqual(Array(bytes[(newline + 1)...]), Array("<a>\n</a>\n".utf8))
    }

    func testRoundTripByteByByte() throws {
        let frames = [deliver(seq: 1, body: "eins"), deliver(seq: 2, body: ""), deliver(seq: 3, body: "drei\n\n")]
        let wire = frames.flatMap { $0.encoded() }
        var decoder = FrameDecoder()
        var decoded: [Frame] = []
        for byte in wire { decoded += try decoder.feed([byte]) }
        XCTAssertEqual(decoded, frames)
        XCTAssertEqual(decoder.pendingByteCount, 0)
    }

    func testSeveralFramesInOneReadAndSplitsAnywhere() throws {
        let frames = (1...5).map { deliver(seq: UInt64($0), body: String(repeating: "x", count: $0 * 7)) }
        let wire = frames.flatMap { $0.encoded() }
        for split in stride(from: 0, to: wire.count, by: 13) {
            var decoder = FrameDecoder()
            let decoded = try decoder.feed(wire[..<split]) + decoder.feed(wire[split...])
            XCTAssertEqual(decoded, frames, "split at \(split)")
        }
    }

    func testResultsOutOfOrderAndUnknownFieldsAreAccepted() throws {
        // Each frame: header line, 0 body bytes, the closing newline.
        let wire =
            #"{"v":1,"type":"result","seq":9,"status":"ok","length":0,"new-field":{"x":[1,2]}}"# + "\n\n"
            + #"{"v":1,"type":"result","seq":3,"status":"fail","code":"xml","reason":"kein XML","length":0}"# + "\n\n"
        var decoder = FrameDecoder()
        let frames = try decoder.feed(Array(wire.utf8))
        XCTAssertEqual(frames.map(\.header.seq), [9, 3])
        guard frames.count == 2 else { return }
        XCTAssertEqual(frames[1].header.status, "fail")
        XCTAssertEqual(frames[1].header.reason, "kein XML")
        XCTAssertEqual(frames[1].header.code, "xml")
    }

    func testMalformedHeaderIsAProtocolError() {
        var decoder = FrameDecoder()
        XCTAssertThrowsError(try decoder.feed(Array("hello world\n".utf8))) { error in
            XCTAssertTrue("\(error)".contains("not a JSON object"), "\(error)")
        }
    }

    func testMissingLengthWrongVersionAndNegativeLengthAreProtocolErrors() {
        for line in [
            #"{"v":1,"type":"result","seq":1}"#, #"{"v":2,"type":"result","seq":1,"length":0}"#,
            #"{"v":1,"type":"result","seq":1,"length":-4}"#, #"[1,2]"#,
        ] {
            var decoder = FrameDecoder()
            XCTAssertThrowsError(try decoder.feed(Array((line + "\n").utf8)), line) { error in
                XCTAssertTrue(error is FrameProtocolError, "\(error)")
            }
        }
    }

    func testWrongLengthIsDetectedAtTheMissingNewline() {
        var decoder = FrameDecoder()
        XCTAssertThrowsError(
            try decoder.feed(Array("{\"v\":1,\"type\":\"result\",\"seq\":1,\"length\":2}\nabc\n".utf8))
        ) {
            XCTAssertTrue("\($0)".contains("newline"), "\($0)")
        }
    }

    func testOverlongHeaderWithoutNewlineIsAProtocolError() {
        var decoder = FrameDecoder(maximumHeaderLength: 100)
        XCTAssertThrowsError(try decoder.feed([UInt8](repeating: 0x41, count: 101)))
    }

    func testIncompleteFrameWaitsForMoreBytes() throws {
        var decoder = FrameDecoder()
        let wire = deliver(seq: 4, body: "vier").encoded()
        XCTAssertEqual(try decoder.feed(wire.dropLast()), [])
        XCTAssertEqual(try decoder.feed(wire.suffix(1)).count, 1)
    }

    func testRestartBackoffParsesAndDoubles() throws {
        let settings = try ExecSettings(
            endpoint: .init(
                name: "e", type: "exec",
                settings: ["command": .path("/bin/true"), "restart-backoff": .string("1s..5s")]))
        XCTAssertEqual(settings.restartDelay(afterFailures: 1), .seconds(1))
        XCTAssertEqual(settings.restartDelay(afterFailures: 2), .seconds(2))
        XCTAssertEqual(settings.restartDelay(afterFailures: 10), .seconds(5))
        XCTAssertThrowsError(
            try ExecSettings(
                endpoint: .init(
                    name: "e", type: "exec",
                    settings: ["command": .path("/bin/true"), "restart-backoff": .string("soon")]))
        ) { XCTAssertTrue("\($0)".contains("restart-backoff"), "\($0)") }
    }

    func testChildEnvironmentIsMinimalPlusConfigured() throws {
        setenv("STADTBUS_TEST_SECRET", "hunter2", 1)
        let settings = try ExecSettings(
            endpoint: .init(
                name: "e", type: "exec",
                settings: ["command": .path("/bin/true"), "environment": .map(["A": .string("b")])]))
        let environment = settings.childEnvironment(endpoint: "e")
        XCTAssertNil(environment["STADTBUS_TEST_SECRET"])
        XCTAssertEqual(environment["A"], "b")
        XCTAssertEqual(environment["STADTBUS_ENDPOINT"], "e")
    }

    func testStderrRateLimiter() {
        let limiter = LogRateLimiter(linesPerWindow: 2, window: .seconds(10))
        let start = ContinuousClock.now
        XCTAssertEqual(limiter.admit(now: start), .log(suppressedBefore: 0))
        XCTAssertEqual(limiter.admit(now: start), .log(suppressedBefore: 0))
        XCTAssertEqual(limiter.admit(now: start), .suppress)
        XCTAssertEqual(limiter.admit(now: start), .suppress)
        XCTAssertEqual(limiter.admit(now: start + .seconds(11)), .log(suppressedBefore: 2))
    }
}
